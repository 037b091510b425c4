// SPDX-License-Identifier: GPL-2.0
/*
 * ftrace hooks on the mm life cycle.
 *
 * load_mm_ldt(): the kernel calls it on every CPU that runs an mm whose
 * LDT was just installed (modify_ldt() IPIs them) and on every switch to
 * an mm with an LDT, which covers a child that inherited one at fork.
 * Each call happens before that CPU can return to user mode with the LDT,
 * so this is where such an mm's user table gets the full kernel half.
 *
 * ___pud_free_tlb() (4-level) and ___p4d_free_tlb() (5-level): the kernel
 * hands a page table that a top-level user entry pointed at to the TLB
 * gather, to be freed after the flush. The kernel has already cleared the
 * entry, and its mirror with it (native_set_p4d()/native_set_pgd()); the
 * hook checks that no user table still points at the table and clears
 * any entry that does. A stale mirror there would let user mode walk a
 * freed page: this check is the safety net, and status counts both the
 * checks and the entries it had to clear (expected: none).
 *
 * The hooks are registered for the module's whole life and act only while
 * isolation is on. It runs with preemption disabled (ftrace's recursion
 * guard), so it never overlaps a stop_machine() state change.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/ftrace.h>
#include <linux/kernel.h>
#include <linux/string.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

static void notrace kaiser_load_mm_ldt_hook(unsigned long ip,
					    unsigned long parent_ip,
					    struct ftrace_ops *op,
					    struct ftrace_regs *fregs)
{
	struct mm_struct *mm = (struct mm_struct *)kaiser_ftrace_arg0(fregs);

	if (kaiser_state() == KAISER_ON)
		kaiser_shadow_ldt_loaded(mm);
}

static struct ftrace_ops kaiser_ldt_ops = {
	.func = kaiser_load_mm_ldt_hook,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_RECURSION,
};

/* ___pud_free_tlb(struct mmu_gather *tlb, pud_t *pud), and the p4d one. */
static void notrace kaiser_table_free_hook(unsigned long ip,
					   unsigned long parent_ip,
					   struct ftrace_ops *op,
					   struct ftrace_regs *fregs)
{
	struct mmu_gather *tlb = (struct mmu_gather *)kaiser_ftrace_arg0(fregs);

	if (kaiser_state() == KAISER_ON)
		kaiser_shadow_table_freed(kaiser_tlb_gather_mm(tlb),
					  (void *)kaiser_ftrace_arg1(fregs));
}

static struct ftrace_ops kaiser_free_ops = {
	.func = kaiser_table_free_hook,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_RECURSION,
};

/* Add @func to @ops's filter; @ops is registered by kaiser_hooks_init(). */
static int kaiser_hook_filter(struct ftrace_ops *ops, const char *func)
{
	int ret = ftrace_set_filter(ops, (unsigned char *)func, strlen(func), 0);

	if (ret)
		pr_err("refusing to load: cannot hook %s() through ftrace (%d)\n",
		       func, ret);
	return ret;
}

static int kaiser_hook_register(struct ftrace_ops *ops)
{
	int ret = register_ftrace_function(ops);

	if (ret) {
		ftrace_free_filter(ops);
		pr_err("refusing to load: cannot register an ftrace hook (%d)\n", ret);
	}
	return ret;
}

static void kaiser_hook_unregister(struct ftrace_ops *ops)
{
	unregister_ftrace_function(ops);
	ftrace_free_filter(ops);
}

int kaiser_hooks_init(void)
{
	int ret;

	ret = kaiser_hook_filter(&kaiser_ldt_ops, "load_mm_ldt");
	if (!ret)
		ret = kaiser_hook_register(&kaiser_ldt_ops);
	if (ret)
		return ret;
	ret = kaiser_hook_filter(&kaiser_free_ops, "___pud_free_tlb");
	if (!ret)
		ret = kaiser_hook_filter(&kaiser_free_ops, "___p4d_free_tlb");
	if (!ret)
		ret = kaiser_hook_register(&kaiser_free_ops);
	if (ret) {
		ftrace_free_filter(&kaiser_free_ops);
		kaiser_hook_unregister(&kaiser_ldt_ops);
	}
	return ret;
}

void kaiser_hooks_exit(void)
{
	kaiser_hook_unregister(&kaiser_free_ops);
	kaiser_hook_unregister(&kaiser_ldt_ops);
}
