// SPDX-License-Identifier: GPL-2.0
/*
 * The isolation state machine: off -> enabling -> on -> disabling -> off.
 *
 * Enabling takes two stop_machine() steps with an RCU grace period between
 * them (docs/design.md §3):
 *
 *   E1  entry code saves CR3 and switches to the kernel table. Harmless
 *       alone: every CR3 still holds a kernel table.
 *   --  an RCU grace period (expedited: it waits for NMI handlers like a
 *       normal one, in far less time): an NMI that entered through the old
 *       paranoid entry (no CR3 saved) has left before any exit restores a
 *       CR3.
 *   E2  every PGD on pgd_list gets its user table; the mirroring,
 *       template and TLB C sites and the exits to the user table go live;
 *       CR4.PGE is cleared and every ASID flushed on every CPU, and each
 *       CPU loads LDTR again (an LDT's alias in the LDT area now). From
 *       here user mode runs on user tables.
 *
 * Before E1, every LDT that predates the module is mapped into its mm's
 * LDT area (ldt.c), so E2 finds them there. Disabling runs the same in
 * reverse (D1: exits, C sites, NX marks, PGE, LDTR; grace period; D2:
 * entry code, user tables cleared), then frees the template. Every step
 * checks all its sites before writing any, so a step that fails has
 * changed nothing, and enable undoes the steps before it.
 * All transitions hold kaiser_state_lock; a second writer is refused.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/printk.h>
#include <linux/rcupdate.h>
#include <linux/stop_machine.h>
#include <asm/sync_core.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>
#include <kaiser/test.h>

static DEFINE_MUTEX(kaiser_state_lock);
static enum kaiser_state kaiser_cur_state = KAISER_OFF;
static u64 kaiser_enable_ns, kaiser_disable_ns;
static unsigned long kaiser_step_retries;

enum kaiser_state kaiser_state(void)
{
	return READ_ONCE(kaiser_cur_state);
}

/* By a transition, or by its step on another CPU while it waits. */
static void kaiser_set_state(enum kaiser_state s)
{
	WARN_ON_ONCE(!mutex_is_locked(&kaiser_state_lock));
	WRITE_ONCE(kaiser_cur_state, s);
}

const char *kaiser_state_name(enum kaiser_state s)
{
	switch (s) {
	case KAISER_OFF:	return "off";
	case KAISER_ENABLING:	return "enabling";
	case KAISER_ON:		return "on";
	case KAISER_DISABLING:	return "disabling";
	}
	return "?";
}

u64 kaiser_state_enable_ns(void)
{
	return kaiser_enable_ns;
}

u64 kaiser_state_disable_ns(void)
{
	return kaiser_disable_ns;
}

unsigned long kaiser_state_step_retries(void)
{
	return READ_ONCE(kaiser_step_retries);
}

/* ---- one stop_machine() step --------------------------------------- */

enum kaiser_pge { KAISER_PGE_KEEP, KAISER_PGE_CLEAR, KAISER_PGE_SET };

/* What one step does; the five steps are declared below. */
struct kaiser_step_ops {
	int (*patch)(void);	/* runs on the first CPU in */
	bool hold_tables;	/* ... with the page tables held still */
	enum kaiser_pge pge;	/* then on every CPU: CR4.PGE, TLB flush */
	bool reload_ldt;	/* and LDTR loaded again */
};

struct kaiser_step {
	const struct kaiser_step_ops *ops;
	atomic_t cpus;
	atomic_t done;
	int ret;
};

/*
 * Every online CPU runs this with interrupts off. One patches while the
 * others wait; then each serializes its instruction stream (the code it
 * is about to run may just have changed) and sets its CR4.PGE.
 */
static int kaiser_step_fn(void *data)
{
	struct kaiser_step *st = data;
	const struct kaiser_step_ops *ops = st->ops;

	WARN_ON_ONCE(!irqs_disabled());
	if (atomic_inc_return(&st->cpus) == 1) {
		st->ret = ops->hold_tables ? kaiser_shadow_lock() : 0;
		if (!st->ret) {
			st->ret = ops->patch();
			if (ops->hold_tables)
				kaiser_shadow_unlock();
		}
		atomic_set_release(&st->done, 1);
	} else {
		while (!atomic_read_acquire(&st->done))
			cpu_relax();
	}
	sync_core();
	if (!st->ret && ops->pge != KAISER_PGE_KEEP)
		kaiser_tlb_switch(ops->pge == KAISER_PGE_CLEAR);
	if (!st->ret && ops->reload_ldt)
		kaiser_ldt_reload_cpu();
	return st->ret;
}

/*
 * A step that walks the page tables finds them busy (-EAGAIN) only on
 * PREEMPT_RT, where a preempted holder of pgd_lock or of a page_table_lock
 * must run before the step can (shadow.c, kaiser_shadow_lock()): let it
 * run, and try again. Each try changes nothing before it gives up.
 */
#define KAISER_STEP_TRIES	2000

/*
 * One step: ops->patch on one CPU while every other waits, under
 * kaiser_shadow_lock() for the steps that walk every PGD; then what
 * every CPU does.
 */
static int kaiser_step(const struct kaiser_step_ops *ops)
{
	struct kaiser_step st = { .ops = ops };
	unsigned int tries = 0;
	int ret;

	lockdep_assert_held(&kaiser_state_lock);
	for (;;) {
		atomic_set(&st.cpus, 0);
		atomic_set(&st.done, 0);
		st.ret = 0;
		ret = stop_machine(kaiser_step_fn, &st, cpu_online_mask);
		if (ret != -EAGAIN || ++tries == KAISER_STEP_TRIES)
			return ret;
		WRITE_ONCE(kaiser_step_retries, kaiser_step_retries + 1);
		usleep_range(500, 1000);
	}
}

/* ---- the four steps ------------------------------------------------ */

/*
 * From E1 on, an NMI that finds an odd PGD frame in CR3 takes it for a
 * user table: where PGDs may be single pages, every listed one must be
 * paired by now (-ESTALE: one was born single meanwhile; move it first).
 */
static int kaiser_patch_e1(void)
{
	if (kaiser_single_pgd() && !kaiser_pairs_all())
		return -ESTALE;
	return kaiser_sites_switch(KAISER_PHASE_ENTRY, true);
}

static int kaiser_patch_e2(void)
{
	int ret = kaiser_sites_switch(KAISER_PHASE_EXIT, true);

	if (!ret && kaiser_tlb_pcid_flush()) {
		ret = kaiser_pcid_sites_switch(true);
		if (ret)
			kaiser_sites_switch(KAISER_PHASE_EXIT, false);
	}

	if (!ret && kaiser_test_fail_e2()) {
		kaiser_pcid_sites_switch(false);
		kaiser_sites_switch(KAISER_PHASE_EXIT, false);
		ret = -ENOEXEC;
	}
	if (ret)
		return ret;
	kaiser_ldt_isolate(true);
	kaiser_shadow_populate_all();
	kaiser_set_state(KAISER_ON);
	return 0;
}

static int kaiser_patch_d1(void)
{
	int ret = kaiser_pcid_sites_switch(false);

	if (!ret)
		ret = kaiser_sites_switch(KAISER_PHASE_EXIT, false);
	if (ret)
		return ret;
	kaiser_shadow_unmark_all();
	kaiser_ldt_isolate(false);
	kaiser_set_state(KAISER_DISABLING);
	return 0;
}

static int kaiser_patch_d2(void)
{
	int ret = kaiser_sites_switch(KAISER_PHASE_ENTRY, false);

	if (ret)
		return ret;
	kaiser_shadow_clear_all();
	kaiser_set_state(KAISER_OFF);
	return 0;
}

/* Undo E1 after a later step failed: nothing else was switched on. */
static int kaiser_patch_e1_undo(void)
{
	return kaiser_sites_switch(KAISER_PHASE_ENTRY, false);
}

/* Entry code saves CR3 and switches to the kernel table. */
static const struct kaiser_step_ops kaiser_step_e1 = {
	.patch = kaiser_patch_e1, .hold_tables = kaiser_single_pgd(),
};

/* User tables filled, exits switched to them; PGE off; LDTR to aliases. */
static const struct kaiser_step_ops kaiser_step_e2 = {
	.patch = kaiser_patch_e2, .hold_tables = true,
	.pge = KAISER_PGE_CLEAR, .reload_ldt = true,
};

static const struct kaiser_step_ops kaiser_step_e1_undo = {
	.patch = kaiser_patch_e1_undo,
};

/* Exits back to the kernel table, NX marks off; PGE on; LDTR direct. */
static const struct kaiser_step_ops kaiser_step_d1 = {
	.patch = kaiser_patch_d1, .hold_tables = true,
	.pge = KAISER_PGE_SET, .reload_ldt = true,
};

/* Entry code dormant again; user tables zeroed. */
static const struct kaiser_step_ops kaiser_step_d2 = {
	.patch = kaiser_patch_d2, .hold_tables = true,
};

static int kaiser_patch_alloc_on(void)
{
	return kaiser_sites_switch(KAISER_PHASE_ALLOC, true);
}

static int kaiser_patch_alloc_off(void)
{
	return kaiser_sites_switch(KAISER_PHASE_ALLOC, false);
}

/* pgd_alloc() makes pairs, or single pages again (single-page kernels). */
static const struct kaiser_step_ops kaiser_step_alloc_on = {
	.patch = kaiser_patch_alloc_on,
};

static const struct kaiser_step_ops kaiser_step_alloc_off = {
	.patch = kaiser_patch_alloc_off,
};

/* ---- transitions --------------------------------------------------- */

/*
 * Where an mm may still have a single PGD: move them all onto pairs, then
 * E1, which checks under pgd_lock that none is left. One born single in
 * between (its pgd_alloc() began before the allocation site went on) makes
 * E1 refuse, having changed nothing: move again.
 */
#define KAISER_E1_TRIES	20

static int kaiser_pairs_then_e1(void)
{
	unsigned int tries = 0;
	int ret;

	do {
		ret = kaiser_pairs_move_all();
		if (ret) {
			pr_err("enable failed: cannot give every process a PGD pair (%d); isolation stays off\n",
			       ret);
			return ret;
		}
		ret = kaiser_step(&kaiser_step_e1);
		if (ret == -ESTALE)
			msleep(20);
	} while (ret == -ESTALE && ++tries < KAISER_E1_TRIES);
	if (ret)
		pr_err("enable failed: %s (%d)\n", ret == -ESTALE ?
		       "new processes kept single-page PGDs" :
		       "entry sites changed under us", ret);
	return ret;
}

static int kaiser_enable(void)
{
	ktime_t t0 = ktime_get();
	int ret;

	if (kaiser_tlb_pcid_flush() && !kaiser_pcid_flush_ok()) {
		pr_err("PCID flush mode: an exit of this kernel has no PCID branch to switch; load with pcid_mode=upstream\n");
		return -EOPNOTSUPP;
	}
	kaiser_set_state(KAISER_ENABLING);
	ret = kaiser_sites_prepare();
	if (ret) {
		pr_err("enable failed: cannot map the entry sites writable (%d)\n", ret);
		goto out_off;
	}
	ret = kaiser_template_build();
	if (ret)
		goto out_release;
	kaiser_ldt_map_existing();
	ret = kaiser_pairs_then_e1();
	if (ret)
		goto out_template;
	synchronize_rcu_expedited();
	ret = kaiser_step(&kaiser_step_e2);
	if (ret) {
		pr_err("enable failed: %s (%d); rolled back\n",
		       ret == -EAGAIN ? "page tables stayed busy" :
					"exit sites changed under us", ret);
		synchronize_rcu_expedited();
		if (kaiser_step(&kaiser_step_e1_undo))
			pr_crit("rollback failed: entry sites left switched on\n");
		goto out_template;
	}
	kaiser_sites_release();
	kaiser_enable_ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	pr_info("isolation on: %u sites patched, %lu kernel bytes in user tables, %llu us\n",
		kaiser_sites_active(), kaiser_template_bytes(),
		kaiser_enable_ns / NSEC_PER_USEC);
	return 0;

out_template:
	kaiser_template_destroy();
out_release:
	kaiser_sites_release();
out_off:
	kaiser_set_state(KAISER_OFF);
	return ret;
}

static int kaiser_disable(void)
{
	ktime_t t0 = ktime_get();
	int ret;

	ret = kaiser_sites_prepare();
	if (ret) {
		pr_err("disable failed: cannot map the entry sites writable (%d)\n", ret);
		return ret;
	}
	ret = kaiser_step(&kaiser_step_d1);
	if (ret == -EAGAIN) {
		pr_err("disable failed: page tables stayed busy (%d); isolation stays on\n",
		       ret);
		goto out;
	} else if (ret) {
		pr_crit("disable failed: exit sites changed under us (%d); isolation stays on\n",
			ret);
		goto out;
	}
	synchronize_rcu_expedited();
	ret = kaiser_step(&kaiser_step_d2);
	if (ret) {
		pr_crit("disable failed: entry sites changed under us (%d)\n", ret);
		goto out;
	}
	/* No CR3 can point at a user table now: its tables can go. */
	kaiser_template_destroy();
	kaiser_disable_ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	pr_info("isolation off, %llu us\n", kaiser_disable_ns / NSEC_PER_USEC);
out:
	kaiser_sites_release();
	return ret;
}

/*
 * Module load and exit, where PGDs may be single pages: pgd_alloc() makes
 * pairs for as long as kaiser is loaded, so that enabling has only the
 * mms born before the load to move. Pairs outlive the module: pgd_free()
 * frees them whole.
 */
static int kaiser_alloc_pairs(bool on)
{
	int ret;

	if (!kaiser_single_pgd())
		return 0;
	lockdep_assert_held(&kaiser_state_lock);
	ret = kaiser_sites_prepare();
	if (!ret)
		ret = kaiser_step(on ? &kaiser_step_alloc_on : &kaiser_step_alloc_off);
	kaiser_sites_release();
	if (ret)
		pr_err("cannot switch pgd_alloc() %s pairs (%d)\n", on ? "to" : "back from", ret);
	return ret;
}

int kaiser_startup(void)
{
	int ret;

	mutex_lock(&kaiser_state_lock);
	ret = kaiser_alloc_pairs(true);
	mutex_unlock(&kaiser_state_lock);
	return ret;
}

/* Module exit: wait for any writer, then make sure isolation is off. */
int kaiser_shutdown(void)
{
	int ret = 0;

	mutex_lock(&kaiser_state_lock);
	if (kaiser_cur_state == KAISER_ON)
		ret = kaiser_disable();
	if (!ret)
		ret = kaiser_alloc_pairs(false);
	mutex_unlock(&kaiser_state_lock);
	kaiser_pairs_exit();
	return ret;
}

int kaiser_set_enabled(bool on)
{
	int ret = 0;

	if (!mutex_trylock(&kaiser_state_lock)) {
		pr_warn("%s refused: another state change is in progress\n",
			on ? "enable" : "disable");
		return -EBUSY;
	}
	if (on && kaiser_cur_state == KAISER_OFF)
		ret = kaiser_enable();
	else if (!on && kaiser_cur_state == KAISER_ON)
		ret = kaiser_disable();
	mutex_unlock(&kaiser_state_lock);
	return ret;
}
