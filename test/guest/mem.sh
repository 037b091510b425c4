# Memory readings for guest suites (busybox sh), copied to /tests/mem.sh;
# a suite sources it after /tests/lib.sh. Builtins only: a forked reader's
# own page tables would be counted in what it reads.

# shellcheck disable=SC2034 # the suites that source it read the results
settle_tries=0

# read_mem: into s_avail s_slab s_pt s_dm4k s_dm1g (kB, /proc/meminfo:
# MemAvailable, Slab, PageTables, DirectMap4k, DirectMap1G), s_nfp (kB of
# nr_free_pages, /proc/vmstat), s_pcp (kB on the per-CPU page lists, the
# "count:" lines of /proc/zoneinfo; nr_free_pages leaves them out, and
# 6.12's auto-tuned lists hold MBs after a burst of frees) and s_free =
# s_nfp + s_pcp.
read_mem() {
	# Fold every CPU's pending vmstat deltas into the totals first:
	# without it each counter is off by up to the per-CPU threshold times
	# the CPUs (PageTables was seen 40 kB low for a moment).
	echo 1 >/proc/sys/vm/stat_refresh
	while read -r _k _v _u; do
		case "$_k" in
		MemAvailable:) s_avail=$_v ;;
		Slab:) s_slab=$_v ;;
		PageTables:) s_pt=$_v ;;
		DirectMap4k:) s_dm4k=$_v ;;
		DirectMap1G:) s_dm1g=$_v ;;
		esac
	done </proc/meminfo
	while read -r _k _v; do
		[ "$_k" = nr_free_pages ] && s_nfp=$((_v * 4))
	done </proc/vmstat
	_n=0
	while read -r _k _v _u; do
		[ "$_k" = count: ] && _n=$((_n + _v))
	done </proc/zoneinfo
	s_pcp=$((_n * 4))
	s_free=$((s_nfp + s_pcp))
}

# Drop what the kernel can drop and wait until free memory holds still
# (two readings 2 s apart within 64 kB; at most 15 tries): RCU-deferred
# page-table and slab frees land in that time.
settle() {
	_prev=-1
	settle_tries=0
	while [ $settle_tries -lt 15 ]; do
		settle_tries=$((settle_tries + 1))
		sync
		echo 3 >/proc/sys/vm/drop_caches
		sleep 2
		read_mem
		_d=$((s_free - _prev))
		[ $_d -lt 0 ] && _d=$((-_d))
		[ "$_prev" -ge 0 ] && [ $_d -le 64 ] && break
		_prev=$s_free
	done
}

# mem_mark: the current readings as the baseline (b_*) that mem_leak and
# pagetables_leak compare with.
mem_mark() {
	b_slab=$s_slab b_pt=$s_pt b_free=$s_free
	b_dm4k=${s_dm4k:-0} b_dm1g=${s_dm1g:-0}
}

# direct_map_splits: into splits, the page-table pages the kernel added to
# its direct map since mem_mark by splitting large pages there (one PTE
# page per 2 MiB page split to 4 kB, one PMD page per 1 GiB page split).
# Any module load can (set_memory_ro() on module memory changes its
# direct-map alias too: cpa_process_alias() in arch/x86/mm/pat/set_memory.c)
# and the kernel keeps them. Where split_large_page() takes the page from
# pte_alloc_one_kernel() (7.2, 7.3; 6.12 calls alloc_pages()), PageTables
# counts it: 4 pages over stress-toggle-ci on 7.3.4, 5 on 7.2.13.
direct_map_splits() {
	_s4k=$(((${s_dm4k:-0} - b_dm4k) / 2048))
	_s1g=$(((b_dm1g - ${s_dm1g:-0}) / 1048576))
	[ $_s4k -lt 0 ] && _s4k=0
	[ $_s1g -lt 0 ] && _s1g=0
	splits=$((_s4k + _s1g))
}

# pagetables_leak CASE TOLERANCE MOVED UNIT COUNT: mem_leak for PageTables
# since mem_mark, on top of TOLERANCE allowing what the kernel keeps by
# design, 4 kB a page: the pairs of MOVED mms (6.15+: moved onto pairs,
# kept while they live) and the direct map's split pages.
pagetables_leak() {
	direct_map_splits
	echo "# PageTables kept by design: up to $3 moved mms' pairs, $splits direct-map splits"
	mem_leak "$1" PageTables "$b_pt" "$s_pt" $(($2 + 4 * ($3 + splits))) grew "$4" "$5"
}

show_mem() {
	set -- /proc/[0-9]*
	echo "free $s_free kB (nr_free_pages $s_nfp + per-CPU lists $s_pcp)," \
		"MemAvailable $s_avail kB, Slab $s_slab kB, PageTables $s_pt kB," \
		"DirectMap4k $s_dm4k kB, DirectMap1G ${s_dm1g:-0} kB" \
		"(settled in $settle_tries tries), $# tasks"
}

# mem_leak CASE NAME BEFORE AFTER TOLERANCE grew|fell UNIT COUNT: the
# counter moved the way a leak moves it (PageTables and Slab grow with a
# leak, free memory falls) by at most TOLERANCE kB; the pass line says how
# big a leak per UNIT (COUNT of them ran) would have shown.
mem_leak() {
	begin "$1"
	if [ "$6" = grew ]; then _d=$(($4 - $3)); else _d=$(($3 - $4)); fi
	if [ $_d -gt "$5" ]; then
		fail "$1" "$2 $6 by $_d kB ($3 -> $4 kB), tolerance $5 kB"
	else
		pass "$1" "$2 $3 -> $4 kB ($(($4 - $3)) kB; tolerance $5 kB," \
			"a leak over $(($5 * 1000 / $8)) bytes per $7 would show)"
	fi
}
