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
 * area (ldt.c) when it has one. The CPU reads the LDT through the current
 * CR3: an mm whose LDT could not be mapped there (it predates the module
 * and mapping it failed) gets the full kernel half instead, no isolation
 * for it, counted in ldt_fallbacks (expected: none).
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/spinlock.h>
#include <asm/pgtable.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

static atomic_t kaiser_nr_ldt_fallbacks = ATOMIC_INIT(0);
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
 * Does @mm need the fallback? Only where its LDT cannot be freed under us:
 * inside stop_machine(), or on a CPU about to load that LDT.
 */
static bool kaiser_mm_needs_fallback(struct mm_struct *mm)
{
	struct ldt_struct *ldt = mm ? READ_ONCE(mm->context.ldt) : NULL;

	return ldt && !kaiser_ldt_mapped(mm, ldt);
}

/* Give a user table the full kernel half: the LDT fallback. */
static void kaiser_shadow_full_kernel(pgd_t *pgd)
{
	memcpy(kernel_to_user_pgdp(pgd) + KERNEL_PGD_BOUNDARY,
	       pgd + KERNEL_PGD_BOUNDARY, KERNEL_PGD_PTRS * sizeof(pgd_t));
}

/* Does @pgd's user table hold @src's kernel half? */
static bool kaiser_shadow_kernel_half_is(pgd_t *pgd, pgd_t *src)
{
	return !memcmp(kernel_to_user_pgdp(pgd) + KERNEL_PGD_BOUNDARY,
		       src + KERNEL_PGD_BOUNDARY, KERNEL_PGD_PTRS * sizeof(pgd_t));
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

		if (!pgd_val(e))
			continue;
		WRITE_ONCE(user[i], e);
		WRITE_ONCE(pgd[i], kaiser_kernel_copy(e));
	}
	if (kaiser_mm_needs_fallback(mm)) {
		kaiser_shadow_full_kernel(pgd);
		atomic_inc(&kaiser_nr_ldt_fallbacks);
		return;
	}
	for (i = KERNEL_PGD_BOUNDARY; i < PTRS_PER_PGD; i++)
		if (pgd_val(tmpl[i]))
			WRITE_ONCE(user[i], tmpl[i]);
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

static struct mm_struct *kaiser_pgd_mm(struct page *page)
{
	return kaiser_pgd_page_mm(page);
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
	list_for_each_entry(page, kaiser_pgd_list(), lru) {
		struct mm_struct *mm = kaiser_pgd_mm(page);

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

/* Inside stop_machine(): every PGD on pgd_list gets its user table. */
void kaiser_shadow_populate_all(void)
{
	struct page *page;

	lockdep_assert_held(kaiser_pgd_lock());
	atomic_set(&kaiser_nr_ldt_fallbacks, 0);
	list_for_each_entry(page, kaiser_pgd_list(), lru)
		kaiser_shadow_populate(page_address(page), kaiser_pgd_mm(page));
}

/* Inside stop_machine(), once no exit switches CR3: kernel copies lose NX. */
void kaiser_shadow_unmark_all(void)
{
	struct page *page;

	lockdep_assert_held(kaiser_pgd_lock());
	list_for_each_entry(page, kaiser_pgd_list(), lru)
		kaiser_shadow_unmark(page_address(page));
}

/*
 * Inside stop_machine(), once no CPU can run on a user table: zero them,
 * as the kernel expects of a PGD pair while its isolation is off.
 */
void kaiser_shadow_clear_all(void)
{
	struct page *page;

	lockdep_assert_held(kaiser_pgd_lock());
	list_for_each_entry(page, kaiser_pgd_list(), lru)
		kaiser_shadow_clear(page_address(page));
}

/*
 * A CPU is about to load the LDT of @mm, and that LDT is not in the LDT
 * area (ldt.c, kaiser_ldt_load(), interrupts off): the fallback.
 * Idempotent: every CPU running the mm may call it.
 */
void kaiser_shadow_ldt_loaded(struct mm_struct *mm)
{
	if (kaiser_shadow_kernel_half_is(mm->pgd, mm->pgd))
		return;
	kaiser_shadow_full_kernel(mm->pgd);
	atomic_inc(&kaiser_nr_ldt_fallbacks);
}

unsigned int kaiser_shadow_ldt_fallbacks(void)
{
	return atomic_read(&kaiser_nr_ldt_fallbacks);
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

/* ---- audit ----------------------------------------------------------- */

/*
 * Does a user-half entry mirror the kernel's (but for the NX the kernel
 * copy carries)? The kernel writes the mirror and then its own entry, and
 * the audit does not hold the mm's page-table lock: an entry seen between
 * the two stores is read again, and counts as wrong only if the kernel's
 * entry is unchanged and still not mirrored.
 */
static bool kaiser_mirror_ok(pgd_t *kp, pgd_t *up)
{
	pgdval_t k = pgd_val(READ_ONCE(*kp));

	if ((k | _PAGE_NX) == (pgd_val(READ_ONCE(*up)) | _PAGE_NX))
		return true;
	udelay(1);
	return k != pgd_val(READ_ONCE(*kp)) ||
	       (k | _PAGE_NX) == (pgd_val(READ_ONCE(*up)) | _PAGE_NX);
}

/* Record one finding; the first a->max_findings are kept as text. */
static void kaiser_audit_report(struct kaiser_audit *a, struct mm_struct *mm,
				unsigned int slot, u64 have, u64 want)
{
	a->findings++;
	if (a->findings > a->max_findings || a->len >= a->size)
		return;
	a->len += scnprintf(a->buf + a->len, a->size - a->len,
			    "mm %p pgd slot %u: %#llx, expected %#llx\n",
			    mm, slot, have, want);
}

/*
 * Check one user table against what it must hold: its user half equal to
 * the kernel's (but for the NX the kernel copy carries; the LDT area lies
 * in this part, below KERNEL_PGD_BOUNDARY), its kernel half equal to the
 * template, or, for an LDT fallback, to the kernel's whole half. The
 * audit holds pgd_lock only, so it decides which from the table itself
 * and never reads an LDT (modify_ldt() may be freeing one). Sets
 * *fallback when the table is a fallback.
 */
static unsigned int kaiser_audit_pgd(pgd_t *pgd, struct mm_struct *mm,
				     struct kaiser_audit *a, bool *fallback)
{
	pgd_t *user = kernel_to_user_pgdp(pgd);
	pgd_t *want = kaiser_template_pgd();
	unsigned int i, bad = 0;

	for (i = 0; i < KERNEL_PGD_BOUNDARY; i++) {
		if (kaiser_mirror_ok(&pgd[i], &user[i]))
			continue;
		bad++;
		a->mirror_mismatches++;
		kaiser_audit_report(a, mm, i, pgd_val(READ_ONCE(user[i])),
				    pgd_val(READ_ONCE(pgd[i])));
	}
	*fallback = kaiser_mm_has_ldt(mm) && kaiser_shadow_kernel_half_is(pgd, pgd);
	if (*fallback)
		want = pgd;
	for (i = KERNEL_PGD_BOUNDARY; i < PTRS_PER_PGD; i++) {
		pgd_t u = READ_ONCE(user[i]);

		if (pgd_val(u) != pgd_val(READ_ONCE(want[i]))) {
			bad++;
			kaiser_audit_report(a, mm, i, pgd_val(u), pgd_val(want[i]));
		}
	}
	return bad;
}

/* Walk every user table; fills @a with counts and the first findings. */
void kaiser_shadow_audit(struct kaiser_audit *a)
{
	struct page *page;

	spin_lock(kaiser_pgd_lock());
	list_for_each_entry(page, kaiser_pgd_list(), lru) {
		struct mm_struct *mm = kaiser_pgd_mm(page);
		pgd_t *pgd = page_address(page);
		bool fallback;

		a->tables++;
		if (kaiser_audit_pgd(pgd, mm, a, &fallback))
			a->bad_tables++;
		if (fallback)
			a->ldt_fallbacks++;
	}
	spin_unlock(kaiser_pgd_lock());
}
