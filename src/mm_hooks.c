// SPDX-License-Identifier: GPL-2.0
/*
 * ftrace hooks on the mm life cycle.
 *
 * The LDT (ldt.c): map_ldt_struct(), load_mm_ldt() and free_ldt_pgtables()
 * are replaced, the way livepatch replaces a function: the hook points the
 * saved instruction pointer at kaiser's version, which returns to the
 * kernel's caller. (The kernel's own map and free do nothing with its
 * isolation off.) map_ldt_struct() and free_ldt_pgtables() may sleep,
 * and kaiser's versions do (allocating, flushing every CPU, freeing: the
 * free is not done in the ftrace callback, whose preemption-off section
 * the page allocator's locks must not be taken in on PREEMPT_RT). So
 * their hooks count each call in and the call counts itself out:
 * unload waits for the count, then for every task to pass a voluntary
 * schedule, before the module's text can go.
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
 * The hooks are registered for the module's whole life. The LDT ones act
 * in every state (an LDT mapped while isolation is off is ready when it
 * goes on); the table check acts only while isolation is on. Callbacks
 * run with preemption disabled (ftrace's recursion guard), so none
 * overlaps a stop_machine() state change.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/kernel.h>
#include <linux/rcupdate.h>
#include <linux/string.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

/* A hook that watches, and one that makes the call run kaiser's function. */
#define KAISER_HOOK_WATCH	(FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_RECURSION)
#define KAISER_HOOK_REPLACE	(KAISER_HOOK_WATCH | FTRACE_OPS_FL_IPMODIFY)

/* Calls of kaiser_ldt_map() and _free_pgtables() not yet returned. */
static atomic_t kaiser_hooks_inflight = ATOMIC_INIT(0);

/*
 * What the two sleeping hooks make the kernel's call run: ldt.c's
 * function, then counted out. (The few instructions after the decrement
 * are waited for by the RCU-tasks grace period of kaiser_hooks_drain().)
 */
static int kaiser_map_ldt_counted(struct mm_struct *mm, struct ldt_struct *ldt,
				  int slot)
{
	int ret = kaiser_ldt_map(mm, ldt, slot);

	atomic_dec(&kaiser_hooks_inflight);
	return ret;
}

static void kaiser_free_ldt_counted(struct mm_struct *mm)
{
	kaiser_ldt_free_pgtables(mm);
	atomic_dec(&kaiser_hooks_inflight);
}

/*
 * A hook that makes every call of a kernel function run kaiser's @with
 * instead: ftrace returns to the saved instruction pointer, and @with
 * returns to the caller. @counted: @with may sleep; the hook counts it in
 * kaiser_hooks_inflight and @with counts itself out when it returns.
 */
struct kaiser_replacement {
	struct ftrace_ops ops;
	unsigned long with;
	bool counted;
};

static void notrace kaiser_replace_hook(unsigned long ip,
					unsigned long parent_ip,
					struct ftrace_ops *op,
					struct ftrace_regs *fregs)
{
	const struct kaiser_replacement *r =
		container_of(op, struct kaiser_replacement, ops);

	if (r->counted)
		atomic_inc(&kaiser_hooks_inflight);
	kaiser_ftrace_set_ip(fregs, r->with);
}

#define KAISER_REPLACEMENT(fn, is_counted) {				\
	.ops = { .func = kaiser_replace_hook, .flags = KAISER_HOOK_REPLACE }, \
	.with = (unsigned long)(fn),					\
	.counted = (is_counted),					\
}

/* load_mm_ldt(struct mm_struct *mm): kaiser_ldt_load() instead. */
static struct kaiser_replacement kaiser_load_ldt =
	KAISER_REPLACEMENT(kaiser_ldt_load, false);

/* map_ldt_struct(mm, ldt, slot): kaiser_ldt_map() instead, counted. */
static struct kaiser_replacement kaiser_map_ldt =
	KAISER_REPLACEMENT(kaiser_map_ldt_counted, true);

/* free_ldt_pgtables(mm): kaiser_ldt_free_pgtables() instead, counted. */
static struct kaiser_replacement kaiser_free_ldt =
	KAISER_REPLACEMENT(kaiser_free_ldt_counted, true);

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
	.flags = KAISER_HOOK_WATCH,
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

/* Wait until no task is in a replacement that a hook counted in. */
static void kaiser_hooks_drain(void)
{
	while (atomic_read(&kaiser_hooks_inflight))
		usleep_range(1000, 2000);
	synchronize_rcu_tasks();
}

/*
 * The LDT hooks go in this order: no new mapping (and none still running
 * in kaiser_ldt_map()), then every LDT area's tree, then the hooks that
 * free trees and load LDTR. Isolation is off: no LDTR points at a tree.
 */
static void kaiser_hooks_exit_ldt(void)
{
	kaiser_hook_unregister(&kaiser_map_ldt.ops);
	kaiser_hooks_drain();
	if (kaiser_state() == KAISER_OFF)
		kaiser_ldt_release_all();
	else	/* disable failed: LDTRs may point into the areas; leak them */
		pr_crit("LDT areas left in place: isolation is still on\n");
	kaiser_hook_unregister(&kaiser_load_ldt.ops);
	kaiser_hook_unregister(&kaiser_free_ldt.ops);
	kaiser_hooks_drain();
}

/* Filter @ops on @func alone and register it. */
static int kaiser_hook_one(struct ftrace_ops *ops, const char *func)
{
	int ret = kaiser_hook_filter(ops, func);

	return ret ? ret : kaiser_hook_register(ops);
}

int kaiser_hooks_init(void)
{
	int ret;

	ret = kaiser_hook_one(&kaiser_free_ldt.ops, "free_ldt_pgtables");
	if (ret)
		return ret;
	ret = kaiser_hook_one(&kaiser_load_ldt.ops, "load_mm_ldt");
	if (ret)
		goto out_free_ldt;
	ret = kaiser_hook_one(&kaiser_map_ldt.ops, "map_ldt_struct");
	if (ret)
		goto out_load_ldt;
	ret = kaiser_hook_filter(&kaiser_free_ops, "___pud_free_tlb");
	if (!ret)
		ret = kaiser_hook_filter(&kaiser_free_ops, "___p4d_free_tlb");
	if (!ret)
		ret = kaiser_hook_register(&kaiser_free_ops);
	if (!ret)
		return 0;
	ftrace_free_filter(&kaiser_free_ops);
	kaiser_hooks_exit_ldt();
	return ret;

out_load_ldt:
	kaiser_hook_unregister(&kaiser_load_ldt.ops);
out_free_ldt:
	kaiser_hook_unregister(&kaiser_free_ldt.ops);
	kaiser_hooks_drain();
	return ret;
}

void kaiser_hooks_exit(void)
{
	kaiser_hook_unregister(&kaiser_free_ops);
	kaiser_hooks_exit_ldt();
}
