# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # variables shared with the script that sources it
# The core that scripts/bench/bench (QEMU) and scripts/bench/bench-bochs
# (Bochs) share: the common options and their checks, the kernel and the
# initramfs, recording one boot's results, the rotating rounds and the awk
# functions of the tables. A benchmark sets `prog` (its name in messages),
# `repo` and its defaults, defines bench_option (its own options: it sets
# `taken` to the words it used) and boot ROUND CONFIG, and calls
#   bench_args "$@"; bench_check CONFIGS; bench_prepare; ...; bench_rounds
# CONFIGS is the alternation of its configurations (none|kaiser|pti).

usage() { echo "$prog: $*" >&2; exit 2; }
note() { echo "$prog: $*" >&2; }

bench_args() {
	local taken
	kernel_set=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--cpu | --repeat | --runs | --ms | --sync | --sync-ms | --workloads | --configs | --ko | --append | --out | --timeout)
			[ $# -ge 2 ] || usage "$1 needs a value"
			case "$1" in
			--sync-ms) syncms=$2 ;;
			--timeout) gtimeout=$2 ;;
			*) printf -v "${1#--}" '%s' "$2" ;;
			esac
			shift 2
			;;
		-h | --help)
			sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		-*)
			taken=0
			bench_option "$@"
			[ "$taken" -gt 0 ] || usage "unknown option '$1' (try --help)"
			shift "$taken"
			;;
		*)
			[ "$kernel_set" = 0 ] || usage "one kernel only"
			kernel=$1 kernel_set=1
			shift
			;;
		esac
	done
}

# isnum OPTION VALUE MIN MAX
isnum() {
	if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		usage "$1 '$2' is not a number in $3..$4"
	fi
}

bench_check() {
	local c=$1 w='getppid|pipe|fault|fork|exec'
	isnum --repeat "$repeat" 1 100
	isnum --runs "$runs" 1 1000
	isnum --ms "$ms" 1 60000
	isnum --sync "$sync" 0 100
	isnum --sync-ms "$syncms" 1 60000
	isnum --timeout "$gtimeout" 1 100000
	[[ "$workloads" =~ ^($w)(:($w))*$ ]] ||
		usage "--workloads '$workloads': colon-separated ${w//|/, }"
	[[ "$configs" =~ ^($c)(,($c))*$ ]] ||
		usage "--configs '$configs': comma-separated ${c//|/, }"
	[[ "$append" != *kaiser.* ]] || usage "--append must not set kaiser.* (use the options)"
	[[ "$append" != *pti=* ]] || usage "--append must not set pti= (the configuration does)"
	[ -z "$ko" ] || [ -f "$ko" ] || usage "no module $ko"
	IFS=, read -r -a cfgs <<<"$configs"
	IFS=: read -r -a wls <<<"$workloads"
	command -v python3 >/dev/null || { note "python3 is needed for the host-timed runs"; exit 1; }
}

# bench_prepare: the kernel ($rel) and the out directory ($out).
bench_prepare() {
	t_start=$(date +%s)
	rel=$("$repo/scripts/harness/kernel-fetch" "$kernel") || { note "kernel-fetch $kernel failed"; exit 1; }
	[ -n "$out" ] || out=$repo/out/$prog-$(date +%Y%m%d-%H%M%S)-$$
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	[[ "$out" =~ ^[A-Za-z0-9._/+-]+$ ]] || usage "out directory '$out': letters, digits and ._/+- only"
	printf 'round\tconfig\tmeasure\tworkload\tvalue\n' >"$out/samples.tsv"
	failed=0
}

# bench_module: kaiser.ko in a build tree of the benchmark's own (a
# parallel build of the shared tree cannot replace it between the build
# and the initramfs), copied to $out, unless --ko gave one.
bench_module() {
	if [ -z "$ko" ]; then
		ko=$("$repo/scripts/harness/build-module" --variant "$prog" "$rel" \
			2>"$out/build-module.log" | tail -n 1) || ko=""
		[ -f "$ko" ] || { note "build-module $rel failed (log: $out/build-module.log)"; exit 1; }
	fi
	cp "$ko" "$out/kaiser.ko"
	ko=$out/kaiser.ko
}

# bench_initrd: test/progs/bench.c alone (one broken program elsewhere in
# test/progs must not stop a benchmark), in an initramfs with $ko if set.
bench_initrd() {
	local mk
	mkdir -p "$out/bin"
	gcc -static -O2 -Wall -Wextra -Werror -o "$out/bin/bench" "$repo/test/progs/bench.c" \
		>"$out/build-bench.log" 2>&1 ||
		{ note "cannot build test/progs/bench.c (log: $out/build-bench.log)"; exit 1; }
	mk=(--out "$out/initrd.gz" --add "$out/bin:/tests/bin")
	[ -z "$ko" ] || mk+=(--module "$ko")
	initrd=$("$repo/scripts/harness/mkinitramfs" "${mk[@]}" 2>"$out/mkinitramfs.err") ||
		{ note "mkinitramfs failed: $(tail -n 1 "$out/mkinitramfs.err")"; exit 1; }
}

# bench_judge_log ROUND CONFIG LOG: the guest's own cases, by ktest-parse.
bench_judge_log() {
	local parsed
	parsed=$("$repo/scripts/harness/ktest-parse" "$3" --label "$2-r$1" 2>&1) || {
		grep -v '^PASS ' <<<"$parsed" | sed "s/^/$prog: /" >&2
		failed=1
	}
}

# bench_record ROUND CONFIG LOG CPUFILE VALIDCOL: per workload, the
# guest-clock result (the suite's BENCH line) and the best valid host-timed
# run (CPUFILE: workload round ops guest_ns cpu_ns_per_op ..., column
# VALIDCOL 1 when valid) into samples.tsv; what it got in `got`.
bench_record() {
	local r=$1 c=$2 log=$3 cpuf=$4 vcol=$5 w line ns best bad
	got=()
	for w in "${wls[@]}"; do
		line=$(grep -m1 "^BENCH mode=[a-z]* workload=$w " "$log" | tr -d '\r') || {
			note "$c round $r: no result for $w [log: $log]"
			failed=1
			continue
		}
		ns=$(sed -n 's/.* ns=\([0-9.]*\) .*/\1/p' <<<"$line")
		printf '%s\t%s\tguest\t%s\t%s\n' "$r" "$c" "$w" "$ns" >>"$out/samples.tsv"
		got+=("$w $ns")
		[ "$sync" = 0 ] && continue
		best=$(awk -F'\t' -v w="$w" -v v="$vcol" '$1 == w && $v == 1 && (b == "" || $5 < b) { b = $5 } END { print b }' "$cpuf" 2>/dev/null)
		bad=$(awk -F'\t' -v w="$w" -v v="$vcol" '$1 == w && $v != 1 { n++ } END { print n + 0 }' "$cpuf" 2>/dev/null)
		[ "$bad" = 0 ] || note "$c round $r: $bad host-timed run(s) of $w not timed closely enough, not counted"
		if [ -n "$best" ]; then
			printf '%s\t%s\tcpu\t%s\t%s\n' "$r" "$c" "$w" "$best" >>"$out/samples.tsv"
			got+=("(cpu $best)")
		else
			note "$c round $r: no valid host-timed run of $w [$cpuf]"
			failed=1
		fi
	done
}

# bench_rounds: K rounds, each boots every configuration, the order
# rotating every round so that drift of the host's load falls on all alike.
bench_rounds() {
	local n=${#cfgs[@]} r k
	for ((r = 1; r <= repeat; r++)); do
		for ((k = 0; k < n; k++)); do
			boot "$r" "${cfgs[$(((r - 1 + k) % n))]}"
		done
	done
}

# The awk functions of the tables: samples.tsv read into val[] and cnt[]
# by (measure, workload, config); median and spread over the rounds; the
# tables' frame (a benchmark defines table(MEASURE, TITLE) and calls
# tables() at its END).
# shellcheck disable=SC2034 # used by the benchmarks
BENCH_AWK='
function median(key,   m, i, j, t, a) {
	m = cnt[key]
	if (!m) return ""
	for (i = 1; i <= m; i++) a[i] = val[key, i]
	for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function spread(key,   m, i, lo, hi) {
	m = cnt[key]
	if (m < 2) return "-"
	lo = hi = val[key, 1]
	for (i = 2; i <= m; i++) { if (val[key, i] < lo) lo = val[key, i]; if (val[key, i] > hi) hi = val[key, i] }
	return sprintf("%.0f%%", 100 * (hi - lo) / lo)
}
function fmt(x, f) { return x == "" ? "-" : sprintf(f, x) }
# tables(COLUMNS, FOOT): the END of both benchmarks: the summary header
# COLUMNS, the CPU-time table if there is one, the guest-clock table (each
# benchmark defines table()), then the notes FOOT.
function tables(columns, foot) {
	nw = split(wls, w, ":")
	print columns >summary
	print hdr
	if ("cpu" in have) table("cpu", tcpu)
	table("guest", tguest)
	print ""
	printf "%s", foot
}
NR > 1 { k = $3 SUBSEP $4 SUBSEP $2; val[k, ++cnt[k]] = $5; have[$3] = 1 }
'

# The Python functions both host-side CPU-time monitors start with: a
# process's CPU time (the sum of its threads' schedstat, so time the host
# spends on other jobs does not count), and whether it still runs.
# shellcheck disable=SC2034 # used by the benchmarks
BENCH_PY='import os
def cpu_ns(pid):
    tot = 0
    for t in os.listdir("/proc/%s/task" % pid):
        try:
            with open("/proc/%s/task/%s/schedstat" % (pid, t)) as f:
                tot += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return tot

class LogTail:
    """The complete lines a growing serial log gained since the last call
    of lines(), stripped; done once one of them was KTEST DONE."""

    def __init__(self, path):
        self.path, self.pos, self.buf, self.done = path, 0, b"", False

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            data = b""
        self.pos += len(data)
        self.buf += data
        lines = self.buf.split(b"\n")
        self.buf = lines.pop()
        marks = [l.decode("ascii", "replace").strip() for l in lines]
        if any(m.startswith("KTEST DONE") for m in marks):
            self.done = True
        return marks

def alive(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

'

# bench_done: the wall time; exit 1 if anything failed to run.
bench_done() {
	note "wall time $(($(date +%s) - t_start))s, results in $out"
	exit "$failed"
}
