// SPDX-License-Identifier: GPL-2.0
/*
 * LDTs in the LDT remap area, so that an mm with an LDT keeps its isolation.
 *
 * The CPU reads the LDT through the current CR3: at a user-mode load of an
 * LDT selector, and at the IRET that returns to one. With the kernel's own
 * isolation off, LDTR holds the LDT's kernel address (direct map or vmalloc
 * space), which a user table must not map. The kernel's answer under
 * pti=on (arch/x86/kernel/ldt.c) is an alias in the LDT remap area
 * (LDT_BASE_ADDR): a top-level slot of the kernel half that each mm fills
 * for itself, with two LDT slots in it so that modify_ldt() can map a new
 * LDT while other CPUs still use the old one. All of that code is behind
 * boot_cpu_has(X86_FEATURE_PTI), a runtime test that kaiser cannot switch,
 * so kaiser does the same job from three hooks (mm_hooks.c):
 *
 *   map_ldt_struct()     replaced: the LDT is copied into pages of kaiser's
 *                        own in its slot, mapped read-only and not global.
 *                        A copy and not an alias of the kernel's pages: the
 *                        kernel frees an LDT after replacing it, and its
 *                        unmap of the alias (unmap_ldt_struct(), inlined
 *                        behind the same test) would not run, leaving a
 *                        mapping of freed memory. An LDT never changes once
 *                        mapped (modify_ldt() builds a new one), so the copy
 *                        stays right.
 *   load_mm_ldt()        replaced: with isolation on LDTR gets the alias,
 *                        or, for an mm whose LDT is not mapped (it predates
 *                        the module and its mapping failed), the LDT itself
 *                        and the full kernel half in its user table: the
 *                        counted fallback (below).
 *   free_ldt_pgtables()  hooked: at exit_mmap() the tables and pages go.
 *
 * A slot's pages are only added, and written only while no CPU uses the
 * slot (modify_ldt() maps into the slot the current LDT does not use, and
 * install_ldt() moves every CPU off the old slot before the next call).
 * Nothing is unmapped before the whole tree goes, at exit or unload, after
 * a TLB flush on every CPU: no CPU can hold a translation of a freed page.
 *
 * The user table's top-level entry for the area mirrors the kernel table's:
 * written here when the tree appears, and, for PGDs that had one before
 * isolation went on, by the enable step's copy of the user half (shadow.c):
 * the area lies below KERNEL_PGD_BOUNDARY, just under the direct map, in
 * both paging modes.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/atomic.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/pfn.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <asm/desc.h>
#include <asm/ldt.h>
#include <asm/mmu_context.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>
#include <kaiser/test.h>

/* As ldt.c has them: each slot holds the largest LDT, 64 KiB. */
#define KAISER_LDT_SLOT_BYTES	(LDT_ENTRIES * LDT_ENTRY_SIZE)
#define KAISER_LDT_SLOT_PAGES	(KAISER_LDT_SLOT_BYTES / PAGE_SIZE)
#define KAISER_LDT_SLOTS	2

static atomic_t kaiser_nr_ldt_trees = ATOMIC_INIT(0);
static atomic_t kaiser_nr_ldt_fallbacks = ATOMIC_INIT(0);
static bool kaiser_ldt_isolated;	/* LDTR gets the alias */

static void *kaiser_ldt_slot_va(int slot)
{
	return (void *)(LDT_BASE_ADDR + KAISER_LDT_SLOT_BYTES * slot);
}

static unsigned int kaiser_ldt_pages(struct ldt_struct *ldt)
{
	return DIV_ROUND_UP(ldt->nr_entries * LDT_ENTRY_SIZE, PAGE_SIZE);
}

static pgd_t *kaiser_ldt_root(pgd_t *pgd)
{
	return pgd + pgd_index(LDT_BASE_ADDR);
}

/* The PTE table of @pgd's LDT area, or NULL if it has none. */
static pte_t *kaiser_ldt_ptes(pgd_t *pgd)
{
	pgd_t *root = kaiser_ldt_root(pgd);
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;

	if (pgd_none(READ_ONCE(*root)))
		return NULL;
	p4d = p4d_offset(root, LDT_BASE_ADDR);
	if (p4d_none(READ_ONCE(*p4d)))
		return NULL;
	pud = pud_offset(p4d, LDT_BASE_ADDR);
	if (pud_none(READ_ONCE(*pud)))
		return NULL;
	pmd = pmd_offset(pud, LDT_BASE_ADDR);
	if (pmd_none(READ_ONCE(*pmd)))
		return NULL;
	return pte_offset_kernel(pmd, LDT_BASE_ADDR);
}

/* Does @mm have an LDT? (Only the pointer is read: it may be freed.) */
bool kaiser_mm_has_ldt(struct mm_struct *mm)
{
	return mm && READ_ONCE(mm->context.ldt);
}

/*
 * The user table's entry for the LDT area is the kernel table's. A single
 * PGD (6.15+, not moved yet) has no user table: its move copies the entry.
 */
static void kaiser_ldt_mirror_root(pgd_t *pgd)
{
	if (kaiser_pgd_has_user_half(pgd))
		WRITE_ONCE(*kaiser_ldt_root(kernel_to_user_pgdp(pgd)),
			   READ_ONCE(*kaiser_ldt_root(pgd)));
}

/* Point the empty table entry @e at a new zeroed table of its own. */
static int kaiser_ldt_new_table(unsigned long *e)
{
	struct page *page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

	if (!page)
		return -ENOMEM;
	WRITE_ONCE(*e, PFN_PHYS(page_to_pfn(page)) | _KERNPG_TABLE);
	return 0;
}

/*
 * The PTE table of @pgd's LDT area, built if missing. Intermediate entries
 * are kernel-only (upstream's are user entries, built by get_locked_pte()
 * for a "userspace range"): user mode reaches nothing below them.
 */
static pte_t *kaiser_ldt_ptes_alloc(pgd_t *pgd)
{
	pgd_t *root = kaiser_ldt_root(pgd);
	bool had_root = pgd_val(READ_ONCE(*root)) != 0;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;

	if (pgtable_l5_enabled() && pgd_none(*root) &&
	    kaiser_ldt_new_table((unsigned long *)root))
		return NULL;
	p4d = p4d_offset(root, LDT_BASE_ADDR);
	if (p4d_none(*p4d) && kaiser_ldt_new_table((unsigned long *)p4d))
		goto out;
	pud = pud_offset(p4d, LDT_BASE_ADDR);
	if (pud_none(*pud) && kaiser_ldt_new_table((unsigned long *)pud))
		goto out;
	pmd = pmd_offset(pud, LDT_BASE_ADDR);
	if (pmd_none(*pmd) && kaiser_ldt_new_table((unsigned long *)pmd))
		goto out;
out:
	if (!had_root && pgd_val(READ_ONCE(*root))) {
		atomic_inc(&kaiser_nr_ldt_trees);
		kaiser_ldt_mirror_root(pgd);
	}
	return kaiser_ldt_ptes(pgd);
}

/* Read-only, not executable, not global, kernel only: as upstream's. */
static pgprot_t kaiser_ldt_prot(void)
{
	return __pgprot(pgprot_val(PAGE_KERNEL_RO) & ~_PAGE_GLOBAL);
}

/*
 * Copy @ldt into @slot of @mm's LDT area and record the slot in it. Called
 * with the mm's LDT
 * writers excluded (modify_ldt() holds ldt_usr_sem, fork has the new mm to
 * itself, the enable step takes ldt_usr_sem) and @slot unused by any CPU.
 */
static int kaiser_ldt_fill(struct mm_struct *mm, struct ldt_struct *ldt,
			   int slot)
{
	size_t left = (size_t)ldt->nr_entries * LDT_ENTRY_SIZE;
	unsigned int i, nr = kaiser_ldt_pages(ldt);
	pte_t *ptes;

	if (slot < 0 || slot >= KAISER_LDT_SLOTS || nr > KAISER_LDT_SLOT_PAGES)
		return -EINVAL;
	if (kaiser_test_no_ldt_area())
		return 0;
	ptes = kaiser_ldt_ptes_alloc(mm->pgd);
	if (!ptes)
		return -ENOMEM;
	ptes += slot * KAISER_LDT_SLOT_PAGES;
	for (i = 0; i < nr; i++) {
		size_t n = min_t(size_t, left, PAGE_SIZE);
		pte_t pte = READ_ONCE(ptes[i]);
		struct page *page;

		if (pte_present(pte)) {
			page = pte_page(pte);
		} else {
			page = alloc_page(GFP_KERNEL_ACCOUNT);
			if (!page)
				return -ENOMEM;
		}
		memcpy(page_address(page), (char *)ldt->entries + i * PAGE_SIZE, n);
		memset((char *)page_address(page) + n, 0, PAGE_SIZE - n);
		if (!pte_present(pte))
			set_pte(&ptes[i], pfn_pte(page_to_pfn(page), kaiser_ldt_prot()));
		left -= n;
	}
	WRITE_ONCE(ldt->slot, slot);
	return 0;
}

/*
 * Is @ldt in its slot of @mm's LDT area? Slots fill from their first page
 * and lose pages only with the whole tree, so its last page being there
 * says all are. An LDT that predates this module may carry a slot number
 * from an earlier load, whose tree went at unload: this check, not the
 * number, decides.
 */
bool kaiser_ldt_mapped(struct mm_struct *mm, struct ldt_struct *ldt)
{
	int slot = READ_ONCE(ldt->slot);
	unsigned int nr = kaiser_ldt_pages(ldt);
	pte_t *ptes;

	if (slot < 0 || slot >= KAISER_LDT_SLOTS || !nr || nr > KAISER_LDT_SLOT_PAGES)
		return false;
	ptes = kaiser_ldt_ptes(mm->pgd);
	return ptes && pte_present(READ_ONCE(ptes[slot * KAISER_LDT_SLOT_PAGES + nr - 1]));
}

/* ---- the fallback -------------------------------------------------- */

/* Does @pgd's user table hold the kernel's whole half (the fallback)? */
bool kaiser_ldt_is_fallback(pgd_t *pgd)
{
	return kaiser_pgd_has_user_half(pgd) &&
	       !memcmp(kernel_to_user_pgdp(pgd) + KERNEL_PGD_BOUNDARY,
		       pgd + KERNEL_PGD_BOUNDARY, KERNEL_PGD_PTRS * sizeof(pgd_t));
}

/* Give @pgd's user table the kernel's whole half: no isolation for it. */
static void kaiser_ldt_full_kernel(pgd_t *pgd)
{
	if (WARN_ON_ONCE(!kaiser_pgd_has_user_half(pgd)))
		return;
	memcpy(kernel_to_user_pgdp(pgd) + KERNEL_PGD_BOUNDARY,
	       pgd + KERNEL_PGD_BOUNDARY, KERNEL_PGD_PTRS * sizeof(pgd_t));
	atomic_inc(&kaiser_nr_ldt_fallbacks);
}

/*
 * E2, for each PGD (shadow.c, the page tables held still): an mm whose LDT
 * is not in its area gets the fallback instead of the template. Only here
 * and on a CPU about to load the LDT can it not be freed under us.
 */
bool kaiser_ldt_fallback(struct mm_struct *mm, pgd_t *pgd)
{
	struct ldt_struct *ldt = mm ? READ_ONCE(mm->context.ldt) : NULL;

	if (!ldt || kaiser_ldt_mapped(mm, ldt))
		return false;
	kaiser_ldt_full_kernel(pgd);
	return true;
}

/* Since isolation last went on (expected: none). */
unsigned int kaiser_ldt_fallbacks(void)
{
	return atomic_read(&kaiser_nr_ldt_fallbacks);
}

/* ---- the replacements (mm_hooks.c redirects the kernel's calls) ------ */

/* map_ldt_struct(mm, ldt, slot): may sleep. */
int kaiser_ldt_map(struct mm_struct *mm, struct ldt_struct *ldt, int slot)
{
	return kaiser_ldt_fill(mm, ldt, slot);
}

/*
 * load_mm_ldt(mm): interrupts off, on a CPU about to run @mm. With
 * isolation on, LDTR gets the alias, or the LDT itself with the fallback
 * (idempotent: every CPU running the mm may get here).
 */
void kaiser_ldt_load(struct mm_struct *mm)
{
	struct ldt_struct *ldt = READ_ONCE(mm->context.ldt);

	if (!ldt) {
		clear_LDT();
		return;
	}
	if (READ_ONCE(kaiser_ldt_isolated)) {
		if (kaiser_ldt_mapped(mm, ldt)) {
			set_ldt(kaiser_ldt_slot_va(ldt->slot), ldt->nr_entries);
			return;
		}
		if (!kaiser_ldt_is_fallback(mm->pgd))
			kaiser_ldt_full_kernel(mm->pgd);
	}
	set_ldt(ldt->entries, ldt->nr_entries);
}

/*
 * In the stop_machine() steps that turn user tables on (E2) and off (D1),
 * on the CPU that patches, before any CPU reloads LDTR: from now on LDTR
 * holds the alias (or, off, the LDT's kernel address again).
 */
void kaiser_ldt_isolate(bool on)
{
	WARN_ON_ONCE(!irqs_disabled());
	if (on)
		atomic_set(&kaiser_nr_ldt_fallbacks, 0);
	WRITE_ONCE(kaiser_ldt_isolated, on);
}

/*
 * Then, on every CPU: load LDTR again as kaiser_ldt_isolate() now wants
 * it. A CPU that goes back to the same mm does not reload it.
 */
void kaiser_ldt_reload_cpu(void)
{
	struct mm_struct *mm = kaiser_loaded_mm();

	WARN_ON_ONCE(!irqs_disabled());
	if (kaiser_mm_has_ldt(mm))
		kaiser_ldt_load(mm);
}

/* ---- teardown ------------------------------------------------------ */

static void kaiser_ldt_flush_cpu(void *unused)
{
	kaiser_tlb_flush_all_local();
}

/* The table an entry points at (entries here are ours: 4 KiB tables). */
static unsigned long *kaiser_ldt_table(unsigned long e)
{
	return (unsigned long *)__va(e & PTE_PFN_MASK);
}

/*
 * Free a tree taken out of every PGD, and flushed: the pages of both slots,
 * then the tables. LDT_BASE_ADDR is aligned to a top-level entry, so each
 * table below holds the area in its first entry.
 */
static void kaiser_ldt_free_tree(unsigned long top)
{
	unsigned int levels = pgtable_l5_enabled() ? 4 : 3;
	unsigned long *tables[4], e = top;
	unsigned int n = 0, i;

	while (n < levels && (e & _PAGE_PRESENT)) {
		tables[n] = kaiser_ldt_table(e);
		e = tables[n][0];
		n++;
	}
	if (n == levels) {
		for (i = 0; i < KAISER_LDT_SLOTS * KAISER_LDT_SLOT_PAGES; i++)
			if (tables[n - 1][i] & _PAGE_PRESENT)
				__free_page(pfn_to_page((tables[n - 1][i] & PTE_PFN_MASK) >>
							PAGE_SHIFT));
	}
	while (n--)
		free_page((unsigned long)tables[n]);
	atomic_dec(&kaiser_nr_ldt_trees);
}

/* Take @pgd's tree out of both tables; 0 if it had none. */
static unsigned long kaiser_ldt_detach(pgd_t *pgd)
{
	unsigned long top = xchg(&kaiser_ldt_root(pgd)->pgd, 0);

	if (top && kaiser_pgd_has_user_half(pgd))
		WRITE_ONCE(*kaiser_ldt_root(kernel_to_user_pgdp(pgd)), __pgd(0));
	return top;
}

/* Free @mm's LDT area, if it has one: may sleep. */
static void kaiser_ldt_release(struct mm_struct *mm)
{
	unsigned long top;

	might_sleep();
	top = kaiser_ldt_detach(mm->pgd);
	if (!top)
		return;
	on_each_cpu(kaiser_ldt_flush_cpu, NULL, 1);
	kaiser_ldt_free_tree(top);
}

/*
 * free_ldt_pgtables(mm), at exit_mmap() or after a failed first map, in
 * the kernel's sleepable context.
 */
void kaiser_ldt_free_pgtables(struct mm_struct *mm)
{
	kaiser_ldt_release(mm);
}

#define KAISER_LDT_BATCH	32

/*
 * Module unload, once nothing maps new LDTs and isolation is off (no LDTR
 * points into the area): every PGD's tree goes, a batch per flush.
 */
void kaiser_ldt_release_all(void)
{
	unsigned long tops[KAISER_LDT_BATCH];
	struct page *page;
	unsigned int n, i;

	do {
		n = 0;
		spin_lock(kaiser_pgd_lock());
		kaiser_for_each_pgd(page) {
			tops[n] = kaiser_ldt_detach(page_address(page));
			if (tops[n] && ++n == KAISER_LDT_BATCH)
				break;
		}
		spin_unlock(kaiser_pgd_lock());
		if (!n)
			break;
		on_each_cpu(kaiser_ldt_flush_cpu, NULL, 1);
		for (i = 0; i < n; i++)
			kaiser_ldt_free_tree(tops[i]);
	} while (n == KAISER_LDT_BATCH);
}

/* ---- enable --------------------------------------------------------- */

/* Map the LDT of @mm if it is not mapped yet (it predates the module). */
static void kaiser_ldt_map_one(struct mm_struct *mm)
{
	struct ldt_struct *ldt;

	down_write(&mm->context.ldt_usr_sem);
	ldt = mm->context.ldt;
	if (ldt && !kaiser_ldt_mapped(mm, ldt))
		kaiser_ldt_fill(mm, ldt, 0);
	up_write(&mm->context.ldt_usr_sem);
}

/*
 * Before isolation goes on: map every LDT made before the module's hook
 * was there. No CPU uses slot 0 of such an LDT (LDTR holds the LDT's own
 * address). One that still slips through (a fork that copied an LDT just
 * as the hook went in) gets the fallback, not a fault.
 */
void kaiser_ldt_map_existing(void)
{
	struct mm_struct **mms;
	unsigned int cap = 0, n = 0, i;
	struct page *page;

	spin_lock(kaiser_pgd_lock());
	kaiser_for_each_pgd(page) {
		if (kaiser_mm_has_ldt(kaiser_pgd_page_mm(page)))
			cap++;
	}
	spin_unlock(kaiser_pgd_lock());
	if (!cap)
		return;
	mms = kcalloc(cap, sizeof(*mms), GFP_KERNEL);
	if (!mms)
		return;
	spin_lock(kaiser_pgd_lock());
	kaiser_for_each_pgd(page) {
		struct mm_struct *mm = kaiser_pgd_page_mm(page);

		if (n < cap && kaiser_mm_has_ldt(mm) && mmget_not_zero(mm))
			mms[n++] = mm;
	}
	spin_unlock(kaiser_pgd_lock());
	for (i = 0; i < n; i++) {
		kaiser_ldt_map_one(mms[i]);
		mmput(mms[i]);
	}
	kfree(mms);
}

unsigned int kaiser_ldt_trees(void)
{
	return atomic_read(&kaiser_nr_ldt_trees);
}
