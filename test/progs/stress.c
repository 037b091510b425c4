// SPDX-License-Identifier: GPL-2.0
/*
 * stress [-d SECONDS] [-w WORKERS] [-m MAPPERS] [-f FAULTERS] [-n NICE] [-c KIND]
 *
 * Page-table stress for isolation while it is switched on and off: every
 * worker checks its own data, so a user table left pointing at a freed or
 * foreign page-table page shows up as wrong data or as an access that
 * should have faulted and did not.
 *
 *   -d SECONDS   run time (default 30; 0 = until SIGTERM/SIGINT)
 *   -w WORKERS   worker processes (default 2 per online CPU)
 *   -m MAPPERS   mapper threads per worker (default 2)
 *   -f FAULTERS  fault threads per worker (default 2)
 *   -n NICE      nice value of the workers (default 0): lets a shell that
 *                drives the test beside them get the CPU promptly
 *   -c KIND      debug only: deliberately corrupt one datum of KIND once
 *                (spread fault shm cow ldt stale late exec) to show that the
 *                check for it fires; the run must then FAIL
 *
 * Each worker process runs these threads:
 *   main     fork/exec loop: fork+exit children that check copy-on-write
 *            data and scan the parent's mappings they inherited; fork+exec
 *            of itself (--exec-child) and of /bin/true; vfork+exec; children
 *            that install an LDT, load %gs with an LDT selector and read
 *            through it from two threads, re-installing entries meanwhile.
 *   mapper   one page at a time in many top-level slots: 512 GiB apart
 *            (a PGD entry in 4-level mode, a P4D entry in 5-level mode)
 *            and, with 5-level paging, 256 TiB apart above 128 TiB (PGD
 *            entries). Map a batch, fill, verify, then tear down by
 *            per-slot munmap, one munmap over the whole range, mremap to
 *            another slot, or MADV_DONTNEED (zeros) + munmap; every slot
 *            torn down must then fault when read, at once and again some
 *            cycles later (when a freed table has likely been reused).
 *            Top-level entries and their tables are created and freed
 *            all the time.
 *   faulter  write/verify stripes of a private and a shared region that
 *            the worker's threads share; MADV_DONTNEED must give zeros on
 *            the private one and keep the data of the shared one.
 *   racer    reads random slots of the mappers while they map and unmap:
 *            any value must be zero or this worker's pattern for that word.
 *
 * Prints one summary line "stress: PASS|FAIL ..." and exits 0, or 1 on
 * any data mismatch or unexpected error (each also printed on stderr as
 * "stress: ERROR ..."), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096UL
#define WORDS		(PAGE / 8)
#define MAX_WORKERS	256
#define NSLOTS		200		/* slots 1..NSLOTS in each range */
#define LOW_SHIFT	39		/* 512 GiB: one PGD (4-level) / P4D entry */
#define HIGH_SHIFT	48		/* 256 TiB: one PGD entry in 5-level mode */
#define HIGH_FLAG	0x800		/* slot id bit: the range above 128 TiB */
#define BATCH		16
#define COW_PAGES	32
#define PRIV_PAGES	512		/* 2 MiB */
#define SHM_PAGES	256		/* 1 MiB */
#define EXEC_OK		42		/* exit code of a good --exec-child */
#define LDT_OK		43		/* exit code of a good LDT child */
#define MAX_REPORTS	20

/* Data patterns: 16-bit magic, 16-bit owner, 8-bit generation, 24 bits of place. */
#define M_SLOT		0x4b53ULL	/* "KS" mapper slot pages */
#define M_PRIV		0x4b50ULL	/* "KP" faulter private region */
#define M_SHM		0x4b48ULL	/* "KH" faulter shared region */
#define M_COW		0x4b43ULL	/* "KC" copy-on-write buffer */

static inline uint64_t pat(uint64_t magic, unsigned int owner, unsigned int gen,
			   unsigned int place)
{
	return magic << 48 | (uint64_t)(owner & 0xffff) << 32 |
	       (uint64_t)(gen & 0xff) << 24 | (place & 0xffffff);
}

/* Counters, per worker, in memory shared by every process of the run. */
enum {
	C_FORKS, C_EXECS, C_VFORKS, C_LDT, C_MAPS, C_UNMAPS, C_MREMAPS,
	C_PROBES, C_DONTNEED, C_FAULTPAGES, C_RACER, C_SCANS, C_NR
};
static const char *const c_name[C_NR] = {
	"forks", "execs", "vforks", "ldt_children", "maps", "unmaps",
	"mremaps", "probes", "dontneed", "fault_pages", "racer_reads",
	"child_scans",
};

struct shared {
	volatile int stop;
	int nerrors;
	int first_taken;
	int corrupt_done;
	char first[256];
	struct {
		uint64_t c[C_NR];
		int64_t child_token;
	} w[MAX_WORKERS];
};

static struct shared *sh;
static int widx;			/* this worker's index */
static unsigned int wid;		/* this process's pattern owner id */
static int nmappers = 2, nfaulters = 2, la57;
static const char *corrupt;		/* -c KIND */
static char self_exe[4096];
static int have_true;

static void count(int c, uint64_t n)
{
	if (sh)
		__atomic_add_fetch(&sh->w[widx].c[c], n, __ATOMIC_RELAXED);
}

/* One line per error on stderr (the first MAX_REPORTS), all counted. */
static void __attribute__((format(printf, 1, 2))) error(const char *fmt, ...)
{
	char msg[220], line[300];
	va_list ap;
	int n, len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = sh ? __atomic_add_fetch(&sh->nerrors, 1, __ATOMIC_SEQ_CST) : 1;
	if (sh && !__atomic_exchange_n(&sh->first_taken, 1, __ATOMIC_SEQ_CST))
		snprintf(sh->first, sizeof(sh->first), "%s", msg);
	if (n > MAX_REPORTS)
		return;
	len = snprintf(line, sizeof(line), "stress: ERROR pid %d worker %d: %s\n",
		       getpid(), widx, msg);
	if (write(2, line, len) < 0)
		return;
}

static int stopping(void)
{
	return sh->stop;
}

/* Once per run, for the corruption KIND asked for with -c. */
static int corrupt_now(const char *kind)
{
	if (!corrupt || strcmp(corrupt, kind))
		return 0;
	return !__atomic_exchange_n(&sh->corrupt_done, 1, __ATOMIC_SEQ_CST);
}

static void flip_byte(void *p, size_t len, unsigned int seed)
{
	((volatile uint8_t *)p)[seed % len] ^= 0x40;
}

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* ---- reads that may fault ------------------------------------------- */

static __thread sigjmp_buf probe_jb;
static __thread volatile int probing;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char line[160];
	int len;

	(void)uc;
	if (probing) {
		probing = 0;
		siglongjmp(probe_jb, 1);
	}
	len = snprintf(line, sizeof(line),
		       "stress: ERROR pid %d worker %d: unexpected signal %d at %p\n",
		       getpid(), widx, sig, si->si_addr);
	if (write(2, line, len) < 0)
		_exit(1);
	if (sh)
		__atomic_add_fetch(&sh->nerrors, 1, __ATOMIC_SEQ_CST);
	_exit(1);
}

/* Read *p: 1 and the value if readable, 0 if the read faulted. */
static int __attribute__((noinline)) probe_read(const volatile uint64_t *p, uint64_t *v)
{
	volatile uint64_t val = 0;

	if (sigsetjmp(probe_jb, 0))
		return 0;
	probing = 1;
	val = *p;
	probing = 0;
	*v = val;
	return 1;
}

static void set_fault_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	/* SA_NODEFER: siglongjmp leaves without restoring the signal mask. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* ---- mapper slots ---------------------------------------------------- */

static uint64_t slot_addr(unsigned int id)
{
	unsigned int k = id & ~HIGH_FLAG;

	return id & HIGH_FLAG ? (uint64_t)k << HIGH_SHIFT : (uint64_t)k << LOW_SHIFT;
}

/* A value read from a mapper slot of owner @owner, word @w. */
static int slot_value_ok(uint64_t v, unsigned int owner, unsigned int w)
{
	unsigned int id = (v >> 12) & 0xfff;

	if (!v)
		return 1;
	return v >> 48 == M_SLOT && ((v >> 32) & 0xffff) == (owner & 0xffff) &&
	       (v & 0xfff) == w && (id & ~HIGH_FLAG) >= 1 &&
	       (id & ~HIGH_FLAG) <= NSLOTS;
}

static void *map_slot(unsigned int id)
{
	void *want = (void *)slot_addr(id);
	void *p;

	p = mmap(want, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		error("mmap slot %#x at %p: %s", id, want, strerror(errno));
		return NULL;
	}
	if (p != want) {
		error("mmap slot %#x: got %p, asked for %p", id, p, want);
		munmap(p, PAGE);
		return NULL;
	}
	count(C_MAPS, 1);
	return p;
}

static void fill_slot(uint64_t *p, unsigned int id, unsigned int gen)
{
	unsigned int w;

	for (w = 0; w < WORDS; w++)
		p[w] = pat(M_SLOT, wid, gen, id << 12 | w);
}

static int verify_slot(const uint64_t *p, unsigned int id, unsigned int gen,
		       const char *when)
{
	unsigned int w;

	for (w = 0; w < WORDS; w++) {
		uint64_t want = pat(M_SLOT, wid, gen, id << 12 | w);

		if (p[w] != want) {
			error("slot %#x (%p) word %u %s: %#llx, expected %#llx",
			      id, (void *)p, w, when, (unsigned long long)p[w],
			      (unsigned long long)want);
			return -1;
		}
	}
	return 0;
}

/* After a teardown, the slot must fault: anything readable is stale. */
static void expect_unmapped(unsigned int id, const char *how)
{
	const volatile uint64_t *p = (const uint64_t *)slot_addr(id);
	uint64_t v;

	count(C_PROBES, 1);
	if (probe_read(p, &v))
		error("slot %#x (%p) readable after %s: %#llx (stale mapping)",
		      id, (void *)p, how, (unsigned long long)v);
}

/* Unmap both slot ranges whole (what a fork inherited from the mappers). */
static void unmap_all_slots(void)
{
	uint64_t lo = slot_addr(1), hi = slot_addr(NSLOTS) + PAGE;

	if (munmap((void *)lo, hi - lo))
		error("munmap low slots: %s", strerror(errno));
	lo = slot_addr(1 | HIGH_FLAG);
	hi = slot_addr(NSLOTS | HIGH_FLAG) + PAGE;
	if (la57 && munmap((void *)lo, hi - lo))
		error("munmap high slots: %s", strerror(errno));
}

struct mapper {
	unsigned int first, n;		/* this thread's slots: first..first+n-1 */
	unsigned int seed;
};

static void shuffle(unsigned int *a, unsigned int n, unsigned int *seed)
{
	unsigned int i, j, t;

	for (i = n; i > 1; i--) {
		j = rnd(seed) % i;
		t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* One cycle: map a batch of slots in one range, check, tear down one way. */
static void mapper_cycle(struct mapper *m, unsigned int gen, unsigned int high)
{
	unsigned int ids[BATCH], all[NSLOTS], free_ids[NSLOTS];
	unsigned int i, n, nb = 0, nfree = 0, mode = (gen >> 1) & 3;
	uint64_t *p[BATCH];
	int stale = -1, late = 0;

	for (i = 0; i < m->n; i++)
		all[i] = (m->first + i) | high;
	shuffle(all, m->n, &m->seed);
	/*
	 * Late probes: every slot of ours is unmapped between cycles. A user
	 * table that kept a top-level entry of an earlier cycle points at a
	 * freed table by now, likely reused by another mm: still a fault.
	 * All of them, before any is mapped again (which would overwrite a
	 * stale entry and hide it).
	 */
	for (i = 0; i < m->n; i++)
		expect_unmapped(all[i], "an earlier cycle");
	n = m->n / 2 < BATCH ? m->n / 2 : BATCH;
	if (!n)
		n = 1;
	for (i = 0; i < n; i++) {
		p[nb] = map_slot(all[i]);
		if (p[nb])
			ids[nb++] = all[i];
	}
	for (i = n; i < m->n; i++)
		free_ids[nfree++] = all[i];
	for (i = 0; i < nb; i++) {
		fill_slot(p[i], ids[i], gen);
		if (corrupt_now("spread"))
			flip_byte(p[i], PAGE, m->seed);
	}
	for (i = 0; i < nb; i++)
		verify_slot(p[i], ids[i], gen, "after fill");

	if (mode == 2 && nfree) {
		/* mremap each page to a free slot of ours: the old slot's tables go. */
		for (i = 0; i < nb; i++) {
			unsigned int to = free_ids[i % nfree];
			void *q = mremap(p[i], PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
					 (void *)slot_addr(to));

			if (q == MAP_FAILED) {
				error("mremap slot %#x -> %#x: %s", ids[i], to, strerror(errno));
				continue;
			}
			count(C_MREMAPS, 1);
			expect_unmapped(ids[i], "mremap away");
			verify_slot(q, ids[i], gen, "after mremap");
			if (munmap(q, PAGE))
				error("munmap slot %#x: %s", to, strerror(errno));
			count(C_UNMAPS, 1);
			expect_unmapped(to, "munmap after mremap");
		}
		return;
	}
	if (mode == 3) {
		/* DONTNEED on a private page: zeros, with the tables kept. */
		for (i = 0; i < nb; i++) {
			unsigned int w;

			if (madvise(p[i], PAGE, MADV_DONTNEED)) {
				error("madvise slot %#x: %s", ids[i], strerror(errno));
				continue;
			}
			count(C_DONTNEED, 1);
			for (w = 0; w < WORDS; w++) {
				if (p[i][w]) {
					error("slot %#x word %u not zero after MADV_DONTNEED: %#llx",
					      ids[i], w, (unsigned long long)p[i][w]);
					break;
				}
			}
		}
	}
	if (corrupt_now("stale") && nb)
		stale = 0;	/* "forget" to unmap ids[0] */
	else if (corrupt_now("late") && nb)
		stale = 0, late = 1;	/* and leave it for the late probes */
	if (mode == 1) {
		/* One munmap over the whole range of this thread. */
		uint64_t lo = slot_addr(m->first | high);
		uint64_t hi = slot_addr((m->first + m->n - 1) | high) + PAGE;

		if (stale >= 0) {
			/* unmap around the forgotten slot */
			uint64_t s = slot_addr(ids[stale]);

			if ((s > lo && munmap((void *)lo, s - lo)) ||
			    (s + PAGE < hi && munmap((void *)(s + PAGE), hi - s - PAGE)))
				error("munmap range: %s", strerror(errno));
		} else if (munmap((void *)lo, hi - lo)) {
			error("munmap range %#llx-%#llx: %s", (unsigned long long)lo,
			      (unsigned long long)hi, strerror(errno));
		}
		count(C_UNMAPS, nb);
	} else {
		shuffle(ids, nb, &m->seed);
		for (i = 0; i < nb; i++) {
			if ((int)i == stale)
				continue;
			if (munmap((void *)slot_addr(ids[i]), PAGE))
				error("munmap slot %#x: %s", ids[i], strerror(errno));
			count(C_UNMAPS, 1);
		}
	}
	for (i = 0; i < nb; i++)
		if (!late || (int)i != stale)
			expect_unmapped(ids[i], mode == 1 ? "range munmap" : "munmap");
	if (stale >= 0 && !late)
		munmap((void *)slot_addr(ids[stale]), PAGE);
}

static void *mapper_thread(void *arg)
{
	struct mapper *m = arg;
	unsigned int gen = 0;

	while (!stopping()) {
		gen++;
		mapper_cycle(m, gen, la57 && (gen & 1) ? HIGH_FLAG : 0);
	}
	return NULL;
}

/* ---- racer: reads the mappers' slots while they change -------------- */

static void *racer_thread(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg, n = 0;

	while (!stopping()) {
		unsigned int id = 1 + rnd(&seed) % NSLOTS, w = rnd(&seed) % WORDS;
		const volatile uint64_t *p;
		uint64_t v;

		if (la57 && (rnd(&seed) & 1))
			id |= HIGH_FLAG;
		p = (const uint64_t *)slot_addr(id) + w;
		if (probe_read(p, &v) && !slot_value_ok(v, wid, w))
			error("racer: slot %#x word %u reads %#llx: not ours",
			      id, w, (unsigned long long)v);
		if (++n % 64 == 0) {
			count(C_RACER, 64);
			sched_yield();
		}
	}
	return NULL;
}

/* ---- faulters: stripes of regions shared by the worker's threads ---- */

static uint64_t *priv_region, *shm_region;

struct faulter {
	unsigned int t, seed;
};

/* Check one word of a neighbour's stripe: zero or the right pattern. */
static void check_neighbour(uint64_t *region, uint64_t magic, unsigned int pg,
			    unsigned int w)
{
	uint64_t v = region[pg * WORDS + w];

	if (v && (v >> 48 != magic || ((v >> 32) & 0xffff) != (wid & 0xffff) ||
		  (v & 0xffffff) != (pg << 12 | w)))
		error("region %#llx page %u word %u: %#llx is not a pattern of it",
		      (unsigned long long)magic, pg, w, (unsigned long long)v);
}

static void faulter_pass(struct faulter *f, uint64_t *region, uint64_t magic,
			 unsigned int npages, unsigned int gen, int keeps)
{
	unsigned int per = npages / nfaulters, lo = f->t * per, hi = lo + per;
	unsigned int pg, w, d0, dn, other;

	for (pg = lo; pg < hi; pg++)
		for (w = 0; w < WORDS; w++)
			region[pg * WORDS + w] = pat(magic, wid, gen, pg << 12 | w);
	count(C_FAULTPAGES, per);
	if (corrupt_now(keeps ? "shm" : "fault"))
		flip_byte(region + lo * WORDS, per * PAGE, f->seed);
	/* a random run of our pages goes; private pages come back as zeros */
	dn = 1 + rnd(&f->seed) % (per < 16 ? per : 16);
	d0 = lo + rnd(&f->seed) % (per - dn + 1);
	if (madvise(region + d0 * WORDS, dn * PAGE, MADV_DONTNEED))
		error("madvise region %#llx: %s", (unsigned long long)magic, strerror(errno));
	count(C_DONTNEED, 1);
	for (pg = lo; pg < hi; pg++) {
		int zero = !keeps && pg >= d0 && pg < d0 + dn;

		for (w = 0; w < WORDS; w++) {
			uint64_t want = zero ? 0 : pat(magic, wid, gen, pg << 12 | w);
			uint64_t v = region[pg * WORDS + w];

			if (v != want) {
				error("region %#llx page %u word %u%s: %#llx, expected %#llx",
				      (unsigned long long)magic, pg, w,
				      zero ? " after MADV_DONTNEED" : "",
				      (unsigned long long)v, (unsigned long long)want);
				break;
			}
		}
	}
	if (nfaulters > 1) {
		other = (f->t + 1 + rnd(&f->seed) % (nfaulters - 1)) % nfaulters;
		pg = other * per + rnd(&f->seed) % per;
		check_neighbour(region, magic, pg, rnd(&f->seed) % WORDS);
	}
}

static void *faulter_thread(void *arg)
{
	struct faulter *f = arg;
	unsigned int gen = 0;

	while (!stopping()) {
		gen++;
		faulter_pass(f, priv_region, M_PRIV, PRIV_PAGES, gen, 0);
		faulter_pass(f, shm_region, M_SHM, SHM_PAGES, gen, 1);
	}
	return NULL;
}

/* ---- LDT ------------------------------------------------------------ */

#define LDT_WORDS 64
static unsigned int ldt_data[LDT_WORDS];

static unsigned int ldt_word(unsigned int i)
{
	return 0x6b610000u | i * 0x101u;
}

static int ldt_install(unsigned int entry)
{
	struct user_desc d;

	memset(&d, 0, sizeof(d));
	d.entry_number = entry;
	d.base_addr = (unsigned int)(uintptr_t)ldt_data;
	d.limit = sizeof(ldt_data) - 1;
	d.seg_32bit = 1;
	d.useable = 1;
	return syscall(SYS_modify_ldt, 1, &d, sizeof(d));
}

/* Load LDT selector @entry into %gs, read every word through it. */
static int ldt_check(unsigned int entry, const char *who)
{
	unsigned short sel = (entry << 3) | 4 | 3, zero = 0;
	unsigned int i, v;

	for (i = 0; i < LDT_WORDS; i++) {
		asm volatile("mov %1, %%gs\n\tmovl %%gs:(%2), %0"
			     : "=r"(v) : "r"(sel), "r"((unsigned long)i * 4) : "memory");
		if (v != ldt_word(i)) {
			error("%s: word %u through LDT entry %u: %#x, expected %#x",
			      who, i, entry, v, ldt_word(i));
			return -1;
		}
	}
	asm volatile("mov %0, %%gs" : : "r"(zero));
	return 0;
}

static void *ldt_reader(void *arg)
{
	volatile int *bad = arg;
	int i;

	for (i = 0; i < 200; i++)
		if (ldt_check(0, "LDT thread"))
			*bad = 1;
	return NULL;
}

/* In a forked child: an LDT, read by two threads while entries change. */
static int ldt_child(unsigned int seed)
{
	volatile int bad = 0;
	unsigned int i;
	pthread_t th;
	int status;
	pid_t pid;

	if ((uintptr_t)ldt_data > 0xffffffffUL) {
		error("LDT data at %p, above 4 GiB: cannot test", (void *)ldt_data);
		return 1;
	}
	/* Drop the slots inherited from the mappers: their tables go here. */
	unmap_all_slots();
	for (i = 0; i < LDT_WORDS; i++)
		ldt_data[i] = ldt_word(i);
	if (ldt_install(0)) {
		error("modify_ldt: %s", strerror(errno));
		return 1;
	}
	if (corrupt_now("ldt"))
		flip_byte(ldt_data, sizeof(ldt_data), seed);
	if (ldt_check(0, "LDT child"))
		return 1;
	if (pthread_create(&th, NULL, ldt_reader, (void *)&bad)) {
		error("LDT child: pthread_create failed");
		return 1;
	}
	for (i = 0; i < 40 && !bad; i++) {
		unsigned int e = 1 + i % 7, id = 1 + rnd(&seed) % NSLOTS;
		uint64_t *p;

		if (ldt_install(e)) {
			error("modify_ldt entry %u: %s", e, strerror(errno));
			bad = 1;
		} else if (ldt_check(e, "LDT child")) {
			bad = 1;
		}
		/* a top-level slot in an mm with an LDT */
		p = map_slot(id);
		if (p) {
			fill_slot(p, id, i);
			if (verify_slot(p, id, i, "in LDT child"))
				bad = 1;
			if (munmap(p, PAGE))
				error("munmap slot %#x: %s", id, strerror(errno));
			count(C_UNMAPS, 1);
			expect_unmapped(id, "munmap in LDT child");
		}
	}
	pthread_join(th, NULL);
	/* a grandchild inherits the LDT */
	pid = fork();
	if (pid < 0) {
		error("LDT child: fork: %s", strerror(errno));
		return 1;
	}
	if (!pid)
		_exit(ldt_check(0, "LDT grandchild") ? 1 : 0);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		error("LDT grandchild failed (status %#x)", status);
		bad = 1;
	}
	return bad ? 1 : LDT_OK;
}

/* ---- the main thread: processes ------------------------------------- */

static uint64_t *cow_buf;

static int cow_verify(const uint64_t *buf, unsigned int owner, unsigned int gen,
		      const char *who)
{
	unsigned int i;

	for (i = 0; i < COW_PAGES * WORDS; i++) {
		uint64_t want = pat(M_COW, owner, gen, i);

		if (buf[i] != want) {
			error("%s: copy-on-write word %u: %#llx, expected %#llx", who, i,
			      (unsigned long long)buf[i], (unsigned long long)want);
			return -1;
		}
	}
	return 0;
}

static void cow_fill(uint64_t *buf, unsigned int owner, unsigned int gen)
{
	unsigned int i;

	for (i = 0; i < COW_PAGES * WORDS; i++)
		buf[i] = pat(M_COW, owner, gen, i);
}

/* A forked child: COW data, then the parent's slots it inherited. */
static int scan_child(unsigned int parent, unsigned int gen, unsigned int seed)
{
	unsigned int i, bad = 0;

	wid = getpid();
	if (corrupt_now("cow"))
		flip_byte(cow_buf, COW_PAGES * PAGE, seed);
	if (cow_verify(cow_buf, parent, gen, "child"))
		bad = 1;
	cow_fill(cow_buf, wid, gen + 1);
	if (cow_verify(cow_buf, wid, gen + 1, "child after its own writes"))
		bad = 1;
	for (i = 0; i < 32; i++) {
		unsigned int id = 1 + rnd(&seed) % NSLOTS, w = rnd(&seed) % WORDS;
		uint64_t v;

		if (la57 && (i & 1))
			id |= HIGH_FLAG;
		if (probe_read((const uint64_t *)slot_addr(id) + w, &v) &&
		    !slot_value_ok(v, parent, w)) {
			error("child: inherited slot %#x word %u: %#llx is not the parent's",
			      id, w, (unsigned long long)v);
			bad = 1;
		}
	}
	count(C_SCANS, 1);
	__atomic_store_n(&sh->w[widx].child_token, (int64_t)getpid() ^ 0x5a5a, __ATOMIC_SEQ_CST);
	return bad;
}

static pid_t spawn_exec(int use_vfork, int self)
{
	pid_t pid = use_vfork ? vfork() : fork();

	if (pid)
		return pid;
	if (self)
		execl(self_exe, self_exe, "--exec-child", (char *)NULL);
	else
		execl("/bin/true", "true", (char *)NULL);
	_exit(127);
}

static void wait_child(pid_t pid, int want, const char *what)
{
	int status;

	if (pid < 0) {
		error("%s: fork: %s", what, strerror(errno));
		return;
	}
	if (waitpid(pid, &status, 0) != pid) {
		error("%s: waitpid: %s", what, strerror(errno));
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
		error("%s child %d: %s %d, expected exit %d", what, pid,
		      WIFSIGNALED(status) ? "signal" : "exit",
		      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), want);
}

static void proc_loop(void)
{
	unsigned int gen = 0, seed = getpid() * 2654435761u;
	pid_t pid;

	while (!stopping()) {
		gen++;
		switch (gen % 6) {
		case 0:
		case 3:
			cow_fill(cow_buf, wid, gen);
			__atomic_store_n(&sh->w[widx].child_token, 0, __ATOMIC_SEQ_CST);
			pid = fork();
			if (!pid)
				_exit(scan_child(wid, gen, seed + gen));
			count(C_FORKS, 1);
			wait_child(pid, 0, "fork");
			if (pid > 0 && sh->w[widx].child_token != ((int64_t)pid ^ 0x5a5a))
				error("fork child %d left token %lld in shared memory", pid,
				      (long long)sh->w[widx].child_token);
			cow_verify(cow_buf, wid, gen, "parent after child's writes");
			break;
		case 1:
			pid = spawn_exec(0, 1);
			count(C_FORKS, 1);
			count(C_EXECS, 1);
			wait_child(pid, corrupt_now("exec") ? EXEC_OK + 1 : EXEC_OK, "exec self");
			break;
		case 2:
			pid = spawn_exec(gen % 12 == 2, !have_true);
			count(gen % 12 == 2 ? C_VFORKS : C_FORKS, 1);
			count(C_EXECS, 1);
			wait_child(pid, have_true ? 0 : EXEC_OK, "exec true");
			break;
		case 4:
			pid = fork();
			if (!pid)
				_exit(ldt_child(seed + gen));
			count(C_FORKS, 1);
			count(C_LDT, 1);
			wait_child(pid, LDT_OK, "LDT");
			break;
		case 5:
			pid = spawn_exec(1, 1);
			count(C_VFORKS, 1);
			count(C_EXECS, 1);
			wait_child(pid, EXEC_OK, "vfork exec self");
			break;
		}
	}
}

static void *map_anon(size_t len, int flags, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		error("mmap %s: %s", what, strerror(errno));
		return NULL;
	}
	return p;
}

static int worker(int idx)
{
	struct mapper mp[64];
	struct faulter fl[64];
	pthread_t th[130];
	int nth = 0, i;
	unsigned int per = NSLOTS / nmappers;

	widx = idx;
	wid = getpid();
	set_fault_handler();
	cow_buf = map_anon(COW_PAGES * PAGE, MAP_PRIVATE, "cow buffer");
	priv_region = map_anon(PRIV_PAGES * PAGE, MAP_PRIVATE, "private region");
	shm_region = map_anon(SHM_PAGES * PAGE, MAP_SHARED, "shared region");
	if (!cow_buf || !priv_region || !shm_region)
		return 1;
	for (i = 0; i < nmappers; i++) {
		mp[i].first = 1 + i * per;
		mp[i].n = per;
		mp[i].seed = getpid() * 31 + i;
		if (pthread_create(&th[nth++], NULL, mapper_thread, &mp[i]))
			error("pthread_create mapper failed");
	}
	for (i = 0; i < nfaulters; i++) {
		fl[i].t = i;
		fl[i].seed = getpid() * 17 + i;
		if (pthread_create(&th[nth++], NULL, faulter_thread, &fl[i]))
			error("pthread_create faulter failed");
	}
	if (pthread_create(&th[nth++], NULL, racer_thread, (void *)(uintptr_t)getpid()))
		error("pthread_create racer failed");
	proc_loop();
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ---- the exec'ed child ---------------------------------------------- */

static int exec_child(void)
{
	unsigned int seed = getpid(), i;

	wid = getpid();
	set_fault_handler();
	for (i = 0; i < 4; i++) {
		unsigned int id = 1 + rnd(&seed) % NSLOTS;
		uint64_t *p = map_slot(id);

		if (!p)
			return 1;
		fill_slot(p, id, i);
		if (verify_slot(p, id, i, "in exec child"))
			return 1;
		munmap(p, PAGE);
		expect_unmapped(id, "munmap in exec child");
	}
	return EXEC_OK;
}

/* ---- main ----------------------------------------------------------- */

static volatile sig_atomic_t got_stop;

static void on_stop(int sig)
{
	(void)sig;
	got_stop = 1;
	if (sh)
		sh->stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 5-level paging: a mapping above 128 TiB exists only there. */
static int probe_la57(void)
{
	void *want = (void *)(1UL << 47);
	void *p = mmap(want, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return 0;
	munmap(p, PAGE);
	return p == want;
}

static void usage(void)
{
	fprintf(stderr, "usage: stress [-d SECONDS] [-w WORKERS] [-m MAPPERS] "
		"[-f FAULTERS] [-n NICE] [-c spread|fault|shm|cow|ldt|stale|late|exec]\n");
	exit(2);
}

static int num(const char *s, int lo, int hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end || v < lo || v > hi)
		usage();
	return (int)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "exec-child", no_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	int duration = 30, nworkers = 0, niceness = 0, opt, i, n, nerr;
	pid_t pids[MAX_WORKERS];
	double t0, limit, waited;
	struct sigaction sa;
	char sum[1024];
	ssize_t len;
	size_t off;

	while ((opt = getopt_long(argc, argv, "d:w:m:f:n:c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'X':
			return exec_child();
		case 'd':
			duration = num(optarg, 0, 1000000);
			break;
		case 'w':
			nworkers = num(optarg, 1, MAX_WORKERS);
			break;
		case 'm':
			nmappers = num(optarg, 1, 64);
			break;
		case 'f':
			nfaulters = num(optarg, 1, 64);
			break;
		case 'n':
			niceness = num(optarg, 0, 19);
			break;
		case 'c':
			corrupt = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (corrupt && !strstr(" spread fault shm cow ldt stale late exec ",
			       (snprintf(sum, sizeof(sum), " %s ", corrupt), sum)))
		usage();
	if (!nworkers) {
		nworkers = 2 * sysconf(_SC_NPROCESSORS_ONLN);
		if (nworkers < 1 || nworkers > MAX_WORKERS)
			nworkers = 2;
	}
	len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len <= 0) {
		perror("stress: readlink /proc/self/exe");
		return 1;
	}
	self_exe[len] = '\0';
	have_true = access("/bin/true", X_OK) == 0;
	la57 = probe_la57();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("stress: mmap");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	t0 = now();
	for (i = 0; i < nworkers; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			error("fork worker %d: %s", i, strerror(errno));
			sh->stop = 1;
			nworkers = i;
			break;
		}
		if (!pids[i]) {
			if (niceness && setpriority(PRIO_PROCESS, 0, niceness))
				error("setpriority %d: %s", niceness, strerror(errno));
			_exit(worker(i));
		}
	}
	while (!got_stop && (!duration || now() - t0 < duration))
		usleep(100000);
	sh->stop = 1;
	/* A worker that does not stop within a grace period counts as hung. */
	limit = now() + 120;
	for (n = 0; n < nworkers;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0)
			break;
		if (!pid) {
			if (now() < limit) {
				usleep(50000);
				continue;
			}
			for (i = 0; i < nworkers; i++)
				if (pids[i] > 0 && !kill(pids[i], 0)) {
					error("worker %d (pid %d) did not stop within 120 s",
					      i, pids[i]);
					kill(pids[i], SIGKILL);
				}
			limit = now() + 1e9;
			continue;
		}
		for (i = 0; i < nworkers; i++)
			if (pids[i] == pid)
				break;
		if (i == nworkers)
			continue;	/* not a worker */
		pids[i] = 0;
		n++;
		if (WIFSIGNALED(status))
			error("worker %d killed by signal %d", i, WTERMSIG(status));
		else if (WEXITSTATUS(status) && !sh->nerrors)
			error("worker %d exited with status %d", i, WEXITSTATUS(status));
	}
	waited = now() - t0;

	nerr = __atomic_load_n(&sh->nerrors, __ATOMIC_SEQ_CST);
	off = snprintf(sum, sizeof(sum), "stress: %s %.1fs workers=%d threads=%d paging=%d",
		       nerr ? "FAIL" : "PASS", waited, nworkers,
		       2 + nmappers + nfaulters, la57 ? 5 : 4);
	for (opt = 0; opt < C_NR; opt++) {
		uint64_t total = 0;

		for (i = 0; i < nworkers; i++)
			total += sh->w[i].c[opt];
		off += snprintf(sum + off, sizeof(sum) - off, " %s=%llu", c_name[opt],
				(unsigned long long)total);
	}
	off += snprintf(sum + off, sizeof(sum) - off, " errors=%d", nerr);
	if (nerr && off < sizeof(sum))
		snprintf(sum + off, sizeof(sum) - off, " first: %s", sh->first);
	printf("%s\n", sum);
	return nerr ? 1 : 0;
}
