// SPDX-License-Identifier: GPL-2.0
/*
 * bench [-t MS] [-r RUNS] [-v] [-s RUNS [-S MS] [-w MS] [-m FD]] [WORKLOAD...]
 *
 * Micro-benchmarks of the costs page-table isolation adds: kernel entry
 * and exit, context switches, page faults, mm creation and teardown.
 *
 *   getppid  syscall(SYS_getppid) round trip            ns per call
 *   pipe     one byte each way between two processes    ns per round trip
 *   fault    mmap 1 MiB anonymous (MADV_NOHUGEPAGE),    ns per page fault
 *            write each page once, munmap (the mmap and
 *            munmap cost is shared among the 256 faults)
 *   fork     fork + child _exit + waitpid               ns per fork
 *   exec     fork + execve + waitpid of a tiny static   ns per exec
 *            program (a 129-byte ELF that only exits,
 *            written to $TMPDIR or /tmp)
 *
 * Guest clock (always): each workload is calibrated (one warm-up
 * operation; iterations doubled until a pass takes a quarter of -t; the
 * best of three such passes scaled) to about MS milliseconds per run
 * (-t, default 10), then RUNS rounds (-r, default 30) run every workload
 * once each, interleaved, so a burst of host noise spreads over all of
 * them. Times from CLOCK_MONOTONIC. The best run is the figure to compare:
 * on a shared host, noise only adds time, and under TCG the guest clock
 * follows the host's wall clock, so short runs give some runs a chance to
 * fit in one host time slice. -v prints every run's ns/op, in time order,
 * on stderr.
 *
 * Host-timed runs (-s RUNS, default 0): then RUNS more rounds, each
 * workload once per round, sized to -S MS (default 300) at the best speed
 * seen, between two marker lines written to file descriptor FD (-m,
 * default 1) in one write() each:
 *   BENCHSYNC begin <workload> <round>
 *   BENCHSYNC end <workload> <round> ops=<N> ns=<guest-clock ns/op>
 * After each marker the guest sleeps -w MS (default 150) so a host that
 * watches the serial console can read QEMU's CPU time while the guest is
 * idle: CPU time per operation does not count the time the host spent
 * running other jobs. One "idle 0" pair (4 pauses of sleep) comes first,
 * the guest's idle cost.
 *
 * Output, one line per workload (in the order given), guest clock:
 *   BENCH <workload> min=<ns> median=<ns> max=<ns> runs=<R> iters=<N>
 * with ns per operation (one decimal). Errors go to stderr, exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS	1000
#define FAULT_PAGES	256		/* 1 MiB per mmap */

static long page_size;
static char tiny_path[256];

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_msg(const char *msg)
{
	fprintf(stderr, "bench: %s\n", msg);
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die("clock_gettime");
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- workloads: each runs N operations and returns how many it did ---- */

static uint64_t do_getppid(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		syscall(SYS_getppid);
	return n;
}

static int ping[2], pong[2];
static pid_t echo_pid = -1;

static void pipe_start(void)
{
	char c;

	if (pipe(ping) || pipe(pong))
		die("pipe");
	echo_pid = fork();
	if (echo_pid < 0)
		die("fork");
	if (echo_pid == 0) {
		close(ping[1]);
		close(pong[0]);
		/* Echo every byte until the parent closes its end. */
		while (read(ping[0], &c, 1) == 1)
			if (write(pong[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(ping[0]);
	close(pong[1]);
}

static void pipe_stop(void)
{
	int st;

	if (echo_pid < 0)
		return;
	close(ping[1]);
	close(pong[0]);
	if (waitpid(echo_pid, &st, 0) != echo_pid)
		die("waitpid (pipe echo)");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die_msg("pipe echo child failed");
	echo_pid = -1;
}

static uint64_t do_pipe(uint64_t n)
{
	char c = 'x';

	for (uint64_t i = 0; i < n; i++) {
		if (write(ping[1], &c, 1) != 1)
			die("pipe write");
		if (read(pong[0], &c, 1) != 1)
			die("pipe read");
	}
	return n;
}

static uint64_t do_fault(uint64_t n)
{
	size_t len = FAULT_PAGES * page_size;

	for (uint64_t i = 0; i < n; i++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			die("mmap");
		/* One 4 KiB fault per page, never one 2 MiB fault. */
		madvise(p, len, MADV_NOHUGEPAGE);
		for (size_t off = 0; off < len; off += page_size)
			p[off] = 1;
		if (munmap(p, len))
			die("munmap");
	}
	return n * FAULT_PAGES;
}

static void reap(pid_t pid, const char *what)
{
	int st;

	if (pid < 0)
		die("fork");
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "bench: %s child ended with status 0x%x\n", what, st);
		exit(1);
	}
}

static uint64_t do_fork(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		reap(pid, "fork");
	}
	return n;
}

/*
 * The smallest static x86-64 program: an ELF header, one PT_LOAD header
 * and "xor edi,edi; mov eax,60; syscall" (exit(0)). exec then costs the
 * kernel's work (new mm, one mapping, a fault or two), not a libc's
 * start-up.
 */
static void make_tiny(void)
{
	static const unsigned char code[] = {
		0x31, 0xff,				/* xor %edi,%edi */
		0xb8, 0x3c, 0x00, 0x00, 0x00,		/* mov $60,%eax */
		0x0f, 0x05,				/* syscall */
	};
	unsigned char img[64 + 56 + sizeof(code)];
	const uint64_t base = 0x400000, hdrs = 64 + 56;
	const char *dir = getenv("TMPDIR");
	int fd;

	memset(img, 0, sizeof(img));
	/* Elf64_Ehdr */
	memcpy(img, "\177ELF\2\1\1", 7);	/* 64-bit, LSB, version 1 */
	*(uint16_t *)(img + 16) = 2;		/* e_type ET_EXEC */
	*(uint16_t *)(img + 18) = 62;		/* e_machine EM_X86_64 */
	*(uint32_t *)(img + 20) = 1;		/* e_version */
	*(uint64_t *)(img + 24) = base + hdrs;	/* e_entry */
	*(uint64_t *)(img + 32) = 64;		/* e_phoff */
	*(uint16_t *)(img + 52) = 64;		/* e_ehsize */
	*(uint16_t *)(img + 54) = 56;		/* e_phentsize */
	*(uint16_t *)(img + 56) = 1;		/* e_phnum */
	/* Elf64_Phdr */
	*(uint32_t *)(img + 64) = 1;		/* p_type PT_LOAD */
	*(uint32_t *)(img + 68) = 5;		/* p_flags R|X */
	*(uint64_t *)(img + 72) = 0;		/* p_offset */
	*(uint64_t *)(img + 80) = base;		/* p_vaddr */
	*(uint64_t *)(img + 88) = base;		/* p_paddr */
	*(uint64_t *)(img + 96) = sizeof(img);	/* p_filesz */
	*(uint64_t *)(img + 104) = sizeof(img);	/* p_memsz */
	*(uint64_t *)(img + 112) = 0x1000;	/* p_align */
	memcpy(img + hdrs, code, sizeof(code));

	snprintf(tiny_path, sizeof(tiny_path), "%s/bench-tiny.%d",
		 dir && *dir ? dir : "/tmp", (int)getpid());
	fd = open(tiny_path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0)
		die(tiny_path);
	if (write(fd, img, sizeof(img)) != (ssize_t)sizeof(img))
		die("write tiny program");
	if (close(fd))
		die("close tiny program");
}

static uint64_t do_exec(uint64_t n)
{
	static char *const envp[] = { NULL };
	char *const argv[] = { tiny_path, NULL };

	for (uint64_t i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			execve(tiny_path, argv, envp);
			_exit(127);
		}
		reap(pid, "exec");
	}
	return n;
}

/* ---- the driver --------------------------------------------------------- */

struct workload {
	const char *name;
	uint64_t (*run)(uint64_t n);
	uint64_t ops_per_iter;		/* operations per unit of run()'s n */
	uint64_t iters;
	int nres;
	double res[MAX_RUNS];
	int wanted;
};

static struct workload wl[] = {
	{ .name = "getppid", .run = do_getppid, .ops_per_iter = 1 },
	{ .name = "pipe", .run = do_pipe, .ops_per_iter = 1 },
	{ .name = "fault", .run = do_fault, .ops_per_iter = FAULT_PAGES },
	{ .name = "fork", .run = do_fork, .ops_per_iter = 1 },
	{ .name = "exec", .run = do_exec, .ops_per_iter = 1 },
};
#define NWL (int)(sizeof(wl) / sizeof(wl[0]))

/* One timed pass of N iterations: ns per operation. */
static double pass(struct workload *w, uint64_t n)
{
	double t0 = now_ns();
	uint64_t ops = w->run(n);

	return (now_ns() - t0) / ops;
}

/*
 * Iterations for about target_ns per run: one untimed warm-up operation
 * (the first fork or fault of a process costs several times the rest),
 * iterations doubled until a pass takes a quarter of the target, then the
 * best of three passes of that size scaled up (one pass slowed by host
 * noise would otherwise leave every run too short).
 */
static void calibrate(struct workload *w, double target_ns)
{
	uint64_t n = 1;
	double t, best;

	w->run(1);
	for (;;) {
		double t0 = now_ns();

		w->run(n);
		t = now_ns() - t0;
		if (t >= target_ns / 4 || n >= (1ULL << 40))
			break;
		n *= 2;
	}
	best = t;
	for (int k = 0; k < 3; k++) {
		double t0 = now_ns();

		w->run(n);
		t = now_ns() - t0;
		if (t < best)
			best = t;
	}
	n = (uint64_t)(n * (target_ns / (best > 1 ? best : 1)));
	w->iters = n ? n : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void sleep_ms(double ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A marker line for the host, written at once (one write()). */
static void marker(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void marker(int fd, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(buf) || write(fd, buf, n) != n)
		die("marker write");
}

/*
 * A host-timed run: the host reads QEMU's CPU time when it sees each
 * marker, while the guest idles for pause_ms, so the CPU time between the
 * two markers is this run's (and host preemption does not count).
 */
static void sync_run(struct workload *w, int r, double run_ms, double pause_ms, int fd)
{
	double best = w->res[0] * w->ops_per_iter, t0, t;
	uint64_t n = (uint64_t)(run_ms * 1e6 / (best > 1 ? best : 1)), ops;

	if (!n)
		n = 1;
	marker(fd, "BENCHSYNC begin %s %d\n", w->name, r);
	sleep_ms(pause_ms);
	t0 = now_ns();
	ops = w->run(n);
	t = now_ns() - t0;
	marker(fd, "BENCHSYNC end %s %d ops=%llu ns=%.1f\n", w->name, r,
	       (unsigned long long)ops, t / ops);
	sleep_ms(pause_ms);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench [-t MS] [-r RUNS] [-v] [-s RUNS [-S MS] [-w MS] [-m FD]]\n"
		"             [getppid|pipe|fault|fork|exec]...\n");
	exit(2);
}

static double num_arg(const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < lo || v > hi)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	double target_ms = 10, sync_ms = 300, pause_ms = 150;
	int runs = 30, sync_runs = 0, marker_fd = 1;
	int opt, i, r, any = 0, verbose = 0;

	while ((opt = getopt(argc, argv, "t:r:vs:S:w:m:")) != -1) {
		switch (opt) {
		case 'v':
			verbose = 1;
			break;
		case 't':
			target_ms = num_arg(optarg, 0.01, 60000);
			break;
		case 'r':
			runs = (int)num_arg(optarg, 1, MAX_RUNS);
			break;
		case 's':
			sync_runs = (int)num_arg(optarg, 0, 100);
			break;
		case 'S':
			sync_ms = num_arg(optarg, 1, 60000);
			break;
		case 'w':
			pause_ms = num_arg(optarg, 0, 10000);
			break;
		case 'm':
			marker_fd = (int)num_arg(optarg, 0, 1023);
			break;
		default:
			usage();
		}
	}
	for (; optind < argc; optind++) {
		for (i = 0; i < NWL; i++)
			if (!strcmp(argv[optind], wl[i].name))
				break;
		if (i == NWL) {
			fprintf(stderr, "bench: unknown workload '%s'\n", argv[optind]);
			usage();
		}
		if (!wl[i].wanted)
			wl[i].wanted = ++any;
	}
	for (i = 0; i < NWL; i++)
		if (!any)
			wl[i].wanted = i + 1;
	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (wl[4].wanted)
		make_tiny();
	if (wl[1].wanted)
		pipe_start();

	for (i = 0; i < NWL; i++)
		if (wl[i].wanted)
			calibrate(&wl[i], target_ms * 1e6);
	for (r = 0; r < runs; r++)
		for (i = 0; i < NWL; i++)
			if (wl[i].wanted)
				wl[i].res[wl[i].nres++] = pass(&wl[i], wl[i].iters);
	for (i = 0; i < NWL; i++) {
		struct workload *w = &wl[i];

		if (!w->wanted)
			continue;
		if (verbose) {
			fprintf(stderr, "%s:", w->name);
			for (r = 0; r < w->nres; r++)
				fprintf(stderr, " %.0f", w->res[r]);
			fprintf(stderr, "\n");
		}
		qsort(w->res, w->nres, sizeof(double), cmp_double);
	}

	if (sync_runs) {
		/* The guest's idle cost, for the host to judge the pauses by. */
		marker(marker_fd, "BENCHSYNC begin idle 0\n");
		sleep_ms(4 * pause_ms);
		marker(marker_fd, "BENCHSYNC end idle 0 ops=1 ns=%.1f\n", 4 * pause_ms * 1e6);
		sleep_ms(pause_ms);
	}
	for (r = 1; r <= sync_runs; r++)
		for (int k = 1; k <= any || (!any && k <= NWL); k++)
			for (i = 0; i < NWL; i++)
				if (wl[i].wanted == k)
					sync_run(&wl[i], r, sync_ms, pause_ms, marker_fd);

	pipe_stop();
	if (tiny_path[0])
		unlink(tiny_path);

	/* Report in the order the workloads were asked for. */
	for (int k = 1; k <= (any ? any : NWL); k++) {
		for (i = 0; i < NWL; i++) {
			struct workload *w = &wl[i];

			if (w->wanted != k)
				continue;
			printf("BENCH %s min=%.1f median=%.1f max=%.1f runs=%d iters=%llu\n",
			       w->name, w->res[0],
			       (w->res[(w->nres - 1) / 2] + w->res[w->nres / 2]) / 2,
			       w->res[w->nres - 1], w->nres,
			       (unsigned long long)w->iters);
		}
	}
	return 0;
}
