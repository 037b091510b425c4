/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types and functions shared by kaiser's files. Each file owns one concern;
 * this header only says what crosses between them.
 */
#ifndef _KAISER_KAISER_H
#define _KAISER_KAISER_H

#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>
#include <asm/pgtable_types.h>

struct ldt_struct;
struct mm_struct;
struct page;

#define KAISER_SITE_MAX	16

/* One X86_FEATURE_PTI alternative site, as the build-time table has it. */
struct kaiser_site_desc {
	u32 offset;		/* from _text */
	u8 len;
	bool entry_shape;	/* a lone PTI alternative, as entry code has */
	u8 off[KAISER_SITE_MAX];	/* bytes boot left, PTI clear */
	u8 on[KAISER_SITE_MAX];		/* bytes with PTI set */
};

/*
 * When a site is switched on. Entry code that saves CR3 or switches to the
 * kernel table goes first; the code that switches back to the user table,
 * or restores a saved CR3, goes second, once no NMI that entered through
 * the old code can still be running (docs/design.md §3.4). The C sites
 * that mirror user PGD entries and copy the template into new PGDs go with
 * the second phase, as they set NX on the kernel's copy of user entries.
 * Where the kernel allocates single-page PGDs (6.15+), pgd_alloc()'s
 * allocation-order site is on for as long as kaiser is loaded (pairs.c).
 */
enum kaiser_phase {
	KAISER_PHASE_NONE,	/* left dormant */
	KAISER_PHASE_ALLOC,	/* while loaded: pgd_alloc() makes pairs */
	KAISER_PHASE_ENTRY,	/* to kernel CR3, save CR3 */
	KAISER_PHASE_EXIT,	/* to user CR3, restore CR3, memory side */
};

/* A site found in the running kernel. */
struct kaiser_site {
	const struct kaiser_site_desc *desc;
	const u8 *boot;		/* what boot left: off, or on for PCID sites */
	const u8 *patched;	/* what switching it on writes */
	u8 *addr;
	bool entry;		/* inside .entry.text */
	enum kaiser_phase phase;
	bool active;
	char func[48];		/* the function holding it */
};

/*
 * Is a PMD or PTE present to the CPU? pte_present() and pmd_present() also
 * accept PROT_NONE entries, which the CPU treats as not present: the CPU
 * entry area holds such entries (to pfn 0) for the debug-store buffers of
 * a CPU with DS. A user table's reach counts only what the CPU can walk.
 */
#define kaiser_hw_present(val)	(((val) & _PAGE_PRESENT) != 0)

/*
 * The first top-level entry of the CPU's kernel half (the top address bit
 * set). The kernel's KERNEL_PGD_BOUNDARY starts higher, at the direct map:
 * the LDT remap area lies between the two. Counts and listings of what a
 * user table maps of the kernel start here.
 */
#define KAISER_KERNEL_HALF	(PTRS_PER_PGD / 2)

/* symbols.c: unexported kernel symbols, resolved once at load */
struct kaiser_syms {
	unsigned long text;		/* _text */
	unsigned long etext;		/* _etext */
	unsigned long entry_text_start;	/* __entry_text_start */
	unsigned long entry_text_end;	/* __entry_text_end */
	unsigned long pgd_list;		/* the list of every PGD */
	unsigned long pgd_lock;
	unsigned long init_top_pgt;	/* swapper_pg_dir */
	unsigned long cpu_tlbstate;	/* per-CPU struct tlb_state */
	unsigned long cr4_update_irqsoff;	/* CR4 and its per-CPU shadow */
	unsigned long flush_tlb_all;	/* __flush_tlb_all(): this CPU, all ASIDs */
	unsigned long flush_tlb_mm_range;	/* every CPU, one mm */
	unsigned long efi_mm;		/* optional: 0 without CONFIG_EFI */
	unsigned long efi_runtime_lock;	/* optional: the runtime semaphore */
};

extern struct kaiser_syms kaiser_syms;
int kaiser_resolve_symbols(void);

/* The kernel's list of every PGD, and its lock. */
static inline struct list_head *kaiser_pgd_list(void)
{
	return (struct list_head *)kaiser_syms.pgd_list;
}

static inline spinlock_t *kaiser_pgd_lock(void)
{
	return (spinlock_t *)kaiser_syms.pgd_lock;
}

static inline struct list_head *kaiser_pgd_list_locked(void)
{
	lockdep_assert_held(kaiser_pgd_lock());
	return kaiser_pgd_list();
}

/*
 * Every PGD page on the kernel's pgd_list; the caller holds pgd_lock.
 * page_address(page) is the PGD, kaiser_pgd_page_mm(page) its mm (NULL
 * while pgd_alloc() or pgd_free() has it off any mm).
 */
#define kaiser_for_each_pgd(page)					\
	for (page = list_first_entry(kaiser_pgd_list_locked(),		\
				     struct page, lru);			\
	     !list_entry_is_head(page, kaiser_pgd_list(), lru);		\
	     page = list_next_entry(page, lru))

/* ibt_call.S: call a kernel function whose ENDBR64 may be sealed */
unsigned long kaiser_call_sealed(unsigned long fn, unsigned long a1,
				 unsigned long a2, unsigned long a3,
				 unsigned long a4, unsigned long a5);

/* compat.c: what the running kernel is, and whether we support it */
int kaiser_check_kernel(void);
unsigned int kaiser_paging_levels(void);
bool kaiser_pcid_in_use(void);
bool kaiser_ibt_in_use(void);
const char *kaiser_backend_name(void);

/* sites.c: the dormant PTI sites of the running kernel */
int kaiser_sites_init(void);
unsigned int kaiser_sites_count(void);
unsigned int kaiser_sites_entry_count(void);
const struct kaiser_site *kaiser_site(unsigned int i);
const char *kaiser_sites_engine(void);
int kaiser_sites_prepare(void);
void kaiser_sites_release(void);
int kaiser_sites_switch(enum kaiser_phase phase, bool on);
unsigned int kaiser_sites_active(void);
int kaiser_pcid_sites_switch(bool on);
unsigned int kaiser_pcid_sites_active(void);
bool kaiser_pcid_flush_ok(void);

/* template.c: the kernel half shared by every user page table */
pgd_t *kaiser_template_pgd(void);
int kaiser_template_build(void);
void kaiser_template_destroy(void);
unsigned long kaiser_template_bytes(void);

/* walk.c: the one walker of a kernel half, down to its leaves */
struct kaiser_walk {
	/* every leaf present to the CPU: @size bytes at @va, mapping @pa */
	void (*leaf)(struct kaiser_walk *w, unsigned long va,
		     unsigned long size, u64 pa, u64 val);
	/* optional: a lower table (by pfn) about to be walked; false skips it */
	bool (*table)(struct kaiser_walk *w, unsigned long pfn);
};

void kaiser_walk_kernel_half(pgd_t *pgd, struct kaiser_walk *w);
unsigned long kaiser_slot_va(unsigned int slot);
unsigned long kaiser_kernel_bytes(pgd_t *pgd);

/* audit.c: every user table against what it must hold */
struct kaiser_audit {
	unsigned int tables;		/* user tables walked */
	unsigned int bad_tables;	/* with at least one finding */
	unsigned int ldt_fallbacks;	/* full kernel half, by design */
	unsigned int findings;		/* wrong entries, all tables */
	unsigned int max_findings;	/* how many to describe in buf */
	char *buf;
	size_t len, size;
};

void kaiser_audit(struct kaiser_audit *a);

/* shadow.c: the user page table of every mm */
int kaiser_shadow_lock(void);		/* in a step: pgd_lock, or -EAGAIN */
void kaiser_shadow_unlock(void);
void kaiser_shadow_populate_all(void);
void kaiser_shadow_unmark_all(void);
void kaiser_shadow_clear_all(void);
void kaiser_shadow_table_freed(struct mm_struct *mm, void *table);
unsigned long kaiser_shadow_teardown_checks(void);
unsigned long kaiser_shadow_teardown_clears(void);

/* ldt.c: LDTs in the LDT remap area */
bool kaiser_mm_has_ldt(struct mm_struct *mm);
bool kaiser_ldt_mapped(struct mm_struct *mm, struct ldt_struct *ldt);
int kaiser_ldt_map(struct mm_struct *mm, struct ldt_struct *ldt, int slot);
void kaiser_ldt_load(struct mm_struct *mm);
void kaiser_ldt_isolate(bool on);		/* in a step: LDTR gets aliases */
void kaiser_ldt_reload_cpu(void);		/* in a step, every CPU */
bool kaiser_ldt_fallback(struct mm_struct *mm, pgd_t *pgd);
bool kaiser_ldt_is_fallback(pgd_t *pgd);
unsigned int kaiser_ldt_fallbacks(void);
void kaiser_ldt_free_pgtables(struct mm_struct *mm);
void kaiser_ldt_release_all(void);
void kaiser_ldt_map_existing(void);
unsigned int kaiser_ldt_trees(void);

/* pairs.c: PGD pairs where the kernel allocates single pages (6.15+) */
int kaiser_pairs_move_all(void);
bool kaiser_pairs_all(void);			/* under pgd_lock */
bool kaiser_pgd_has_user_half(pgd_t *pgd);
const char *kaiser_pairs_source(void);
unsigned long kaiser_pairs_moved_count(void);
unsigned long kaiser_pairs_forced_count(void);
u64 kaiser_pairs_move_time_ns(void);
u64 kaiser_pairs_free_time_ns(void);
void kaiser_pairs_exit(void);
const char *kaiser_pairs_efi_pgd(void);

/* mm_hooks.c: ftrace hooks on the mm life cycle */
int kaiser_hooks_init(void);
void kaiser_hooks_exit(void);

/* vuln_report.c: the Meltdown line of the vulnerabilities files */
void kaiser_report_init(void);
void kaiser_report_exit(void);

/* tlb.c: global pages */
int kaiser_tlb_init(void);
void kaiser_tlb_exit(void);
void kaiser_tlb_set_nonglobal(bool nonglobal);	/* this CPU, irqs off */
void kaiser_tlb_switch(bool on);		/* this CPU, irqs off */
void kaiser_tlb_flush_all_local(void);		/* this CPU, every ASID */
extern const size_t kaiser_tlbstate_invalidate_other;	/* tlb_layout.c */
extern const size_t kaiser_tlbstate_loaded_mm;		/* tlb_layout.c */
extern const struct mm_struct *const kaiser_loaded_mm_switching; /* ditto */
bool kaiser_cpu_lazy(void);				/* ditto */
struct mm_struct *kaiser_loaded_mm(void);		/* this CPU's */
struct mm_struct *kaiser_loaded_mm_on(int cpu);		/* racy */
const char *kaiser_pcid_mode(void);
bool kaiser_tlb_pcid_flush(void);
const char *kaiser_tlb_mode(void);
int kaiser_tlb_pge_cpus(unsigned int *with_pge, unsigned int *online);

/* state.c: off -> enabling -> on -> disabling -> off */
enum kaiser_state {
	KAISER_OFF,
	KAISER_ENABLING,
	KAISER_ON,
	KAISER_DISABLING,
};

enum kaiser_state kaiser_state(void);
const char *kaiser_state_name(enum kaiser_state s);
int kaiser_set_enabled(bool on);
int kaiser_startup(void);
int kaiser_shutdown(void);
u64 kaiser_state_enable_ns(void);
u64 kaiser_state_disable_ns(void);
unsigned long kaiser_state_step_retries(void);

/* sysfs.c, debugfs.c */
int kaiser_sysfs_init(void);
void kaiser_sysfs_exit(void);
void kaiser_debugfs_init(void);
void kaiser_debugfs_exit(void);

#endif /* _KAISER_KAISER_H */
