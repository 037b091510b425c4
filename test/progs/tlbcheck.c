// SPDX-License-Identifier: GPL-2.0
/*
 * tlbcheck [-n ROUNDS] [-c CASE]... [-S] [-l]
 *
 * TLB correctness seen from user mode. Every case first touches a page so
 * that its translation sits in the TLB (it reads it, and writes it where a
 * writable, dirty entry matters), has the kernel change that translation,
 * and then checks what user mode sees. A kernel that skips the flush of a
 * user address space -- with PCID and isolation on, one that forgets to
 * invalidate the user ASID -- leaves the old translation in the TLB, and
 * the case reads old (or freed) data, or a write or read that must fault
 * does not.
 *
 * The cases, and the stale translation each one catches:
 *   remap        one address is given a new page four ways each round:
 *                mmap(MAP_FIXED) of an anonymous page over a file page (must
 *                read zero, then what was written: a stale zero-page entry
 *                shows), mremap(MREMAP_FIXED) of another page over it (the
 *                old page's data shows; the mremap source must fault),
 *                mmap(MAP_FIXED) of a shared file page, and munmap (the read
 *                must fault) + mmap(MAP_FIXED).
 *   mprotect     PROT_READ after a write cached a writable, dirty entry: a
 *                write must fault and change nothing; PROT_NONE after a read:
 *                a read must fault.
 *   cow          fork after the parent wrote all its pages (writable, dirty
 *                entries cached; with two CPUs also by a sibling thread that
 *                spins on the other CPU, so no context switch there flushes
 *                anything). At once after fork the parent writes the even
 *                pages: the child must still read the pre-fork data (through
 *                entries that survived fork's write-protect flush or its
 *                shootdown, the parent writes into the pages the child still
 *                shares). The child writes the odd pages: the parent must
 *                still read the pre-fork data. Then each writes all pages
 *                again and the other must still read its own. Children run
 *                on stacks of their own, so that such a leak shows in their
 *                checks rather than as a wrecked stack.
 *   dontneed     madvise(MADV_DONTNEED) of a whole range or of every other
 *                page: dropped pages must read zero, not the freed data;
 *                the others keep their data.
 *   munmap-race  a reader thread (pinned to another CPU when there is one)
 *                reads a page in a tight loop while the main thread
 *                munmaps it: the reader must fault (a missed shootdown lets
 *                it go on reading a freed page), and once a new page with
 *                other data is mapped there with MAP_FIXED it must read the
 *                new data, never the old; any other value is a failure.
 *   asid-reuse   24 processes, more than the kernel's 6 dynamic ASIDs per
 *                CPU, spread over the CPUs, each map a new page at the same
 *                address every round, check it, yield so that the CPU
 *                switches to another process (reusing ASIDs), and check it
 *                again: another process's data, or its own older data, must
 *                never show.
 *
 * Each case prints one line: "ok CASE DETAIL, C checks" or "FAIL CASE WHAT;
 * M of C checks failed, E errors" (WHAT is the first failure; an error is
 * a setup step that failed, not a check). Exit status 0 when every case
 * passed, 1 otherwise, 2 on bad usage.
 *
 *   -n ROUNDS  rounds per case (default 100; cow forks ROUNDS/4 times,
 *              munmap-race does ROUNDS/2). Measured for all six cases: 2-8 s
 *              in a 2-vCPU QEMU TCG guest with isolation on (cow's
 *              shootdowns between the vCPUs cost the most on a loaded
 *              host), 19-26 s in Bochs tigerlake with 1-2 CPUs. Outside -S
 *              a case stops after the round in which it failed.
 *   -c CASE    run only this case (repeatable)
 *   -l         list the cases, one a line
 *   -S         self-test of the checker: every check demands the outcome a
 *              stale translation would give (the old data, no fault)
 *              instead of the right one. On a correct kernel every check of
 *              every case must then fail, "M of C checks failed" with M = C
 *              and no error: each check tells the two outcomes apart.
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096UL
#define WORDS		(PAGE / 8)
#define MAGIC		0x544cULL		/* "TL" */
#define FIXED_VA	0x100000000000UL	/* 16 TiB: nothing else maps there */
#define COW_PAGES	32
#define CHILD_STACK	(64 * 1024)
#define DN_PAGES	16
#define ASID_PROCS	24
#define RACE_SLOTS	64			/* file pages munmap-race cycles through */
#define WAIT_NS		(10 * 1000000000LL)	/* for the other thread: Bochs is slow */
#define MAX_CASES	16

/*
 * Patterns: 16-bit magic, 8-bit tag (who wrote it), 24-bit generation,
 * 16-bit word index. Tag T_ZERO stands for a page of zeros.
 */
enum {
	T_ZERO, T_REMAP, T_PROT, T_PRE, T_PARENT, T_CHILD, T_DN, T_RACE,
	T_ASID,		/* + process index */
	T_FOREIGN = 0xff	/* what a write that must fault writes */
};

struct pat {
	unsigned int tag, gen;
};

static struct pat mkpat(unsigned int tag, unsigned int gen)
{
	struct pat p = { tag, gen };

	return p;
}

static const struct pat ZERO = { T_ZERO, 0 };

static uint64_t pat_word(struct pat p, unsigned int idx)
{
	if (p.tag == T_ZERO)
		return 0;
	return MAGIC << 48 | (uint64_t)(p.tag & 0xff) << 40 |
	       (uint64_t)(p.gen & 0xffffff) << 16 | (idx & 0xffff);
}

static unsigned int word_tag(uint64_t v)
{
	return v >> 40 & 0xff;
}

static unsigned int word_gen(uint64_t v)
{
	return v >> 16 & 0xffffff;
}

static const char *describe(uint64_t v, char *buf, size_t len)
{
	static const char *const tags[] = {
		"zero", "remap", "mprotect", "pre-fork", "parent", "child",
		"dontneed", "race",
	};
	unsigned int tag = word_tag(v);

	if (!v)
		snprintf(buf, len, "0");
	else if (v >> 48 != MAGIC)
		snprintf(buf, len, "%#llx (no pattern)", (unsigned long long)v);
	else if (tag == T_FOREIGN)
		snprintf(buf, len, "the write that should have faulted");
	else if (tag >= T_ASID)
		snprintf(buf, len, "process %u gen %u word %u", tag - T_ASID,
			 word_gen(v), (unsigned int)(v & 0xffff));
	else
		snprintf(buf, len, "%s gen %u word %u", tags[tag], word_gen(v),
			 (unsigned int)(v & 0xffff));
	return buf;
}

/* ---- results, shared with the children of a case ------------------- */

struct report {
	unsigned long checks, mismatches, errors;
	int taken;
	char first[240];
};

static struct report *rep;
static int selftest;
static unsigned int rounds = 100;
static int cpu_list[CPU_SETSIZE], ncpus;

static void vnote(unsigned long *counter, const char *fmt, va_list ap)
{
	char msg[sizeof(rep->first)];

	__atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&rep->taken, __ATOMIC_SEQ_CST))
		return;
	/* formatted first: a process that dies meanwhile takes nothing */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!__atomic_exchange_n(&rep->taken, 1, __ATOMIC_SEQ_CST))
		memcpy(rep->first, msg, sizeof(msg));
}

/* A check that failed. */
static void __attribute__((format(printf, 1, 2))) mismatch(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(&rep->mismatches, fmt, ap);
	va_end(ap);
}

/* A setup step that failed: not a check, the case cannot go on. */
static void __attribute__((format(printf, 1, 2))) error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(&rep->errors, fmt, ap);
	va_end(ap);
}

/*
 * The verdict of one check: whether the right outcome (fresh) was seen,
 * or under -S the outcome of a stale translation (stale).
 */
static int verdict(int fresh, int stale)
{
	return selftest ? stale : fresh;
}

static int judge(int fresh, int stale)
{
	__atomic_add_fetch(&rep->checks, 1, __ATOMIC_SEQ_CST);
	return verdict(fresh, stale);
}

/*
 * Whether the case should stop at the end of this round: it failed (a
 * kernel that leaves stale entries soon has user memory corrupted beyond
 * a clear report), or could not go on. -S runs every round.
 */
static int stop_now(void)
{
	return rep->errors || (!selftest && rep->mismatches);
}

/* ---- pages ----------------------------------------------------------- */

static void fill(volatile uint64_t *p, unsigned int idx0, struct pat pat)
{
	unsigned int i;

	for (i = 0; i < WORDS; i++)
		p[i] = pat_word(pat, idx0 + i);
}

/* Read every word, so the translation is in the TLB; checks nothing. */
static void touch(const volatile uint64_t *p)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < WORDS; i++)
		sum += p[i];
	__asm__ volatile("" : : "r"(sum));
}

/*
 * One check of a whole page: it must hold fresh; a stale translation
 * shows stale. idx0 is the index of its first word in the pattern.
 */
static int check_page(const char *what, const volatile uint64_t *p,
		      unsigned int idx0, struct pat fresh, struct pat stale)
{
	unsigned int i, bad_f = WORDS, bad_s = WORDS;
	uint64_t v, seen_f = 0, seen_s = 0;
	char b1[64], b2[64];

	for (i = 0; i < WORDS && (bad_f == WORDS || bad_s == WORDS); i++) {
		v = p[i];
		if (bad_f == WORDS && v != pat_word(fresh, idx0 + i)) {
			bad_f = i;
			seen_f = v;
		}
		if (bad_s == WORDS && v != pat_word(stale, idx0 + i)) {
			bad_s = i;
			seen_s = v;
		}
	}
	if (judge(bad_f == WORDS, bad_s == WORDS))
		return 1;
	if (selftest)
		mismatch("%s: word %u reads %s, -S wants %s", what, bad_s,
			 describe(seen_s, b1, sizeof(b1)),
			 describe(pat_word(stale, idx0 + bad_s), b2, sizeof(b2)));
	else
		mismatch("%s: word %u reads %s, want %s", what, bad_f,
			 describe(seen_f, b1, sizeof(b1)),
			 describe(pat_word(fresh, idx0 + bad_f), b2, sizeof(b2)));
	return 0;
}

/* ---- accesses that may fault ---------------------------------------- */

static __thread sigjmp_buf *fault_jb;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (fault_jb)
		siglongjmp(*fault_jb, sig);
	/* Not expected: the access is retried and the default action kills. */
	signal(sig, SIG_DFL);
}

/* Read (write = 0) or write one word; 0, or the signal it raised. */
static int access_word(volatile uint64_t *p, uint64_t *val, int write)
{
	volatile uint64_t *volatile vp = p;
	uint64_t *volatile vval = val;
	volatile int vwrite = write;
	sigjmp_buf jb;
	int sig;

	sig = sigsetjmp(jb, 0);
	if (!sig) {
		fault_jb = &jb;
		if (vwrite)
			*vp = *vval;
		else
			*vval = *vp;
	}
	fault_jb = NULL;
	return sig;
}

/* One check: this access must fault (a stale translation lets it through). */
static int check_fault(const char *what, volatile uint64_t *p, int write)
{
	uint64_t val = pat_word(mkpat(T_FOREIGN, 0), 0);
	int sig = access_word(p, &val, write);

	if (judge(sig != 0, sig == 0))
		return 1;
	if (selftest)
		mismatch("%s: %s raised signal %d, -S wants no fault", what,
			 write ? "the write" : "the read", sig);
	else
		mismatch("%s: %s did not fault%s", what,
			 write ? "the write" : "the read",
			 write ? "" : " (stale translation)");
	return 0;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Give the CPU away briefly: to a thread on the same CPU, or to nothing. */
static void pause_briefly(unsigned long n)
{
	struct timespec ts = { 0, 20000 };

	if (n % 64 == 63)
		nanosleep(&ts, NULL);
	else
		sched_yield();
}

/* A memfd of n pages, or -1 (reported). */
static int file_pages(const char *name, unsigned int n)
{
	int fd = memfd_create(name, 0);

	if (fd < 0) {
		error("memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)n * PAGE)) {
		error("ftruncate: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Write pattern pat into page slot of the file behind fd. */
static int file_fill(int fd, unsigned int slot, struct pat pat)
{
	uint64_t buf[WORDS];
	unsigned int i;

	for (i = 0; i < WORDS; i++)
		buf[i] = pat_word(pat, i);
	if (pwrite(fd, buf, PAGE, (off_t)slot * PAGE) != (ssize_t)PAGE) {
		error("pwrite: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void *map_at(void *addr, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(addr, PAGE, prot, flags | (addr ? MAP_FIXED : 0), fd, off);

	if (p == MAP_FAILED) {
		error("mmap%s: %s", addr ? "(MAP_FIXED)" : "", strerror(errno));
		return NULL;
	}
	return p;
}

#define RW	(PROT_READ | PROT_WRITE)
#define ANON	(MAP_PRIVATE | MAP_ANONYMOUS)

/* n stacks for spawn(), or NULL (reported) */
static char *child_stacks(unsigned int n)
{
	void *p = mmap(NULL, (size_t)n * CHILD_STACK, RW, ANON | MAP_STACK, -1, 0);

	if (p == MAP_FAILED) {
		error("mmap: %s", strerror(errno));
		return NULL;
	}
	return p;
}

/*
 * A child process running fn(arg) on a stack of its own (from
 * child_stacks()), which the parent never writes: a parent that writes
 * through entries surviving fork's flush would otherwise wreck the
 * child's stack, a page they still share, before the child's checks
 * could report it. -1 on failure (reported).
 */
static pid_t spawn(int (*fn)(void *), void *arg, char *stack)
{
	pid_t pid;

	fflush(stdout);
	pid = clone(fn, stack + CHILD_STACK, SIGCHLD, arg);
	if (pid < 0)
		error("clone: %s", strerror(errno));
	return pid;
}

/* ---- remap ------------------------------------------------------------ */

static void case_remap(char *detail, size_t len)
{
	volatile uint64_t *a, *b;
	struct pat cur, next;
	unsigned int r, gen = 0;
	int fd;

	snprintf(detail, len, "%u rounds of mmap(MAP_FIXED) anonymous, mremap(MREMAP_FIXED), mmap(MAP_FIXED) file, munmap+mmap",
		 rounds);
	fd = file_pages("tlbcheck-remap", 2);
	if (fd < 0)
		return;
	a = map_at(NULL, RW, ANON, -1, 0);
	if (!a)
		goto out;
	cur = mkpat(T_REMAP, ++gen);
	fill(a, 0, cur);
	for (r = 0; r < rounds && !stop_now(); r++) {
		/* 1: a new anonymous page over whatever is there */
		touch(a);
		if (!map_at((void *)a, RW, ANON, -1, 0))
			break;
		check_page("mmap(MAP_FIXED) anonymous", a, 0, ZERO, cur);
		next = mkpat(T_REMAP, ++gen);
		fill(a, 0, next);
		check_page("first write to it", a, 0, next, ZERO);
		cur = next;

		/* 2: another page moved over it; the source is gone */
		b = map_at(NULL, RW, ANON, -1, 0);
		if (!b)
			break;
		next = mkpat(T_REMAP, ++gen);
		fill(b, 0, next);
		touch(a);
		touch(b);
		if (mremap((void *)b, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
			   (void *)a) != (void *)a) {
			error("mremap: %s", strerror(errno));
			break;
		}
		check_page("mremap(MREMAP_FIXED) target", a, 0, next, cur);
		check_fault("mremap source", b, 0);
		cur = next;

		/* 3: a shared file page mapped over it */
		next = mkpat(T_REMAP, ++gen);
		if (file_fill(fd, 0, next))
			break;
		touch(a);
		if (!map_at((void *)a, RW, MAP_SHARED, fd, 0))
			break;
		check_page("mmap(MAP_FIXED) file page", a, 0, next, cur);
		cur = next;

		/* 4: munmap, then another file page at the same address */
		next = mkpat(T_REMAP, ++gen);
		if (file_fill(fd, 1, next))
			break;
		touch(a);
		if (munmap((void *)a, PAGE)) {
			error("munmap: %s", strerror(errno));
			break;
		}
		check_fault("after munmap", a, 0);
		if (!map_at((void *)a, RW, MAP_SHARED, fd, PAGE))
			break;
		check_page("munmap + mmap(MAP_FIXED)", a, 0, next, cur);
		cur = next;
	}
	munmap((void *)a, PAGE);
out:
	close(fd);
}

/* ---- mprotect --------------------------------------------------------- */

static void case_mprotect(char *detail, size_t len)
{
	volatile uint64_t *a;
	unsigned int r, w;
	struct pat cur;
	uint64_t v;
	char b1[64], b2[64];

	snprintf(detail, len, "%u rounds of PROT_READ (write faults) and PROT_NONE (read faults)",
		 rounds);
	a = map_at(NULL, RW, ANON, -1, 0);
	if (!a)
		return;
	for (r = 0; r < rounds && !stop_now(); r++) {
		cur = mkpat(T_PROT, r + 1);
		fill(a, 0, cur);
		touch(a);
		if (mprotect((void *)a, PAGE, PROT_READ)) {
			error("mprotect(PROT_READ): %s", strerror(errno));
			break;
		}
		w = r % WORDS;
		check_fault("mprotect(PROT_READ) after a write", a + w, 1);
		/* The write must not have landed (check_fault wrote a foreign value). */
		v = a[w];
		if (!judge(v == pat_word(cur, w), v != pat_word(cur, w)))
			mismatch("mprotect(PROT_READ): word %u reads %s, %s %s", w,
				 describe(v, b1, sizeof(b1)),
				 selftest ? "-S wants anything but" : "want",
				 describe(pat_word(cur, w), b2, sizeof(b2)));
		touch(a);
		if (mprotect((void *)a, PAGE, PROT_NONE)) {
			error("mprotect(PROT_NONE): %s", strerror(errno));
			break;
		}
		check_fault("mprotect(PROT_NONE) after a read", a + w, 0);
		if (mprotect((void *)a, PAGE, RW)) {
			error("mprotect(PROT_READ|PROT_WRITE): %s", strerror(errno));
			break;
		}
	}
	munmap((void *)a, PAGE);
}

/* ---- cow -------------------------------------------------------------- */

/*
 * The parent writes the even pages after fork: its main thread, and with
 * more than one CPU a sibling thread that spins on another CPU (pages 2
 * mod 4), so that no context switch there can flush what fork's
 * shootdown should have. The child writes the odd pages.
 */
enum { C_ALL, C_EVEN, C_ODD, C_MAIN, C_SIB };
static int cow_sib;

static int cow_sel(unsigned int p, int which)
{
	switch (which) {
	case C_EVEN:
		return !(p & 1);
	case C_ODD:
		return p & 1;
	case C_MAIN:
		return !(p & 1) && !(cow_sib && (p & 2));
	case C_SIB:
		return cow_sib && (p & 3) == 2;
	}
	return 1;
}

static void cow_check(const char *what, volatile uint64_t *base, int which,
		      struct pat fresh, struct pat stale)
{
	unsigned int p;

	for (p = 0; p < COW_PAGES; p++)
		if (cow_sel(p, which) &&
		    !check_page(what, base + p * WORDS, p * WORDS, fresh, stale))
			return;
}

static void cow_fill(volatile uint64_t *base, int which, struct pat pat)
{
	unsigned int p;

	for (p = 0; p < COW_PAGES; p++)
		if (cow_sel(p, which))
			fill(base + p * WORDS, p * WORDS, pat);
}

struct sibling {
	volatile uint64_t *m;
	struct pat pat;
	int which;			/* -1: stop */
	unsigned int req, done;		/* last request made, last one done */
	int cpu;
	int wake[2];			/* a byte starts a round, or stops */
};

/*
 * Blocks between rounds; within a round (C_ALL before fork to C_SIB after
 * it) it spins without a system call, so nothing else runs on its CPU.
 */
static void *cow_sibling(void *arg)
{
	struct sibling *sb = arg;
	unsigned int req, seen = 0;
	int idle = 1;
	char c;

	pin(sb->cpu);
	for (;;) {
		if (idle && read(sb->wake[0], &c, 1) != 1)
			return NULL;
		idle = 0;
		req = __atomic_load_n(&sb->req, __ATOMIC_ACQUIRE);
		if (req == seen) {
			__builtin_ia32_pause();
			continue;
		}
		if (sb->which < 0)
			return NULL;
		cow_fill(sb->m, sb->which, sb->pat);
		idle = sb->which == C_SIB;
		seen = req;
		__atomic_store_n(&sb->done, req, __ATOMIC_RELEASE);
	}
}

/* Have the sibling fill pages (or stop: which = -1), and wait for it. */
static void sibling_fill(struct sibling *sb, int which, struct pat pat)
{
	char c = 1;

	if (!cow_sib)
		return;
	sb->which = which;
	sb->pat = pat;
	__atomic_add_fetch(&sb->req, 1, __ATOMIC_ACQ_REL);
	if ((which == C_ALL || which < 0) && write(sb->wake[1], &c, 1) != 1)
		error("write: %s", strerror(errno));
	while (which >= 0 && __atomic_load_n(&sb->done, __ATOMIC_ACQUIRE) != sb->req)
		__builtin_ia32_pause();
}

static void cow_touch(volatile uint64_t *base)
{
	unsigned int p;

	for (p = 0; p < COW_PAGES; p++)
		touch(base + p * WORDS);
}

static void tell(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		_exit(3);
}

/* Wait for the other side; 0 if it is gone. */
static int hear(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

/* Generations of round r: 0 before fork, 1 first writes, 2 second writes. */
#define CG(r, k)	((r) * 3 + (k))

static void cow_child(volatile uint64_t *m, unsigned int r, int in, int out)
{
	struct pat pre = mkpat(T_PRE, CG(r, 0));

	cow_touch(m);
	if (!hear(in))
		_exit(3);
	/*
	 * The parent wrote the even pages at once after fork; ours are still
	 * the shared ones. A reused ASID may still hold the odd pages of the
	 * previous child.
	 */
	cow_check("child, even pages after the parent wrote them", m, C_EVEN,
		  pre, mkpat(T_PARENT, CG(r, 1)));
	cow_check("child, odd pages after fork", m, C_ODD, pre,
		  mkpat(T_CHILD, CG(r - 1, 2)));
	cow_fill(m, C_ODD, mkpat(T_CHILD, CG(r, 1)));
	cow_check("child, odd pages after its own write", m, C_ODD,
		  mkpat(T_CHILD, CG(r, 1)), pre);
	tell(out);
	if (!hear(in))
		_exit(3);
	cow_check("child, even pages after the parent's second write", m, C_EVEN,
		  pre, mkpat(T_PARENT, CG(r, 2)));
	cow_check("child, odd pages after the parent's second write", m, C_ODD,
		  mkpat(T_CHILD, CG(r, 1)), mkpat(T_PARENT, CG(r, 2)));
	cow_fill(m, C_ALL, mkpat(T_CHILD, CG(r, 2)));
	tell(out);
	_exit(0);
}

static struct cow_arg {
	volatile uint64_t *m;
	unsigned int r;
	int in, out;		/* the child's ends of the pipes */
	int p_out, p_in;	/* the parent's, closed in the child */
} cow_arg;

static int cow_child_main(void *arg)
{
	struct cow_arg *a = arg;

	close(a->p_out);
	close(a->p_in);
	cow_child(a->m, a->r, a->in, a->out);
	return 0;
}

static void case_cow(char *detail, size_t len)
{
	unsigned int r, forks = rounds / 4 ? rounds / 4 : 1;
	struct sibling *sb;
	int p2c[2], c2p[2], st, err;
	char *stack = NULL;
	volatile uint64_t *m;
	cpu_set_t saved;
	struct pat pre;
	pthread_t th;
	pid_t pid;

	if (ncpus > 1)
		snprintf(detail, len, "%u forks x %d pages, parent (threads on cpus %d and %d) and child writing first",
			 forks, COW_PAGES, cpu_list[0], cpu_list[1]);
	else
		snprintf(detail, len, "%u forks x %d pages, parent and child writing first",
			 forks, COW_PAGES);
	sched_getaffinity(0, sizeof(saved), &saved);
	m = mmap(NULL, COW_PAGES * PAGE, RW, ANON, -1, 0);
	/*
	 * Shared, not private: the threads must agree on it even if stale
	 * entries made them see different copies of their private memory.
	 */
	sb = mmap(NULL, sizeof(*sb), RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || sb == MAP_FAILED) {
		error("mmap: %s", strerror(errno));
		return;
	}
	sb->m = m;
	sb->cpu = ncpus > 1 ? cpu_list[1] : -1;
	cow_sib = 0;
	if (ncpus > 1) {
		if (pipe(sb->wake)) {
			error("pipe: %s", strerror(errno));
			goto out;
		}
		pin(cpu_list[0]);
		err = pthread_create(&th, NULL, cow_sibling, sb);
		if (err) {
			error("pthread_create: %s", strerror(err));
			goto out;
		}
		cow_sib = 1;
	}
	stack = child_stacks(1);
	for (r = 1; r <= forks && stack && !stop_now(); r++) {
		/* writable, dirty entries cached on both CPUs */
		pre = mkpat(T_PRE, CG(r, 0));
		cow_fill(m, C_ALL, pre);
		sibling_fill(sb, C_ALL, pre);
		cow_touch(m);
		if (pipe(p2c) || pipe(c2p)) {
			error("pipe: %s", strerror(errno));
			break;
		}
		cow_arg.m = m;
		cow_arg.r = r;
		cow_arg.in = p2c[0];
		cow_arg.out = c2p[1];
		cow_arg.p_out = p2c[1];
		cow_arg.p_in = c2p[0];
		pid = spawn(cow_child_main, &cow_arg, stack);
		if (pid < 0)
			break;
		close(p2c[0]);
		close(c2p[1]);
		/*
		 * At once, before anything switches this CPU to another
		 * process: through a writable entry that survived fork's
		 * flush, these writes land in the pages the child shares.
		 */
		cow_fill(m, C_MAIN, mkpat(T_PARENT, CG(r, 1)));
		sibling_fill(sb, C_SIB, mkpat(T_PARENT, CG(r, 1)));
		cow_check("parent, even pages after its own write", m, C_EVEN,
			  mkpat(T_PARENT, CG(r, 1)), pre);
		cow_touch(m);
		tell(p2c[1]);
		if (!hear(c2p[0]))
			goto gone;
		cow_check("parent, odd pages after the child wrote them", m, C_ODD,
			  pre, mkpat(T_CHILD, CG(r, 1)));
		cow_fill(m, C_ALL, mkpat(T_PARENT, CG(r, 2)));
		tell(p2c[1]);
		if (!hear(c2p[0]))
			goto gone;
		cow_check("parent after the child's second write", m, C_ALL,
			  mkpat(T_PARENT, CG(r, 2)), mkpat(T_CHILD, CG(r, 2)));
gone:
		close(p2c[1]);
		close(c2p[0]);
		if (waitpid(pid, &st, 0) != pid)
			error("waitpid: %s", strerror(errno));
		else if (!WIFEXITED(st) || WEXITSTATUS(st))
			error("child of round %u: %s %d", r,
			      WIFEXITED(st) ? "exit" : "signal",
			      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	if (stack)
		munmap(stack, CHILD_STACK);
	if (cow_sib) {
		sibling_fill(sb, -1, ZERO);
		pthread_join(th, NULL);
		close(sb->wake[0]);
		close(sb->wake[1]);
	}
out:
	sched_setaffinity(0, sizeof(saved), &saved);
	munmap(sb, sizeof(*sb));
	munmap((void *)m, COW_PAGES * PAGE);
}

/* ---- dontneed --------------------------------------------------------- */

static void case_dontneed(char *detail, size_t len)
{
	volatile uint64_t *m, *pg;
	unsigned int r, p;
	struct pat cur;
	int whole;

	snprintf(detail, len, "%u rounds x %d pages, whole range or every other page",
		 rounds, DN_PAGES);
	m = mmap(NULL, DN_PAGES * PAGE, RW, ANON, -1, 0);
	if (m == MAP_FAILED) {
		error("mmap: %s", strerror(errno));
		return;
	}
	for (r = 0; r < rounds && !stop_now(); r++) {
		cur = mkpat(T_DN, r + 1);
		whole = !(r & 1);
		for (p = 0; p < DN_PAGES; p++) {
			fill(m + p * WORDS, p * WORDS, cur);
			touch(m + p * WORDS);
		}
		for (p = whole ? 0 : 1; p < DN_PAGES; p += whole ? DN_PAGES : 2)
			if (madvise((void *)(m + p * WORDS),
				    whole ? DN_PAGES * PAGE : PAGE, MADV_DONTNEED)) {
				error("madvise: %s", strerror(errno));
				goto out;
			}
		for (p = 0; p < DN_PAGES; p++) {
			pg = m + p * WORDS;
			if (whole || (p & 1))
				check_page("after MADV_DONTNEED", pg, p * WORDS, ZERO, cur);
			else
				check_page("page MADV_DONTNEED left alone", pg, p * WORDS,
					   cur, ZERO);
		}
	}
out:
	munmap((void *)m, DN_PAGES * PAGE);
}

/* ---- munmap-race ------------------------------------------------------ */

struct race {
	volatile uint64_t *page;
	unsigned int state;		/* gen << 1 | 1 while unmapped */
	unsigned int stop;
	unsigned long last_gen;		/* newest generation the reader read */
	unsigned long reads, faults;
	int cpu;
};

/*
 * A read by the reader thread, in state s (loaded before the read): gen g
 * mapped (g + 1 may be mapped by now), or gen g unmapped (g + 1 may be
 * mapped by now). Anything older than that is a stale translation.
 */
static void race_read(struct race *rc, unsigned int s, unsigned int idx, uint64_t v)
{
	unsigned int g = s >> 1, first = g + (s & 1), gv = word_gen(v);
	int known = v == pat_word(mkpat(T_RACE, gv), idx);
	char b1[64];

	if (known && gv > rc->last_gen)
		__atomic_store_n(&rc->last_gen, gv, __ATOMIC_RELEASE);
	if (verdict(known && gv >= first && gv <= g + 1, known && gv + 1 == first))
		return;
	mismatch("reader, page gen %u %s: word %u reads %s%s", g,
		 s & 1 ? "unmapped" : "mapped", idx, describe(v, b1, sizeof(b1)),
		 selftest ? ", -S wants the generation before" : "");
}

static void *race_reader(void *arg)
{
	struct race *rc = arg;
	volatile unsigned int s = 0, i = 0;
	sigjmp_buf jb;
	uint64_t v;

	pin(rc->cpu);
	if (sigsetjmp(jb, 0)) {
		__atomic_add_fetch(&rc->faults, 1, __ATOMIC_RELEASE);
		/* a fault is right in any state: the page may be gone already */
		if (!verdict(1, 0))
			mismatch("reader, page gen %u %s: the read faulted, -S wants no fault",
				 s >> 1, s & 1 ? "unmapped" : "mapped");
		if (rc->cpu < 0)
			sched_yield();
	}
	fault_jb = &jb;
	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		s = __atomic_load_n(&rc->state, __ATOMIC_ACQUIRE);
		v = rc->page[i % WORDS];
		rc->reads++;
		race_read(rc, s, i % WORDS, v);
		/*
		 * Sharing the one CPU with the main thread, which waits for it:
		 * yield now and then rather than spin through whole time
		 * slices (a switch between threads of one mm flushes nothing).
		 */
		if (!(++i % 256) && rc->cpu < 0)
			sched_yield();
	}
	fault_jb = NULL;
	return NULL;
}

/* Wait until *p >= want, or WAIT_NS; returns whether it got there. */
static int wait_for(unsigned long *p, unsigned long want)
{
	long long end = now_ns() + WAIT_NS;
	unsigned long n = 0;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
		if (now_ns() > end)
			return 0;
		pause_briefly(n++);
	}
	return 1;
}

static void case_munmap_race(char *detail, size_t len)
{
	unsigned int r, gen = 1, n = rounds / 2 ? rounds / 2 : 1;
	struct race rc = { .cpu = ncpus > 1 ? cpu_list[1] : -1 };
	volatile uint64_t *a = NULL;
	unsigned long faults;
	cpu_set_t saved;
	pthread_t th;
	int fd, ok, err;

	sched_getaffinity(0, sizeof(saved), &saved);
	fd = file_pages("tlbcheck-race", RACE_SLOTS);
	if (fd < 0 || file_fill(fd, gen % RACE_SLOTS, mkpat(T_RACE, gen)))
		goto out;
	a = map_at(NULL, PROT_READ, MAP_SHARED, fd, (off_t)(gen % RACE_SLOTS) * PAGE);
	if (!a)
		goto out;
	rc.page = a;
	rc.state = gen << 1;
	if (ncpus > 1)
		pin(cpu_list[0]);
	err = pthread_create(&th, NULL, race_reader, &rc);
	if (err) {
		error("pthread_create: %s", strerror(err));
		goto out;
	}
	for (r = 0; r < n && !stop_now(); r++) {
		/* the reader has the page's translation */
		ok = wait_for(&rc.last_gen, gen);
		if (!judge(ok, !ok))
			mismatch("reader %s gen %u, the page mapped now%s",
				 ok ? "read" : "never read", gen,
				 ok ? ", -S wants it not to" : "");
		if (!ok)
			break;
		touch(a);
		faults = __atomic_load_n(&rc.faults, __ATOMIC_ACQUIRE);
		if (munmap((void *)a, PAGE)) {
			error("munmap: %s", strerror(errno));
			break;
		}
		__atomic_store_n(&rc.state, gen << 1 | 1, __ATOMIC_RELEASE);
		check_fault("main thread after munmap", a, 0);
		ok = wait_for(&rc.faults, faults + 1);
		if (!judge(ok, !ok))
			mismatch("reader %s within %llds of munmap of gen %u%s",
				 ok ? "faulted" : "did not fault",
				 WAIT_NS / 1000000000LL, gen,
				 ok ? ", -S wants no fault" : " (reading a stale translation?)");
		if (!ok)
			break;
		gen++;
		if (file_fill(fd, gen % RACE_SLOTS, mkpat(T_RACE, gen)) ||
		    !map_at((void *)a, PROT_READ, MAP_SHARED, fd,
			    (off_t)(gen % RACE_SLOTS) * PAGE))
			break;
		__atomic_store_n(&rc.state, gen << 1, __ATOMIC_RELEASE);
		check_page("main thread after the new mmap", a, 0,
			   mkpat(T_RACE, gen), mkpat(T_RACE, gen - 1));
	}
	if (!rep->errors && !rep->mismatches) {
		ok = wait_for(&rc.last_gen, gen);
		if (!judge(ok, !ok))
			mismatch("reader never read the last gen %u", gen);
	}
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	__atomic_add_fetch(&rep->checks, rc.reads + rc.faults, __ATOMIC_SEQ_CST);
	if (rc.cpu >= 0)
		snprintf(detail, len, "%u rounds, reader on cpu %d, munmap on cpu %d: %lu reads, %lu faults",
			 n, rc.cpu, cpu_list[0], rc.reads, rc.faults);
	else
		snprintf(detail, len, "%u rounds, reader and munmap on the one CPU: %lu reads, %lu faults",
			 n, rc.reads, rc.faults);
out:
	sched_setaffinity(0, sizeof(saved), &saved);
	if (a)
		munmap((void *)a, PAGE);
	if (fd >= 0)
		close(fd);
}

/* ---- asid-reuse ------------------------------------------------------- */

static int asid_start[2];	/* the start pipe */

static int asid_proc(void *arg)
{
	unsigned int me = (uintptr_t)arg;
	volatile uint64_t *a = (volatile uint64_t *)FIXED_VA;
	struct pat prev, mine, other;
	unsigned int r;
	char c;

	if (ncpus > 1)
		pin(cpu_list[me % ncpus]);
	close(asid_start[1]);
	if (read(asid_start[0], &c, 1) < 0)
		_exit(3);
	/* before its first page, a stale entry can only be another's */
	prev = mkpat(T_ASID + (me + 1) % ASID_PROCS, 1);
	for (r = 1; r <= rounds && !stop_now(); r++) {
		if (mmap((void *)a, PAGE, RW, ANON | MAP_FIXED, -1, 0) != (void *)a) {
			error("process %u: mmap(MAP_FIXED): %s", me, strerror(errno));
			_exit(1);
		}
		check_page("new page at the shared address", a, 0, ZERO, prev);
		mine = mkpat(T_ASID + me, r);
		other = mkpat(T_ASID + (me + 1) % ASID_PROCS, r);
		fill(a, 0, mine);
		check_page("after the first write", a, 0, mine, ZERO);
		sched_yield();
		check_page("after a yield", a, 0, mine, other);
		sched_yield();
		check_page("after a second yield", a, 0, mine, other);
		prev = mine;
	}
	_exit(0);
}

static void case_asid_reuse(char *detail, size_t len)
{
	struct rusage ru;
	pid_t pids[ASID_PROCS];
	unsigned int i, n = 0;
	char *stacks;
	int st;

	stacks = child_stacks(ASID_PROCS);
	if (!stacks)
		return;
	if (pipe(asid_start)) {
		error("pipe: %s", strerror(errno));
		munmap(stacks, ASID_PROCS * CHILD_STACK);
		return;
	}
	for (i = 0; i < ASID_PROCS; i++) {
		pids[i] = spawn(asid_proc, (void *)(uintptr_t)i,
				stacks + i * CHILD_STACK);
		if (pids[i] < 0)
			break;
		n++;
	}
	/* all start at once: their reads of the pipe see end of file */
	close(asid_start[1]);
	close(asid_start[0]);
	for (i = 0; i < n; i++) {
		if (waitpid(pids[i], &st, 0) != pids[i])
			error("waitpid: %s", strerror(errno));
		else if (!WIFEXITED(st) || WEXITSTATUS(st))
			error("process %u: %s %d", i, WIFEXITED(st) ? "exit" : "signal",
			      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	munmap(stacks, ASID_PROCS * CHILD_STACK);
	getrusage(RUSAGE_CHILDREN, &ru);
	snprintf(detail, len, "%u processes x %u rounds at %#lx on %d CPUs, %ld context switches so far",
		 n, rounds, FIXED_VA, ncpus, ru.ru_nvcsw + ru.ru_nivcsw);
}

/* ---- main ------------------------------------------------------------- */

static const struct tcase {
	const char *name;
	void (*run)(char *detail, size_t len);
} cases[] = {
	{ "remap", case_remap },
	{ "mprotect", case_mprotect },
	{ "cow", case_cow },
	{ "dontneed", case_dontneed },
	{ "munmap-race", case_munmap_race },
	{ "asid-reuse", case_asid_reuse },
};
#define NCASES	(sizeof(cases) / sizeof(cases[0]))

static void usage(void)
{
	fprintf(stderr, "usage: tlbcheck [-n ROUNDS] [-c CASE]... [-S] [-l]\n");
	exit(2);
}

static int run_case(const struct tcase *c)
{
	char detail[200] = "";
	int ok;

	memset(rep, 0, sizeof(*rep));
	c->run(detail, sizeof(detail));
	ok = !rep->mismatches && !rep->errors && rep->checks;
	if (ok)
		printf("ok %s %s, %lu checks\n", c->name, detail, rep->checks);
	else
		printf("FAIL %s %s; %lu of %lu checks failed, %lu errors\n", c->name,
		       rep->taken ? rep->first : "no check ran", rep->mismatches,
		       rep->checks, rep->errors);
	fflush(stdout);
	return ok;
}

int main(int argc, char **argv)
{
	const char *only[MAX_CASES];
	struct sigaction sa;
	unsigned int i, j;
	int opt, nonly = 0, all_ok = 1, found;
	cpu_set_t set;
	char *end;
	long n;

	while ((opt = getopt(argc, argv, "n:c:Sl")) != -1) {
		switch (opt) {
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 1000000)
				usage();
			rounds = n;
			break;
		case 'c':
			for (j = 0; j < NCASES && strcmp(optarg, cases[j].name); j++)
				;
			if (j == NCASES) {
				fprintf(stderr, "tlbcheck: no case '%s' (-l lists them)\n", optarg);
				exit(2);
			}
			if (nonly == MAX_CASES)
				usage();
			only[nonly++] = optarg;
			break;
		case 'S':
			selftest = 1;
			break;
		case 'l':
			for (j = 0; j < NCASES; j++)
				printf("%s\n", cases[j].name);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	/* SA_NODEFER: siglongjmp leaves without restoring the signal mask. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				cpu_list[ncpus++] = i;

	rep = mmap(NULL, sizeof(*rep), RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED) {
		perror("tlbcheck: mmap");
		return 1;
	}
	for (i = 0; i < NCASES; i++) {
		found = !nonly;
		for (j = 0; j < (unsigned int)nonly; j++)
			found |= !strcmp(only[j], cases[i].name);
		if (found && !run_case(&cases[i]))
			all_ok = 0;
	}
	return all_ok ? 0 : 1;
}
