# Helpers for guest suites (busybox sh). Copied to /tests/lib.sh; a suite
# starts with `. /tests/lib.sh`.
#
# Every result is one line on the console, read by scripts/harness/ktest-parse:
#   KTEST BEGIN <case>
#   KTEST PASS <case> [detail] | KTEST FAIL <case> <reason> | KTEST SKIP <case> <reason>
# Case names: short words of [A-Za-z0-9._/-]. A case that BEGINs and never
# reports (guest hung, oops killed the shell) counts as FAIL on the host,
# and so does any kernel BUG/WARNING/Oops printed while it runs.
#
# Only lines that *start* with "KTEST " count, so diagnostics printed by
# these helpers are prefixed with "# ". Do not print raw dmesg to the
# console: its timestamped BUG/WARNING lines would be charged to the
# running case a second time.

# ktest_line WORD CASE [TEXT...]: one protocol line, newlines flattened so
# a multi-line reason cannot break the protocol.
ktest_line() {
	_kw=$1 _kc=$2
	shift 2
	_kt=$(printf '%s' "$*" | tr '\n\r\t' '   ')
	if [ -n "$_kt" ]; then
		echo "KTEST $_kw $_kc $_kt"
	else
		echo "KTEST $_kw $_kc"
	fi
}

begin() { ktest_line BEGIN "$1"; }

# pass CASE [detail...]
pass() {
	_c=$1
	shift
	ktest_line PASS "$_c" "$@"
}

# fail CASE reason...: a FAIL always carries a reason.
fail() {
	_c=$1
	shift
	ktest_line FAIL "$_c" "${*:-failed (no reason given)}"
}

# skip CASE reason...
skip() {
	_c=$1
	shift
	ktest_line SKIP "$_c" "${*:-skipped (no reason given)}"
}

# last_line FILE: the last non-blank line of FILE (the usual error message).
last_line() {
	grep -v '^[[:space:]]*$' "$1" | tail -n 1
}

# show_output FILE: the tail of a failed command's output, as comments.
show_output() {
	tail -n 20 "$1" | sed 's/^/# /'
}

# check CASE CMD...: PASS if CMD exits 0, else FAIL with its last output line.
check() { ktest_run ok "$@"; }

# expect_fail CASE CMD...: PASS if CMD exits non-zero (bad input refused).
expect_fail() { ktest_run fail "$@"; }

# ktest_run ok|fail CASE CMD...: run CMD, its output aside, and judge its
# exit status; a failure shows the output's tail as comments.
ktest_run() {
	_w=$1 _c=$2
	shift 2
	begin "$_c"
	_out=/tmp/ktest-check.$$
	if "$@" >"$_out" 2>&1; then _rc=0; else _rc=$?; fi
	if [ "$_w" = ok ] && [ "$_rc" = 0 ]; then
		pass "$_c"
	elif [ "$_w" = ok ]; then
		show_output "$_out"
		fail "$_c" "exit $_rc: $(last_line "$_out")"
	elif [ "$_rc" != 0 ]; then
		pass "$_c" "exit $_rc: $(last_line "$_out")"
	else
		show_output "$_out"
		fail "$_c" "succeeded but should have failed: $*"
	fi
	rm -f "$_out"
}

# status_value KEY: the value of "KEY: value" in kaiser's status file.
status_value() {
	sed -n "s/^$1: //p" /sys/kernel/kaiser/status
}

# ktest_arg NAME [DEFAULT]: value of NAME=VALUE among the suite's arguments
# (kaiser.args on the kernel command line), else DEFAULT.
ktest_arg() {
	for _a in $KTEST_ARGS; do
		case "$_a" in
		"$1"=*) echo "${_a#*=}"; return 0 ;;
		esac
	done
	echo "${2:-}"
}
