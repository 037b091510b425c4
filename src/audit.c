// SPDX-License-Identifier: GPL-2.0
/*
 * The audit: every user table, entry by entry, against what it must hold
 * (sysfs audit, debugfs audit). A diagnostic, apart from the mechanism in
 * shadow.c: it only reads. It compares top-level entries, which is where
 * a user table differs from the kernel's: below them, the user half shares
 * the process's own tables and the kernel half the template's, which the
 * out-of-band test audit (test/host/oob-audit) walks to the leaves.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/spinlock.h>
#include <asm/pgtable.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

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
static __printf(2, 3) void kaiser_audit_note(struct kaiser_audit *a,
					     const char *fmt, ...)
{
	va_list args;

	a->findings++;
	if (a->findings > a->max_findings || a->len >= a->size)
		return;
	va_start(args, fmt);
	a->len += vscnprintf(a->buf + a->len, a->size - a->len, fmt, args);
	va_end(args);
}

static void kaiser_audit_report(struct kaiser_audit *a, struct mm_struct *mm,
				unsigned int slot, u64 have, u64 want)
{
	kaiser_audit_note(a, "mm %p pgd slot %u: %#llx, expected %#llx\n",
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
		kaiser_audit_report(a, mm, i, pgd_val(READ_ONCE(user[i])),
				    pgd_val(READ_ONCE(pgd[i])));
	}
	*fallback = kaiser_mm_has_ldt(mm) && kaiser_ldt_is_fallback(pgd);
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
void kaiser_audit(struct kaiser_audit *a)
{
	struct page *page;

	spin_lock(kaiser_pgd_lock());
	kaiser_for_each_pgd(page) {
		struct mm_struct *mm = kaiser_pgd_page_mm(page);
		pgd_t *pgd = page_address(page);
		bool fallback;

		a->tables++;
		if (!kaiser_pgd_has_user_half(pgd)) {
			a->bad_tables++;
			kaiser_audit_note(a, "mm %p: a single-page PGD, no user table\n", mm);
			continue;
		}
		if (kaiser_audit_pgd(pgd, mm, a, &fallback))
			a->bad_tables++;
		if (fallback)
			a->ldt_fallbacks++;
	}
	spin_unlock(kaiser_pgd_lock());
}
