# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # variables shared with the script that sources it
# The command line that vm-run (QEMU) and bochs-run (Bochs) share, and its
# checks. A runner sets its defaults (kernel initrd log suite append cpu
# smp mem timeout verbose), defines die and runner_option, and calls
#   guest_args "$@"     every option; one the runner alone has goes to
#                       runner_option WORDS..., which sets `taken` to the
#                       number of words it used (0: not its option)
#   guest_check_args    what every runner needs: a kernel image (then in
#                       $kernel), an initrd, sane numbers
# runner_value OPTION NWORDS: die unless OPTION has a value after it.

runner_value() { [ "$2" -ge 2 ] || die "$1 needs a value"; }

guest_args() {
	local taken
	while [ $# -gt 0 ]; do
		case "$1" in
		--kernel | --initrd | --log | --suite | --append | --cpu | --smp | --mem | --timeout)
			runner_value "$1" $#
			printf -v "${1#--}" '%s' "$2"
			shift 2
			;;
		--verbose)
			verbose=1
			shift
			;;
		*)
			taken=0
			runner_option "$@"
			[ "$taken" -gt 0 ] || die "unknown option '$1' (see the header of $0)"
			shift "$taken"
			;;
		esac
	done
}

guest_check_args() {
	[ -n "$kernel" ] || die "--kernel REL is required"
	if [[ "$kernel" == */* ]]; then
		[ -f "$kernel" ] || die "no kernel image $kernel"
	else
		[ -f "$cache/kernels/$kernel/vmlinuz" ] ||
			die "no kernel image $cache/kernels/$kernel/vmlinuz (run scripts/harness/kernel-fetch $kernel)"
		kernel=$cache/kernels/$kernel/vmlinuz
	fi
	[ -n "$initrd" ] || die "--initrd FILE is required"
	[ -f "$initrd" ] || die "no initrd $initrd"
	[[ "$smp" =~ ^[1-9][0-9]*$ ]] || die "--smp '$smp' is not a CPU count"
	[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || die "--timeout '$timeout' is not a number of seconds"
	[[ "$suite" =~ ^[A-Za-z0-9._/-]*$ ]] || die "--suite '$suite' is not a suite name"
}
