// SPDX-License-Identifier: GPL-2.0
/*
 * The template: the kernel half that every user page table shares.
 *
 * It lives where the kernel's own isolation keeps it, in the user half of
 * swapper_pg_dir's PGD pair, so the kernel's pgd_alloc() copies it into
 * every new PGD once that dormant site is switched on. It maps only what
 * the CPU and the entry code touch while CR3 holds a user table:
 *
 *   - the CPU entry area (GDT, TSS, entry and exception stacks, read-only
 *     IDT), sharing the kernel's top-level entry as upstream does;
 *   - the ESPFIX stacks, likewise, where the kernel has them;
 *   - the pages of .entry.text, one 4 KiB page at a time (upstream maps the
 *     whole 2 MiB around them);
 *   - each possible CPU's cpu_tss_rw page: entry_SYSCALL_64 spills RSP into
 *     TSS.sp2 through %gs before it switches CR3;
 *   - the vsyscall page, only when vsyscall=emulate maps it for user reads.
 *
 * Intermediate tables below the shared entries are the module's own; they
 * are freed once no CPU can reach them any more.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <asm/cpu_entry_area.h>
#include <asm/espfix.h>
#include <asm/pgtable.h>
#include <asm/processor.h>
#include <asm/vsyscall.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

#define KAISER_TABLES_MAX	256

static void *kaiser_tables[KAISER_TABLES_MAX];
static unsigned int kaiser_nr_tables;
static unsigned long kaiser_tmpl_bytes;

pgd_t *kaiser_template_pgd(void)
{
	return kernel_to_user_pgdp((pgd_t *)kaiser_syms.init_top_pgt);
}

static void *kaiser_table_alloc(void)
{
	void *t;

	if (kaiser_nr_tables == KAISER_TABLES_MAX)
		return NULL;
	t = (void *)get_zeroed_page(GFP_KERNEL);
	if (t)
		kaiser_tables[kaiser_nr_tables++] = t;
	return t;
}

static bool kaiser_table_owned(void *t)
{
	unsigned int i;

	for (i = 0; i < kaiser_nr_tables; i++)
		if (kaiser_tables[i] == t)
			return true;
	return false;
}

/*
 * Walk the template down to the entry of one level for @va, allocating
 * tables on the way. Only module-owned tables are descended into: an entry
 * shared with the kernel must never be written below.
 */
static p4d_t *kaiser_tmpl_p4d(unsigned long va)
{
	pgd_t *pgd = kaiser_template_pgd() + pgd_index(va);
	void *t;

	/* With the P4D folded at run time, the PGD entry is the P4D entry. */
	if (!pgtable_l5_enabled())
		return (p4d_t *)pgd;
	if (pgd_none(*pgd)) {
		t = kaiser_table_alloc();
		if (!t)
			return NULL;
		WRITE_ONCE(*pgd, __pgd(_KERNPG_TABLE | __pa(t)));
	} else if (!kaiser_table_owned((void *)pgd_page_vaddr(*pgd))) {
		return NULL;
	}
	return p4d_offset(pgd, va);
}

static pud_t *kaiser_tmpl_pud(unsigned long va)
{
	p4d_t *p4d = kaiser_tmpl_p4d(va);
	void *t;

	if (!p4d)
		return NULL;
	if (p4d_none(*p4d)) {
		t = kaiser_table_alloc();
		if (!t)
			return NULL;
		WRITE_ONCE(*p4d, __p4d(_KERNPG_TABLE | __pa(t)));
	} else if (!kaiser_table_owned((void *)p4d_pgtable(*p4d))) {
		return NULL;
	}
	return pud_offset(p4d, va);
}

static pmd_t *kaiser_tmpl_pmd(unsigned long va)
{
	pud_t *pud = kaiser_tmpl_pud(va);
	void *t;

	if (!pud)
		return NULL;
	/* Below a module-owned P4D every table is ours: never a leaf (pti.c). */
	if (WARN_ON_ONCE(pud_leaf(*pud)))
		return NULL;
	if (pud_none(*pud)) {
		t = kaiser_table_alloc();
		if (!t)
			return NULL;
		WRITE_ONCE(*pud, __pud(_KERNPG_TABLE | __pa(t)));
	}
	return pmd_offset(pud, va);
}

static pte_t *kaiser_tmpl_pte(unsigned long va)
{
	pmd_t *pmd = kaiser_tmpl_pmd(va);
	void *t;

	if (!pmd)
		return NULL;
	if (WARN_ON_ONCE(pmd_leaf(*pmd)))
		return NULL;
	if (pmd_none(*pmd)) {
		t = kaiser_table_alloc();
		if (!t)
			return NULL;
		WRITE_ONCE(*pmd, __pmd(_KERNPG_TABLE | __pa(t)));
	}
	return pte_offset_kernel(pmd, va);
}

/* Map one kernel page at its own address, not global. */
static int kaiser_tmpl_map_page(unsigned long va, pgprot_t prot)
{
	pte_t *pte = kaiser_tmpl_pte(va);
	phys_addr_t pa;

	if (!pte)
		return -ENOMEM;
	/* Through the page tables: the page may sit inside a 1 GiB mapping. */
	pa = slow_virt_to_phys((void *)va);
	WRITE_ONCE(*pte, pfn_pte(pa >> PAGE_SHIFT,
				 __pgprot(pgprot_val(prot) & ~_PAGE_GLOBAL)));
	return 0;
}

/* Share the kernel's P4D-level entry for @va, as upstream's pti_clone_p4d(). */
static int kaiser_tmpl_share_p4d(unsigned long va)
{
	pgd_t *kpgd = pgd_offset_pgd((pgd_t *)kaiser_syms.init_top_pgt, va);
	p4d_t *kp4d = p4d_offset(kpgd, va);
	p4d_t *up4d = kaiser_tmpl_p4d(va);

	if (!up4d)
		return -ENOMEM;
	if (p4d_none(*kp4d) || !p4d_none(*up4d))
		return -EINVAL;
	WRITE_ONCE(*up4d, *kp4d);
	return 0;
}

static int kaiser_tmpl_cpu_entry_area(void)
{
	return kaiser_tmpl_share_p4d(CPU_ENTRY_AREA_BASE);
}

/* As upstream's pti_setup_espfix64(): only a kernel with ESPFIX has it. */
static int kaiser_tmpl_espfix(void)
{
	if (!kaiser_has_espfix())
		return 0;
	return kaiser_tmpl_share_p4d(ESPFIX_BASE_ADDR);
}

static int kaiser_tmpl_entry_text(void)
{
	unsigned long va;
	int ret;

	for (va = kaiser_syms.entry_text_start & PAGE_MASK;
	     va < kaiser_syms.entry_text_end; va += PAGE_SIZE) {
		ret = kaiser_tmpl_map_page(va, PAGE_KERNEL_ROX);
		if (ret)
			return ret;
	}
	return 0;
}

static int kaiser_tmpl_tss(void)
{
	unsigned int cpu;
	int ret;

	for_each_possible_cpu(cpu) {
		ret = kaiser_tmpl_map_page((unsigned long)per_cpu_ptr(&cpu_tss_rw, cpu),
					   PAGE_KERNEL);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * vsyscall=emulate maps the vsyscall page readable by user mode in the
 * fixmap (none, Debian's default, and xonly map nothing).
 * Copy its PTE and make the template's own tables above it user-visible,
 * as upstream's pti_setup_vsyscall() does; the entry text and TSS PTEs
 * below those tables stay supervisor-only.
 */
static int kaiser_tmpl_vsyscall(void)
{
	unsigned long va = VSYSCALL_ADDR;
	unsigned int level;
	pte_t *kpte = lookup_address(va, &level);
	pte_t *pte;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;

	if (!kpte || level != PG_LEVEL_4K || pte_none(*kpte) ||
	    !(pte_val(*kpte) & _PAGE_USER))
		return 0;
	pte = kaiser_tmpl_pte(va);
	if (!pte)
		return -ENOMEM;
	WRITE_ONCE(*pte, *kpte);
	pgd = kaiser_template_pgd() + pgd_index(va);
	p4d = p4d_offset(pgd, va);
	pud = pud_offset(p4d, va);
	pmd = pmd_offset(pud, va);
	if (pgtable_l5_enabled())
		WRITE_ONCE(*pgd, __pgd(pgd_val(*pgd) | _PAGE_USER));
	WRITE_ONCE(*p4d, __p4d(p4d_val(*p4d) | _PAGE_USER));
	WRITE_ONCE(*pud, __pud(pud_val(*pud) | _PAGE_USER));
	WRITE_ONCE(*pmd, __pmd(pmd_val(*pmd) | _PAGE_USER));
	return 0;
}

/* Clear the template and free its tables: no CPU may be able to use it. */
void kaiser_template_destroy(void)
{
	unsigned int i;

	memset(kaiser_template_pgd() + KERNEL_PGD_BOUNDARY, 0,
	       KERNEL_PGD_PTRS * sizeof(pgd_t));
	for (i = 0; i < kaiser_nr_tables; i++)
		free_page((unsigned long)kaiser_tables[i]);
	kaiser_nr_tables = 0;
	kaiser_tmpl_bytes = 0;
}

int kaiser_template_build(void)
{
	int ret;

	ret = kaiser_tmpl_cpu_entry_area();
	if (!ret)
		ret = kaiser_tmpl_espfix();
	if (!ret)
		ret = kaiser_tmpl_entry_text();
	if (!ret)
		ret = kaiser_tmpl_tss();
	if (!ret)
		ret = kaiser_tmpl_vsyscall();
	if (ret) {
		pr_err("cannot build the user page-table template (%d)\n", ret);
		kaiser_template_destroy();
		return ret;
	}
	kaiser_tmpl_bytes = kaiser_kernel_bytes(kaiser_template_pgd());
	return 0;
}

unsigned long kaiser_template_bytes(void)
{
	return kaiser_tmpl_bytes;
}
