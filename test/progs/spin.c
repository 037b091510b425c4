// SPDX-License-Identifier: GPL-2.0
/*
 * spin SECONDS [TAG [ldt]]
 *
 * Spin in user mode for SECONDS seconds without a single system call, so
 * that a host pausing the guest (test/host/oob-audit, through the QEMU
 * monitor) finds the CPU at CPL 3 on this process's user page table.
 *
 * With "ldt" it first installs an LDT (modify_ldt(), one data descriptor
 * whose base is a variable of its own) and loads that selector into %gs
 * on every turn of the loop: each load makes the CPU read the LDT through
 * the user table. The OOB-SPIN line then ends in " ldt=BASE", so that the
 * host can find the descriptor in the table it walks.
 *
 * Before spinning it calibrates the TSC against CLOCK_MONOTONIC (the last
 * system calls it makes), touches its stack, and prints one line
 *
 *   OOB-SPIN TAG pid=N text=START-END loop=ADDR magic=M
 *
 * where START-END is its own executable range (a static non-PIE binary).
 * While it spins, r12 holds M and r13 the pid, so the host can tell this
 * process from any other. The loop reads only the TSC (rdtsc is not a
 * system call) and exits 0 when done.
 */
#include <asm/ldt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern char __executable_start[], etext[];

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Pure user-mode work until the TSC passes @deadline, with r12 = SPIN_MAGIC
 * and r13 = pid the whole time: the host checks both in the registers of
 * the vCPU it stopped, so it knows it caught this very process. A nonzero
 * @gs is loaded into %gs on every turn.
 */
#define SPIN_MAGIC 0x6e6970732d626f6full	/* "oob-spin" */

static __attribute__((noinline)) void spin_loop(uint64_t deadline, uint64_t pid,
						 uint64_t gs)
{
	register uint64_t magic asm("r12") = SPIN_MAGIC;
	register uint64_t who asm("r13") = pid;

	__asm__ __volatile__(
		"1:	testq %[gs], %[gs]\n\t"
		"	jz 2f\n\t"
		"	movw %w[gs], %%gs\n\t"
		"2:	rdtsc\n\t"
		"	shlq $32, %%rdx\n\t"
		"	orq %%rdx, %%rax\n\t"
		"	cmpq %[dl], %%rax\n\t"
		"	jb 1b\n\t"
		: "+r"(magic), "+r"(who)
		: [dl] "r"(deadline), [gs] "r"(gs)
		: "rax", "rdx", "cc");
}

static unsigned int ldt_data[16];

/* LDT entry 0: a data segment on ldt_data. Returns its selector, or 0. */
static uint64_t install_ldt(void)
{
	struct user_desc d;

	memset(&d, 0, sizeof(d));
	d.entry_number = 0;
	d.base_addr = (unsigned int)(unsigned long)ldt_data;
	d.limit = sizeof(ldt_data) - 1;
	d.seg_32bit = 1;
	d.useable = 1;
	if (syscall(SYS_modify_ldt, 1, &d, sizeof(d)))
		return 0;
	return 0 << 3 | 4 | 3;	/* entry 0, LDT, RPL 3 */
}

int main(int argc, char **argv)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	const char *tag = argc > 2 ? argv[2] : "-";
	int ldt = argc > 3 && !strcmp(argv[3], "ldt");
	double secs, tsc_per_ns;
	uint64_t t0, t1, c0, c1, gs = 0;
	volatile char stack[16384];
	int pid = (int)getpid();
	char ldt_note[32] = "";

	if (argc < 2 || (secs = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: spin SECONDS [TAG [ldt]]\n");
		return 2;
	}
	if (ldt) {
		if ((unsigned long)ldt_data > 0xffffffffUL || !(gs = install_ldt())) {
			perror("spin: modify_ldt");
			return 1;
		}
		snprintf(ldt_note, sizeof(ldt_note), " ldt=%#lx", (unsigned long)ldt_data);
	}
	for (unsigned int i = 0; i < sizeof(stack); i += 64)
		stack[i] = (char)i;

	t0 = now_ns();
	c0 = rdtsc();
	nanosleep(&pause, NULL);
	t1 = now_ns();
	c1 = rdtsc();
	tsc_per_ns = (double)(c1 - c0) / (double)(t1 - t0 ? t1 - t0 : 1);
	if (tsc_per_ns <= 0)
		tsc_per_ns = 1;

	printf("OOB-SPIN %s pid=%d text=%#lx-%#lx loop=%#lx magic=%#llx%s\n", tag,
	       pid, (unsigned long)__executable_start,
	       (unsigned long)etext, (unsigned long)spin_loop, SPIN_MAGIC, ldt_note);
	fflush(stdout);

	spin_loop(rdtsc() + (uint64_t)(secs * 1e9 * tsc_per_ns), (uint64_t)pid, gs);
	return 0;
}
