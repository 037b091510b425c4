# shellcheck shell=bash
# Sourced by scripts that run commands inside a cached debootstrap root
# (scripts/harness/kernel-fetch, scripts/harness/build-module, test jobs that build test
# modules). Nothing run here can load
# a module on this host: every command runs in a private mount namespace
# (its mounts vanish with it and never propagate to the host) without
# CAP_SYS_MODULE in its bounding set, as in scripts/harness/guest-rootfs.

# kaiser_in_ns CMD...: run CMD in a private mount namespace without
# CAP_SYS_MODULE.
kaiser_in_ns() {
	unshare --mount --propagation private \
		setpriv --bounding-set -sys_module -- "$@"
}

# kaiser_chroot ROOT BIND CMD...: run CMD inside the tree ROOT with /proc
# (objtool of 7.x kernels reads it) and /dev mounted for the duration of
# CMD only. BIND, unless empty, is a host directory bind-mounted at the
# same path inside ROOT, so that paths under it mean the same file on both
# sides. The environment is a clean one: nothing of the caller's (MAKEFLAGS,
# KAISER_*) leaks into the tree.
kaiser_chroot() {
	local root=$1 bind=$2
	shift 2
	# shellcheck disable=SC2016 # expanded by the inner shell
	kaiser_in_ns bash -c '
		set -e
		r=$1 b=$2
		shift 2
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		if [ -n "$b" ]; then
			mkdir -p "$r$b"
			mount --bind "$b" "$r$b"
		fi
		exec env -i HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			chroot "$r" "$@"
	' kaiser_chroot "$root" "$bind" "$@"
}

# kaiser_buildroot CACHE REL: the debootstrap root that holds REL's headers
# (kernel-fetch's buildroot file), or nothing where they are on the host.
kaiser_buildroot() {
	local root=host
	[ ! -f "$1/kernels/$2/buildroot" ] || root=$(cat "$1/kernels/$2/buildroot")
	[ "$root" = host ] || echo "$root"
}

# kaiser_kbuild CACHE REL BIND MAKEARGS...: make -C REL's headers
# MAKEARGS... where scripts/harness/kernel-fetch installed them: inside REL's build
# root with BIND (a host directory holding every path MAKEARGS names)
# bind-mounted at its own path, or on the host for a cache entry that says so.
kaiser_kbuild() {
	local root
	root=$(kaiser_buildroot "$1" "$2")
	set -- "$3" make -C "/lib/modules/$2/build" "${@:4}"
	if [ -n "$root" ]; then
		kaiser_chroot "$root" "$@"
	else
		"${@:2}"
	fi
}
