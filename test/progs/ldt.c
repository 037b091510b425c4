// SPDX-License-Identifier: GPL-2.0
/*
 * ldt [ROUNDS]: install an LDT with modify_ldt(), load a selector into
 * %gs (the CPU reads the descriptor through the current page table) and
 * read memory through it, in this process, in forked children (which
 * inherit the LDT) and after exec-free re-installs. Prints "ldt ok" and
 * exits 0 when every read returned the expected data.
 *
 * ldt hold SECONDS: install one LDT entry, print "ldt holding pid=N", then
 * keep loading the selector and reading through it (with a short sleep, a
 * system call, between reads) until SIGUSR1 arrives or SECONDS pass, so
 * that isolation can be switched, or the module loaded and unloaded,
 * while the process has an LDT in use, however slow the machine. Prints
 * "ldt ok" and exits 0 if every read was right.
 */
#include <asm/ldt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned int data[1024] = { 0x6b616973 };

static int install(unsigned int entry)
{
	struct user_desc d;

	memset(&d, 0, sizeof(d));
	d.entry_number = entry;
	d.base_addr = (unsigned int)(unsigned long)data;
	d.limit = sizeof(data) - 1;
	d.seg_32bit = 1;
	d.useable = 1;
	return syscall(SYS_modify_ldt, 1, &d, sizeof(d));
}

/* Load LDT selector @entry into %gs and read data[0] through it. */
static unsigned int read_through(unsigned int entry)
{
	unsigned short sel = (entry << 3) | 4 | 3;
	unsigned int v;

	asm volatile("mov %1, %%gs\n\tmovl %%gs:0, %0" : "=r"(v) : "r"(sel) : "memory");
	return v;
}

static volatile sig_atomic_t hold_stop;

static void on_usr1(int sig)
{
	(void)sig;
	hold_stop = 1;
}

static int hold(double secs)
{
	struct timespec nap = { 0, 1000 * 1000 }, t0, t;
	unsigned long reads = 0;

	signal(SIGUSR1, on_usr1);
	if (install(0)) {
		perror("ldt: modify_ldt");
		return 1;
	}
	printf("ldt holding pid=%d\n", (int)getpid());
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (read_through(0) != data[0]) {
			printf("ldt: wrong data through the LDT after %lu reads\n", reads);
			return 1;
		}
		reads++;
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!hold_stop &&
		 (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	printf("ldt ok: %lu reads\n", reads);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	int i, status;
	pid_t pid;

	if ((unsigned long)data > 0xffffffffUL) {
		printf("ldt: data above 4 GiB, cannot test\n");
		return 2;
	}
	if (argc > 2 && !strcmp(argv[1], "hold"))
		return hold(atof(argv[2]));
	for (i = 0; i < rounds; i++) {
		if (install(i % 8)) {
			perror("ldt: modify_ldt");
			return 1;
		}
		if (read_through(i % 8) != data[0]) {
			printf("ldt: wrong data through the LDT in round %d\n", i);
			return 1;
		}
		pid = fork();
		if (pid < 0)
			return 1;
		if (!pid)
			_exit(read_through(i % 8) == data[0] ? 0 : 1);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			printf("ldt: child failed in round %d\n", i);
			return 1;
		}
	}
	printf("ldt ok\n");
	return 0;
}
