// SPDX-License-Identifier: GPL-2.0
/*
 * Negative control for the tlb-correctness test (test/host/tlb-teeth),
 * never loaded outside a test guest: a kprobe makes flush_tlb_mm_range()
 * return at once, flushing nothing on any CPU, whenever a process named
 * tlbcheck* asks for a flush. Every tlbcheck case must then fail: that is
 * what proves the test can see stale user translations. (Bochs cannot
 * show the PCID variant of this: its TLB is not tagged by PCID and every
 * CR3 write flushes it.)
 */
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/string.h>

static atomic_long_t tlb_noflush_skipped = ATOMIC_LONG_INIT(0);

static noinline void tlb_noflush_return(void)
{
	barrier();
}

static int tlb_noflush_pre(struct kprobe *p, struct pt_regs *regs)
{
	if (strncmp(current->comm, "tlbcheck", 8))
		return 0;
	atomic_long_inc(&tlb_noflush_skipped);
	regs->ip = (unsigned long)tlb_noflush_return;
	return 1;
}

static struct kprobe tlb_noflush_kp = {
	.symbol_name = "flush_tlb_mm_range",
	.pre_handler = tlb_noflush_pre,
};

static int __init tlb_noflush_init(void)
{
	return register_kprobe(&tlb_noflush_kp);
}

static void __exit tlb_noflush_exit(void)
{
	unregister_kprobe(&tlb_noflush_kp);
	pr_info("tlb_noflush: skipped %ld flushes\n",
		atomic_long_read(&tlb_noflush_skipped));
}

module_init(tlb_noflush_init);
module_exit(tlb_noflush_exit);
MODULE_DESCRIPTION("kaiser test: skip TLB flushes asked for by tlbcheck");
MODULE_LICENSE("GPL");
