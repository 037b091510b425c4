// SPDX-License-Identifier: GPL-2.0
/*
 * Per-mm user page tables: the upper 4 KiB page of each PGD pair.
 *
 * While isolation is on, the kernel keeps a PGD's user half mirrored into
 * its user table by itself (the dormant sites in native_set_pgd() and
 * native_set_p4d(), switched on): every top-level user entry written from
 * then on is copied, and cleared, in the same store sequence, with NX set
 * on the kernel's copy so that user code can never run on the kernel
 * table. What exists before the switch is copied here, inside the same
 * stop_machine() that switches those sites on, so no PGD is ever seen
 * half done.
 *
 * The kernel half of a user table is the template, plus the mm's own LDT
 * area when it has one, or, for an mm whose LDT could not be put there,
 * the LDT fallback: both are ldt.c's.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/spinlock.h>
#include <asm/pgtable.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>
#include <kaiser/test.h>

static atomic_long_t kaiser_nr_teardown_checks = ATOMIC_LONG_INIT(0);
static atomic_long_t kaiser_nr_teardown_clears = ATOMIC_LONG_INIT(0);

#define KAISER_USER_PRESENT	(_PAGE_USER | _PAGE_PRESENT)

/* What __pti_set_user_pgtbl() leaves in the kernel's copy of a user entry. */
static pgd_t kaiser_kernel_copy(pgd_t e)
{
	if ((pgd_val(e) & KAISER_USER_PRESENT) == KAISER_USER_PRESENT &&
	    (__supported_pte_mask & _PAGE_NX))
		return __pgd(pgd_val(e) | _PAGE_NX);
	return e;
}

/*
 * Fill one PGD's user table and mark the kernel's user entries NX. The
 * user table is all zero before (PGD pairs are allocated zeroed, and
 * disable zeroes them again), so only entries in use are written: with
 * many processes, copying whole pages inside stop_machine() would
 * dominate the time every CPU is held.
 */
static void kaiser_shadow_populate(pgd_t *pgd, struct mm_struct *mm)
{
	pgd_t *user = kernel_to_user_pgdp(pgd);
	pgd_t *tmpl = kaiser_template_pgd();
	unsigned int i;

	for (i = 0; i < KERNEL_PGD_BOUNDARY; i++) {
		pgd_t e = READ_ONCE(pgd[i]);

		/* An entry left from before would map what is no longer there. */
		if (!pgd_val(e)) {
			WARN_ON_ONCE(pgd_val(READ_ONCE(user[i])));
			continue;
		}
		WRITE_ONCE(user[i], e);
		WRITE_ONCE(pgd[i], kaiser_kernel_copy(e));
	}
	if (kaiser_ldt_fallback(mm, pgd))
		return;
	for (i = KERNEL_PGD_BOUNDARY; i < PTRS_PER_PGD; i++) {
		if (pgd_val(tmpl[i]))
			WRITE_ONCE(user[i], tmpl[i]);
		else
			WARN_ON_ONCE(pgd_val(READ_ONCE(user[i])));
	}
}

/* Zero one user table, writing only the entries in use. */
static void kaiser_shadow_clear(pgd_t *pgd)
{
	pgd_t *user = kernel_to_user_pgdp(pgd);
	unsigned int i;

	for (i = 0; i < PTRS_PER_PGD; i++)
		if (pgd_val(READ_ONCE(user[i])))
			WRITE_ONCE(user[i], __pgd(0));
}

/* Undo kaiser_shadow_populate(): the kernel half of user entries loses NX. */
static void kaiser_shadow_unmark(pgd_t *pgd)
{
	unsigned int i;

	for (i = 0; i < KERNEL_PGD_BOUNDARY; i++) {
		pgd_t e = READ_ONCE(pgd[i]);

		if ((pgd_val(e) & KAISER_USER_PRESENT) == KAISER_USER_PRESENT)
			WRITE_ONCE(pgd[i], __pgd(pgd_val(e) & ~_PAGE_NX));
	}
}

/*
 * Inside stop_machine(), before a step changes anything: take pgd_lock and
 * make sure no writer of a top-level entry (under its mm's
 * page_table_lock) is halfway through a store. Without PREEMPT_RT neither
 * lock can be held here: a holder cannot be preempted, so every CPU left
 * it before its stopper ran. On RT both are sleeping locks, and a
 * preempted holder cannot run again until the step ends: the step must
 * not wait for it (a hard lockup) nor go on without it (its store would
 * land after the step). It returns -EAGAIN, changing nothing, and state.c
 * runs it again once the holder has had a moment (docs/rt.md).
 */
int kaiser_shadow_lock(void)
{
	struct page *page;

	WARN_ON_ONCE(!irqs_disabled());
	if (!spin_trylock(kaiser_pgd_lock()))
		return -EAGAIN;
	kaiser_for_each_pgd(page) {
		struct mm_struct *mm = kaiser_pgd_page_mm(page);

		/* Not held: nothing can take it until the step ends. */
		if (!mm)
			continue;
		if (!spin_trylock(&mm->page_table_lock)) {
			spin_unlock(kaiser_pgd_lock());
			return -EAGAIN;
		}
		spin_unlock(&mm->page_table_lock);
	}
	return 0;
}

void kaiser_shadow_unlock(void)
{
	spin_unlock(kaiser_pgd_lock());
}

/*
 * Inside stop_machine(): every PGD on pgd_list gets its user table. E1
 * made sure each one has a user half (pairs.c); only a test build that
 * leaves some single (KAISER_TEST_SKIP_MOVE) may get here without.
 */
void kaiser_shadow_populate_all(void)
{
	struct page *page;

	kaiser_for_each_pgd(page) {
		if (!kaiser_pgd_has_user_half(page_address(page))) {
			WARN_ON_ONCE(!kaiser_test_skip_move());
			continue;
		}
		kaiser_shadow_populate(page_address(page), kaiser_pgd_page_mm(page));
	}
}

/* Inside stop_machine(), once no exit switches CR3: kernel copies lose NX. */
void kaiser_shadow_unmark_all(void)
{
	struct page *page;

	kaiser_for_each_pgd(page)
		kaiser_shadow_unmark(page_address(page));
}

/*
 * Inside stop_machine(), once no CPU can run on a user table: zero them,
 * as the kernel expects of a PGD pair while its isolation is off.
 */
void kaiser_shadow_clear_all(void)
{
	struct page *page;

	kaiser_for_each_pgd(page)
		if (kaiser_pgd_has_user_half(page_address(page)))
			kaiser_shadow_clear(page_address(page));
}

/*
 * @table, a page table that a top-level user entry of @mm pointed at, is
 * about to be freed (from the ___pud/p4d_free_tlb() hook, preemption off).
 * No user-table entry may still point at it.
 */
void kaiser_shadow_table_freed(struct mm_struct *mm, void *table)
{
	pgd_t *user = kernel_to_user_pgdp(mm->pgd);
	unsigned long pfn = __pa(table) >> PAGE_SHIFT;
	unsigned int i;

	if (!kaiser_pgd_has_user_half(mm->pgd))
		return;
	atomic_long_inc(&kaiser_nr_teardown_checks);
	for (i = 0; i < KERNEL_PGD_BOUNDARY; i++) {
		pgd_t e = READ_ONCE(user[i]);

		if (pgd_present(e) && pgd_pfn(e) == pfn) {
			WRITE_ONCE(user[i], __pgd(0));
			atomic_long_inc(&kaiser_nr_teardown_clears);
		}
	}
}

unsigned long kaiser_shadow_teardown_checks(void)
{
	return atomic_long_read(&kaiser_nr_teardown_checks);
}

unsigned long kaiser_shadow_teardown_clears(void)
{
	return atomic_long_read(&kaiser_nr_teardown_clears);
}
