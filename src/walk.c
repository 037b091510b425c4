// SPDX-License-Identifier: GPL-2.0
/*
 * The one walker of a user table's kernel half, for the code that reads
 * page tables rather than builds them: the kernel bytes a user table maps
 * (status, and the template's size when it is built) and the debugfs
 * listing. As the kernel's ptdump does, the walk calls back once per leaf
 * and the caller decides what a leaf means. It reads what the CPU reads:
 * an entry counts only if it is present to the hardware.
 *
 * What it walks is the template's tables (the module's), the kernel's
 * tables it shares at the top level (CPU entry area, ESPFIX) and an mm's
 * LDT area: none is freed while isolation is on, which is when the
 * callers walk, and an mm's LDT area lives as long as the mm they hold.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/xarray.h>
#include <asm/pgtable.h>

#include <kaiser/kaiser.h>

/* The first address of top-level slot @slot, sign-extended. */
unsigned long kaiser_slot_va(unsigned int slot)
{
	unsigned long va = (unsigned long)slot << PGDIR_SHIFT;

	return slot >= KAISER_KERNEL_HALF ? va | ~((1UL << (PGDIR_SHIFT + 9)) - 1) : va;
}

static bool kaiser_walk_table(struct kaiser_walk *w, unsigned long pfn)
{
	return !w->table || w->table(w, pfn);
}

static void kaiser_walk_pte(struct kaiser_walk *w, pte_t *pte, unsigned long va)
{
	unsigned int i;

	for (i = 0; i < PTRS_PER_PTE; i++, va += PAGE_SIZE) {
		pte_t e = READ_ONCE(pte[i]);

		if (kaiser_hw_present(pte_val(e)))
			w->leaf(w, va, PAGE_SIZE, (u64)pte_pfn(e) << PAGE_SHIFT,
				pte_val(e));
	}
}

static void kaiser_walk_pmd(struct kaiser_walk *w, pmd_t *pmd, unsigned long va)
{
	unsigned int i;

	for (i = 0; i < PTRS_PER_PMD; i++, va += PMD_SIZE) {
		pmd_t e = READ_ONCE(pmd[i]);

		/* ESPFIX alone is 65536 leaves: slow emulators would lock up. */
		cond_resched();
		if (!kaiser_hw_present(pmd_val(e)))
			continue;
		if (pmd_leaf(e))
			w->leaf(w, va, PMD_SIZE, (u64)pmd_pfn(e) << PAGE_SHIFT,
				pmd_val(e));
		else if (kaiser_walk_table(w, pmd_pfn(e)))
			kaiser_walk_pte(w, (pte_t *)pmd_page_vaddr(e), va);
	}
}

static void kaiser_walk_pud(struct kaiser_walk *w, pud_t *pud, unsigned long va)
{
	unsigned int i;

	for (i = 0; i < PTRS_PER_PUD; i++, va += PUD_SIZE) {
		pud_t e = READ_ONCE(pud[i]);

		if (!pud_present(e))
			continue;
		if (pud_leaf(e))
			w->leaf(w, va, PUD_SIZE, (u64)pud_pfn(e) << PAGE_SHIFT,
				pud_val(e));
		else if (kaiser_walk_table(w, pud_pfn(e)))
			kaiser_walk_pmd(w, pud_pgtable(e), va);
	}
}

static void kaiser_walk_p4d(struct kaiser_walk *w, p4d_t *p4d, unsigned int n,
			    unsigned long va)
{
	unsigned int i;

	for (i = 0; i < n; i++, va += P4D_SIZE) {
		p4d_t e = READ_ONCE(p4d[i]);

		if (p4d_present(e) && kaiser_walk_table(w, p4d_pfn(e)))
			kaiser_walk_pud(w, p4d_pgtable(e), va);
	}
}

/*
 * Walk the kernel half (top-level entries KAISER_KERNEL_HALF and up) of
 * the PGD page @pgd: w->leaf() for every leaf, in address order;
 * w->table(), when set, before each lower table, which it may skip.
 */
void kaiser_walk_kernel_half(pgd_t *pgd, struct kaiser_walk *w)
{
	unsigned int i;

	for (i = KAISER_KERNEL_HALF; i < PTRS_PER_PGD; i++) {
		pgd_t e = READ_ONCE(pgd[i]);

		if (!pgd_present(e))
			continue;
		if (!pgtable_l5_enabled())	/* the PGD entry is the P4D entry */
			kaiser_walk_p4d(w, (p4d_t *)&pgd[i], 1, kaiser_slot_va(i));
		else if (kaiser_walk_table(w, pgd_pfn(e)))
			kaiser_walk_p4d(w, (p4d_t *)pgd_page_vaddr(e), PTRS_PER_P4D,
					kaiser_slot_va(i));
	}
}

/* ---- the distinct physical kernel bytes a kernel half maps ----------- */

struct kaiser_bytes {
	struct kaiser_walk walk;
	struct xarray tables;	/* page tables already walked, by pfn */
	struct xarray leaves;	/* physical pages mapped, by pfn */
	unsigned long bytes;
	int err;
};

/* True the first time @pfn is seen in @xa. */
static bool kaiser_bytes_first(struct kaiser_bytes *b, struct xarray *xa,
			       unsigned long pfn)
{
	if (xa_load(xa, pfn))
		return false;
	if (xa_err(xa_store(xa, pfn, xa_mk_value(1), GFP_KERNEL)))
		b->err = -ENOMEM;
	return true;
}

/* Shared tables (ESPFIX maps one PTE table thousands of times) once. */
static bool kaiser_bytes_table(struct kaiser_walk *w, unsigned long pfn)
{
	struct kaiser_bytes *b = container_of(w, struct kaiser_bytes, walk);

	return kaiser_bytes_first(b, &b->tables, pfn);
}

static void kaiser_bytes_leaf(struct kaiser_walk *w, unsigned long va,
			      unsigned long size, u64 pa, u64 val)
{
	struct kaiser_bytes *b = container_of(w, struct kaiser_bytes, walk);

	if (kaiser_bytes_first(b, &b->leaves, pa >> PAGE_SHIFT))
		b->bytes += size;
}

/*
 * The distinct physical bytes the kernel half of @pgd maps, each page once
 * however often it is mapped; 0 if the walk ran out of memory.
 */
unsigned long kaiser_kernel_bytes(pgd_t *pgd)
{
	struct kaiser_bytes b = {
		.walk = { .leaf = kaiser_bytes_leaf, .table = kaiser_bytes_table },
	};

	xa_init(&b.tables);
	xa_init(&b.leaves);
	kaiser_walk_kernel_half(pgd, &b.walk);
	xa_destroy(&b.tables);
	xa_destroy(&b.leaves);
	return b.err ? 0 : b.bytes;
}
