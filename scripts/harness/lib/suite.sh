# shellcheck shell=bash
# Debian suites read without touching the host's apt sources, for
# scripts/harness/kernel-fetch (kernel images, headers and the debootstrap
# roots they are built in) and scripts/harness/build-selftests (the
# linux-source packages the host's own suites lack).
#
# The sourcing script sets cache (its $KAISER_CACHE) and defines die MSG
# (exits) and note MSG (progress) before calling anything here.
#
#   use_suite SUITE        point apt_opts at SUITE's private apt
#                          configuration (refreshed when stale)
#   has_pkg PKG            does the suite in use have PKG?
#   pkg_versions PKG       every version of PKG in the suite in use
#   apt_download DIR PKG.. download PKG[=VERSION]... into DIR (never installed)
#   root_of SUITE          the debootstrap root of SUITE
#   ensure_root NAME       that root, complete and of the current recipe
#   root_apt ROOT T PKG... install PKG... inside ROOT
#
# Cache: $cache/
#   apt/<suite>/         sources.list lists/ cache/ status .updated
#   roots/<root>/        debootstrap root (trixie also serves trixie-backports,
#                        sid experimental)
#   roots/<root>.stamp   recipe version of a complete root

# shellcheck disable=SC2154 # cache is the sourcing script's (see above)

# why LOG: the first error line of an apt or debootstrap log (failures are
# one line on stderr; the log has the rest).
why() {
	{ grep -m1 '^E:' "$1" || grep -m1 '^W:' "$1" || tail -n 1 "$1"; } 2>/dev/null | tr -d '\r'
}

# shellcheck source=scripts/harness/lib/chroot.sh
. "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"

mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security
host_keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# Private apt lists older than this many minutes are refreshed.
apt_max_age=360
# Recipe version of the roots: bump it with any change to make_root or
# root_pkgs to rebuild every root.
root_rev=2
# The decompressors of every kernel image format Debian uses (kaiser's
# build reads the image: scripts/ship/extract-vmlinux; cloud images are lz4).
root_pkgs=(build-essential gcc make bc kmod libelf-dev flex bison python3
	   gzip xz-utils zstd lz4 bzip2)

# apt options of the suite being read: empty for the host's apt.
apt_opts=()

# suite_sources SUITE: the "URI DIST" lines of the suite's private apt
# configuration; fails for a suite this script does not know.
suite_sources() {
	case "$1" in
	bookworm)
		echo "$mirror bookworm"
		echo "$mirror bookworm-updates"
		echo "$security bookworm-security"
		echo "$mirror bookworm-backports" ;;
	trixie)
		echo "$mirror trixie"
		echo "$mirror trixie-updates"
		echo "$security trixie-security" ;;
	trixie-backports)
		suite_sources trixie
		echo "$mirror trixie-backports" ;;
	sid)
		echo "$mirror sid" ;;
	experimental)
		suite_sources sid
		echo "$mirror experimental" ;;
	*)
		return 1 ;;
	esac
}

# root_of SUITE: the debootstrap root that holds the suite's headers.
root_of() {
	case "$1" in
	trixie|trixie-backports) echo trixie ;;
	sid|experimental) echo sid ;;
	*) echo "$1" ;;
	esac
}

root_keyring() {
	local k
	for k in "$1"/usr/share/keyrings/debian-archive-keyring.{gpg,pgp}; do
		[ -f "$k" ] && { echo "$k"; return; }
	done
	return 1
}

# keyrings SUITE: keyrings to try for the suite's Release files, newest
# first: the suite's own root's, other complete roots', the host's.
keyrings() {
	local r k
	r=$cache/roots/$(root_of "$1")
	if [ -f "$r.stamp" ]; then root_keyring "$r" || true; fi
	for r in "$cache"/roots/*.stamp; do
		[ -f "$r" ] || continue
		[ "${r%.stamp}" = "$cache/roots/$(root_of "$1")" ] && continue
		k=$(root_keyring "${r%.stamp}") && echo "$k"
	done
	echo "$host_keyring"
}

# list_keyring SOURCES_LIST: the keyring its lines are signed-by.
list_keyring() {
	sed -n '1s/^deb \[signed-by=\([^]]*\)\].*/\1/p' "$1"
}

# use_suite SUITE: point apt_opts at the suite's private apt configuration,
# refreshing its lists if they are older than apt_max_age, with the first
# keyring that verifies every Release file. Signature checks stay on.
use_suite() {
	local suite=$1 adir k lines log
	adir=$cache/apt/$suite
	lines=$(suite_sources "$suite") || die "unknown suite '$suite' (bookworm, trixie, trixie-backports, sid, experimental)"
	mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial"
	touch "$adir/status"
	apt_opts=(-o "Dir::Etc::SourceList=$adir/sources.list"
		  -o Dir::Etc::SourceParts=/dev/null
		  -o Dir::Etc::Preferences=/dev/null
		  -o Dir::Etc::PreferencesParts=/dev/null
		  -o "Dir::State::Lists=$adir/lists"
		  -o "Dir::State::status=$adir/status"
		  -o "Dir::Cache=$adir/cache"
		  -o Dir::Cache::pkgcache=pkgcache.bin
		  -o Dir::Cache::srcpkgcache=srcpkgcache.bin
		  -o APT::Sandbox::User=root)
	exec {lockfd}>"$adir/.lock"
	flock "$lockfd"
	# Fresh lists of the sources above, verified with a keyring that still
	# exists (make_root hands it to debootstrap).
	if [ -f "$adir/sources.list" ] && [ -f "$(list_keyring "$adir/sources.list")" ] &&
	   [ "$(sed 's/^deb \[[^]]*\] //; s/ main$//' "$adir/sources.list")" = "$lines" ] &&
	   [ -n "$(find "$adir/.updated" -mmin -"$apt_max_age" 2>/dev/null)" ]; then
		exec {lockfd}>&-
		return 0
	fi
	log=$adir/update.log
	note "apt-get update of $suite (private lists in $adir)"
	for k in $(keyrings "$suite"); do
		sed "s|^|deb [signed-by=$k] |; s|\$| main|" <<<"$lines" >"$adir/sources.list"
		if apt-get "${apt_opts[@]}" --error-on=any update >"$log" 2>&1; then
			touch "$adir/.updated"
			exec {lockfd}>&-
			return 0
		fi
	done
	exec {lockfd}>&-
	# A suite newer than the host's keyring: its Release files are signed
	# by keys that only a newer debian-archive-keyring has. trixie's (which
	# the host's keyring verifies) is the next newest: bootstrap the trixie
	# root and try again with its keyring.
	if grep -qE 'NO_PUBKEY|not signed|GPG error|EXPKEYSIG' "$log" &&
	   [ "$(root_of "$suite")" != trixie ] && [ ! -f "$cache/roots/trixie.stamp" ]; then
		note "the host's keyring cannot verify $suite: bootstrapping the trixie root for its keyring"
		(ensure_root trixie)
		use_suite "$suite"
		return
	fi
	die "apt-get update of $suite failed: $(why "$log") (log: $log)"
}

has_pkg() {
	apt-cache "${apt_opts[@]}" show "$1" >/dev/null 2>&1
}

# pkg_versions PKG: every version of PKG in the apt configuration in use,
# one a line (experimental's too, which apt's pin would not make the
# candidate).
pkg_versions() {
	apt-cache "${apt_opts[@]}" madison "$1" 2>/dev/null |
		awk -F'|' -v p="$1" '{ gsub(/ /, ""); if ($1 == p) print $2 }' | sort -u
}

# apt_download DIR PKG[=VERSION]...: download the packages (never install
# them) from the apt configuration in use into DIR.
apt_download() {
	local dir=$1
	shift
	(cd "$dir" && apt-get "${apt_opts[@]}" download -q "$@" >/dev/null)
}

# make_root NAME: debootstrap a minbase root of suite NAME with what
# building a module needs, and its own sources (trixie's with
# trixie-backports, sid's with experimental).
make_root() {
	local name=$1 root=$cache/roots/$1 log=$cache/roots/$1.log k t0=$SECONDS
	command -v debootstrap >/dev/null || die "debootstrap not installed (run scripts/harness/setup-host)"
	use_suite "$name"
	k=$(list_keyring "$cache/apt/$name/sources.list")
	rm -rf "$root" "$root.tmp" "$root.stamp"
	note "debootstrap $name root into $root (first time, ~2-5 min; log: $log)"
	kaiser_in_ns debootstrap --variant=minbase --keyring="$k" \
		"$name" "$root.tmp" "$mirror" >"$log" 2>&1 ||
		die "debootstrap $name into $root.tmp failed: $(why "$log") (log: $log)"
	mv "$root.tmp" "$root"
	k=$(root_keyring "$root") || die "debootstrap $name root has no debian-archive-keyring"
	k=${k#"$root"}
	case "$name" in
	trixie) suite_sources trixie-backports ;;
	sid) suite_sources experimental ;;
	*) suite_sources "$name" ;;
	esac | sed "s|^|deb [signed-by=$k] |; s|\$| main|" >"$root/etc/apt/sources.list"
	# No service starts in the root.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	note "installing ${root_pkgs[*]} in the $name root"
	log=$cache/roots/$name.apt.log
	root_apt "$root" "" "${root_pkgs[@]}" >"$log" 2>&1 ||
		die "apt-get install ${root_pkgs[*]} in $root failed: $(why "$log") (log: $log)"
	echo "$root_rev" >"$root.stamp"
	note "$name root ready in $((SECONDS - t0))s ($(du -sh "$root" | cut -f1))"
}

# host_apt_conf ROOT: the tree's apt reaches the archive as the host's
# does: same proxy, and where the host's apt accepts Release files past
# their Valid-Until (a frozen mirror), so does the tree's. Signatures are
# still checked.
host_apt_conf() {
	local cvu="" hp="" hsp=""
	eval "$(apt-config shell cvu Acquire::Check-Valid-Until hp Acquire::http::Proxy \
		hsp Acquire::https::Proxy)"
	{
		echo "// Copied from the host's apt configuration by kaiser's harness."
		[ -z "$cvu" ] || echo "Acquire::Check-Valid-Until \"$cvu\";"
		[ -z "$hp" ] || echo "Acquire::http::Proxy \"$hp\";"
		[ -z "$hsp" ] || echo "Acquire::https::Proxy \"$hsp\";"
	} >"$1/etc/apt/apt.conf.d/99kaiser-host"
}

# root_apt ROOT TARGET PKG...: apt-get update and install PKG... inside
# ROOT with ROOT's own apt (TARGET: a suite to take them from, or "").
# Headers of 6.x depend on their image, whose postinst would build an
# initramfs nobody boots (twice, with the trigger): update-initramfs is
# diverted to a no-op in the root.
root_apt() {
	local root=$1 target=$2
	shift 2
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	host_apt_conf "$root"
	# shellcheck disable=SC2016 # expanded inside the root
	kaiser_chroot "$root" "" sh -ec '
		t=$1; shift
		u=/usr/sbin/update-initramfs
		if ! dpkg-divert --list "$u" | grep -q .; then
			dpkg-divert --local --rename --divert "$u.real" --add "$u"
			printf "#!/bin/sh\nexit 0\n" >"$u"
			chmod 755 "$u"
		fi
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends ${t:+-t "$t"} "$@"
		apt-get clean
	' root_apt "$target" "$@"
}

# ensure_root NAME: the root NAME, complete and of the current recipe.
# Holds the root's lock (until this script exits) so that two fetches
# never run apt in the same root at once.
ensure_root() {
	local name=$1
	mkdir -p "$cache/roots"
	exec {rootfd}>"$cache/roots/$name.lock"
	flock "$rootfd"
	if [ ! -f "$cache/roots/$name.stamp" ] ||
	   [ "$(cat "$cache/roots/$name.stamp")" != "$root_rev" ]; then
		make_root "$name"
	fi
	# A package added to root_pkgs after the root was made.
	local p missing=()
	for p in "${root_pkgs[@]}"; do
		[ -f "$cache/roots/$name/var/lib/dpkg/info/$p.list" ] ||
		[ -f "$cache/roots/$name/var/lib/dpkg/info/$p:amd64.list" ] ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		note "installing ${missing[*]} in the $name root"
		root_apt "$cache/roots/$name" "" "${missing[@]}" >"$cache/roots/$name.apt.log" 2>&1 ||
			die "apt-get install ${missing[*]} in the $name root failed: $(why "$cache/roots/$name.apt.log")"
	fi
}
