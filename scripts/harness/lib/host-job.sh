# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # variables shared with the script that sources it
# The preamble of the shell host jobs (test/host/*), sourced after
# `set -euo pipefail` as
#   . "$(dirname "$(readlink -f "$0")")/../../scripts/harness/lib/host-job.sh" NAME [SERIES]
# run-tests sets the KAISER_* variables; run by hand, the defaults serve.
# It sets
#   repo     the checkout (KAISER_REPO, or the one holding this file)
#   harness  $repo/scripts/harness
#   cache    KAISER_CACHE (default /var/cache/kaiser)
#   out      KAISER_OUT, or a new /tmp/NAME.XXXXXX; created
#   rel      KAISER_KERNEL, or Debian's newest kernel of SERIES (default
#            6.12), fetched by kernel-fetch
# and brings the KTEST helpers of test/guest/lib.sh (begin, pass, fail,
# last_line, ...) and setup_fail.

repo=${KAISER_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
harness=$repo/scripts/harness
cache=${KAISER_CACHE:-/var/cache/kaiser}
export KAISER_CACHE=$cache
# shellcheck source=test/guest/lib.sh
. "$repo/test/guest/lib.sh"
out=${KAISER_OUT:-$(mktemp -d "/tmp/$1.XXXXXX")}
mkdir -p "$out"
rel=${KAISER_KERNEL:-$("$harness/kernel-fetch" "${2:-6.12}")}

# setup_fail MSG: the job could not set itself up: one FAIL of the case
# $setup_case (the job sets it; default setup), and exit 1.
setup_case=setup
setup_fail() {
	begin "$setup_case"
	fail "$setup_case" "$*"
	exit 1
}

# host_progs: test/progs built into $out/progs (or setup_fail).
host_progs() {
	"$harness/build-guest-progs" "$out/progs" >"$out/build-guest-progs.log" 2>&1 ||
		setup_fail "build-guest-progs failed: $(last_line "$out/build-guest-progs.log")"
}

# host_initrd ARGS...: mkinitramfs --out $out/initrd.gz ARGS, its path in
# $initrd (or setup_fail).
host_initrd() {
	initrd=$("$harness/mkinitramfs" --out "$out/initrd.gz" "$@" 2>"$out/mkinitramfs.err") ||
		setup_fail "mkinitramfs failed: $(last_line "$out/mkinitramfs.err")"
}

# host_variant VARIANT MAKEVARS...: build-module --variant VARIANT of $rel
# with MAKEVARS into $out/VARIANT (created), its path in $ko (or
# setup_fail).
host_variant() {
	local variant=$1
	shift
	mkdir -p "$out/$variant"
	ko=$("$harness/build-module" --variant "$variant" "$rel" "$@" 2>"$out/$variant/build.err") ||
		setup_fail "building the $variant variant failed: $(last_line "$out/$variant/build.err")"
}

# host_boot LABEL VM-RUN-ARGS...: one QEMU guest of $rel with $initrd, its
# serial log in $log (= $out/guest.log), its cases as ktest-parse judges
# them (labelled LABEL) in $out/parsed.txt. A guest that failed shows
# there: this never fails itself.
host_boot() {
	local label=$1
	shift
	log=$out/guest.log
	"$harness/vm-run" --kernel "$rel" --initrd "$initrd" "$@" --log "$log" \
		>/dev/null 2>"$out/vm-run.err" || true
	"$harness/ktest-parse" "$log" --label "$label" --ktest >"$out/parsed.txt" || true
}
