// SPDX-License-Identifier: GPL-2.0
/*
 * vsyscall: read the legacy vsyscall page and call its gettimeofday().
 * Under vsyscall=emulate both must work; under xonly (Debian's default)
 * the read faults and only the call is emulated. Prints what happened:
 * "read ok" / "read faulted", "call ok" / "call failed".
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define VSYSCALL_ADDR 0xffffffffff600000UL

static sigjmp_buf env;

static void on_segv(int sig __attribute__((unused)))
{
	siglongjmp(env, 1);
}

int main(void)
{
	int (*vgtod)(struct timeval *, struct timezone *) = (void *)VSYSCALL_ADDR;
	volatile unsigned char first = 0;
	struct timeval tv;

	signal(SIGSEGV, on_segv);
	if (!sigsetjmp(env, 1)) {
		first = *(volatile unsigned char *)VSYSCALL_ADDR;
		printf("read ok (first byte %#x)\n", first);
	} else {
		printf("read faulted\n");
	}
	memset(&tv, 0, sizeof(tv));
	if (!sigsetjmp(env, 1) && vgtod(&tv, NULL) == 0 && tv.tv_sec > 0)
		printf("call ok\n");
	else
		printf("call failed\n");
	return 0;
}
