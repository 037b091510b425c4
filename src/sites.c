// SPDX-License-Identifier: GPL-2.0
/*
 * The dormant X86_FEATURE_PTI sites of the running kernel.
 *
 * The table comes from the kernel image at build time (the kernel frees
 * its own alternatives table after boot). At load, every site is located
 * relative to the running _text and its bytes are compared with what boot
 * must have left there; any difference refuses the load, because writing
 * the "on" bytes over code we do not recognise could break the machine.
 *
 * A second, smaller table holds the X86_FEATURE_PCID branch of each exit
 * to a user CR3 (kaiser_pcid_site_table): with PCID, the "flush" mode puts
 * back the jump boot removed, so the exit skips the user ASID and NOFLUSH
 * and flushes the kernel's own ASID instead (tlb.c). They are checked the
 * same way, against what boot left for this CPU's PCID setting.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>
#include <kaiser/test.h>
#include "kaiser_sites.h"

#define KAISER_ALL_SITES	(KAISER_SITES_COUNT + KAISER_PCID_SITES_COUNT)

/* The PTI sites, then the PCID exit sites. */
static struct kaiser_site kaiser_sites[KAISER_ALL_SITES];
static struct kaiser_site *const kaiser_pcid_sites = kaiser_sites + KAISER_SITES_COUNT;
static unsigned int kaiser_nr_entry_sites;
static unsigned int kaiser_nr_pcid_sites;	/* usable: in an exit */
static unsigned int kaiser_nr_pcid_unknown;	/* in entry code, not an exit */

/* Writable aliases of the sites' text, mapped while a switch is prepared. */
static void *kaiser_alias_base[KAISER_ALL_SITES];
static u8 *kaiser_alias[KAISER_ALL_SITES];

/*
 * The role of each site, by the function that holds it (and, where a
 * function holds two, by their order). An entry-code site in a function
 * not listed here refuses the load: we do not guess what unknown entry
 * code does. C sites not listed stay dormant: load_mm_ldt (the LDT is
 * handled by kaiser), the sync_core() skips (a missed skip costs only a
 * sync_core), and boot code.
 */
struct kaiser_site_role {
	const char *func;
	int nth;	/* -1: every site of the function; below: none */
	enum kaiser_phase phase;
};

static const struct kaiser_site_role kaiser_site_roles[] = {
	/* entry: switch to the kernel table, or save CR3 and switch */
	{ "entry_SYSCALL_64",		-1, KAISER_PHASE_ENTRY },
	{ "entry_SYSENTER_compat",	-1, KAISER_PHASE_ENTRY },
	{ "entry_SYSCALL_compat",	-1, KAISER_PHASE_ENTRY },
	{ "error_entry",		-1, KAISER_PHASE_ENTRY },
	{ "paranoid_entry",		-1, KAISER_PHASE_ENTRY },
	{ "asm_exc_nmi",		-1, KAISER_PHASE_ENTRY },
	{ "native_irq_return_ldt",	 0, KAISER_PHASE_ENTRY },
	/* exit: switch to the user table, or restore a saved CR3 */
	{ "native_irq_return_ldt",	 1, KAISER_PHASE_EXIT },
	{ "syscall_return_via_sysret",	-1, KAISER_PHASE_EXIT },
	{ "common_interrupt_return",	-1, KAISER_PHASE_EXIT },
	{ "entry_SYSRETL_compat_unsafe_stack", -1, KAISER_PHASE_EXIT },
	{ "paranoid_exit",		-1, KAISER_PHASE_EXIT },
	{ "end_repeat_nmi",		-1, KAISER_PHASE_EXIT },
	/* memory side: mirror user PGD entries, template into new PGDs */
	{ "native_set_pgd",		-1, KAISER_PHASE_EXIT },
	{ "native_set_p4d",		-1, KAISER_PHASE_EXIT },
	{ "pgd_alloc", KAISER_PGD_ALLOC_SITES - 1, KAISER_PHASE_EXIT },
	/* where PGDs are single pages: pairs for as long as kaiser is loaded */
	{ "pgd_alloc", KAISER_PGD_ALLOC_ORDER_NTH, KAISER_PHASE_ALLOC },
	/*
	 * TLB side (arch/x86/mm/tlb.c), what the kernel does with its own
	 * isolation on: mark a user ASID for flushing whenever its kernel
	 * ASID is flushed or reused, flush single user pages from the user
	 * ASID too, and carry single-page kernel flushes to every other
	 * ASID (kernel pages are no longer global). Each only acts with
	 * PCID on; without it they return early.
	 */
	{ "invalidate_user_asid",	-1, KAISER_PHASE_EXIT },
	{ "native_flush_tlb_one_user",	-1, KAISER_PHASE_EXIT },
	{ "flush_tlb_one_kernel",	-1, KAISER_PHASE_EXIT },
	{ "switch_mm_irqs_off",		-1, KAISER_PHASE_EXIT },	/* clear_asid_other() */
	{ "choose_new_asid",		-1, KAISER_PHASE_EXIT },	/* ditto, 7.x */
};

const char *kaiser_sites_engine(void)
{
	return KAISER_SITES_ENGINE;
}

unsigned int kaiser_sites_count(void)
{
	return KAISER_SITES_COUNT;
}

unsigned int kaiser_sites_entry_count(void)
{
	return kaiser_nr_entry_sites;
}

const struct kaiser_site *kaiser_site(unsigned int i)
{
	return i < KAISER_SITES_COUNT ? &kaiser_sites[i] : NULL;
}

/*
 * The table names the image it came from by its banner, which holds the
 * release and the build's version string: both must be this kernel's.
 */
static int kaiser_sites_match_kernel(void)
{
	const char *built = KAISER_SITES_BANNER + strlen("Linux version ");
	struct new_utsname *u = init_utsname();
	size_t rlen = strlen(u->release);

	if (strncmp(built, u->release, rlen) || built[rlen] != ' ' ||
	    !strstr(built, u->version)) {
		pr_err("refusing to load: site table built for another kernel image (%.*s), this is %s %s\n",
		       (int)strcspn(built, " "), built, u->release, u->version);
		return -ENOEXEC;
	}
	return 0;
}

static bool kaiser_in_range(unsigned long a, unsigned int len,
			    unsigned long start, unsigned long end)
{
	return a >= start && a + len <= end;
}

/*
 * Locate one site and check it holds exactly what boot left there:
 * @boot, and @patched is what switching it on writes.
 */
static int kaiser_site_check(const struct kaiser_site_desc *d,
			     struct kaiser_site *s, const u8 *boot,
			     const u8 *patched)
{
	unsigned long a = kaiser_syms.text + d->offset;
	u8 cur[KAISER_SITE_MAX];

	s->desc = d;
	s->addr = (u8 *)a;
	s->boot = boot;
	s->patched = patched;
	if (!kaiser_in_range(a, d->len, kaiser_syms.text, kaiser_syms.etext)) {
		pr_err("refusing to load: site _text+%#x lies outside kernel text\n",
		       d->offset);
		return -ENOEXEC;
	}
	s->entry = kaiser_in_range(a, d->len, kaiser_syms.entry_text_start,
				   kaiser_syms.entry_text_end);
	/* Entry code holds lone PTI alternatives; C code static_cpu_has() pairs. */
	if (s->entry != d->entry_shape) {
		pr_err("refusing to load: site %pS is %s .entry.text but shaped as %s code\n",
		       s->addr, s->entry ? "inside" : "outside",
		       d->entry_shape ? "entry" : "C");
		return -ENOEXEC;
	}
	if (copy_from_kernel_nofault(cur, s->addr, d->len)) {
		pr_err("refusing to load: cannot read site %pS\n", s->addr);
		return -EFAULT;
	}
	if (memcmp(cur, boot, d->len)) {
		pr_err("refusing to load: unexpected bytes at %pS: %*phN, expected %*phN\n",
		       s->addr, d->len, cur, d->len, boot);
		return -ENOEXEC;
	}
	return 0;
}

/* Which of its function's sites this one is, in address order. */
static int kaiser_site_nth(unsigned int i)
{
	unsigned int j;
	int nth = 0;

	for (j = 0; j < KAISER_SITES_COUNT; j++)
		if (!strcmp(kaiser_sites[j].func, kaiser_sites[i].func) &&
		    kaiser_sites[j].addr < kaiser_sites[i].addr)
			nth++;
	return nth;
}

static int kaiser_site_classify(unsigned int i)
{
	struct kaiser_site *s = &kaiser_sites[i];
	int nth = kaiser_site_nth(i);
	unsigned int r;

	s->phase = KAISER_PHASE_NONE;
	for (r = 0; r < ARRAY_SIZE(kaiser_site_roles); r++) {
		const struct kaiser_site_role *role = &kaiser_site_roles[r];

		if (!strcmp(role->func, s->func) &&
		    (role->nth == -1 || role->nth == nth))
			s->phase = role->phase;
	}
	if (kaiser_test_site_dormant(s->func)) {
		s->phase = KAISER_PHASE_NONE;
		return 0;
	}
	if (s->entry && s->phase == KAISER_PHASE_NONE) {
		pr_err("refusing to load: entry-code site %pS has no known role\n",
		       s->addr);
		return -ENOEXEC;
	}
	return 0;
}

/* Does @func hold a switch back to the user table (an exit role)? */
static bool kaiser_is_exit_func(const char *func)
{
	unsigned int r;

	for (r = 0; r < ARRAY_SIZE(kaiser_site_roles); r++)
		if (kaiser_site_roles[r].phase == KAISER_PHASE_EXIT &&
		    !strcmp(kaiser_site_roles[r].func, func))
			return true;
	return false;
}

/*
 * The PCID exit sites: only those inside .entry.text, in an exit function,
 * are checked and used; boot left their "on" bytes with PCID, "off"
 * without (then they stay dormant). The flush mode needs one in every
 * exit function that switches to a user table from entry code, or it is
 * refused (kaiser_pcid_flush_ok()).
 */
static int kaiser_pcid_sites_init(void)
{
	bool pcid = kaiser_pcid_in_use();
	char name[KSYM_SYMBOL_LEN];
	unsigned int i;
	int ret;

	kaiser_nr_pcid_sites = 0;
	kaiser_nr_pcid_unknown = 0;
	for (i = 0; i < KAISER_PCID_SITES_COUNT; i++) {
		const struct kaiser_site_desc *d = &kaiser_pcid_site_table[i];
		struct kaiser_site *s = &kaiser_pcid_sites[i];
		unsigned long a = kaiser_syms.text + d->offset;

		s->phase = KAISER_PHASE_NONE;
		if (!kaiser_in_range(a, d->len, kaiser_syms.entry_text_start,
				     kaiser_syms.entry_text_end))
			continue;
		sprint_symbol_no_offset(name, a);
		if (!kaiser_is_exit_func(name)) {
			kaiser_nr_pcid_unknown++;
			continue;
		}
		ret = kaiser_site_check(d, s, pcid ? d->on : d->off,
					pcid ? d->off : d->on);
		if (ret)
			return ret;
		strscpy(s->func, name, sizeof(s->func));
		/* without PCID the "on" bytes would be the PCID path: never */
		s->phase = pcid ? KAISER_PHASE_EXIT : KAISER_PHASE_NONE;
		kaiser_nr_pcid_sites++;
	}
	return 0;
}

/*
 * Every entry-code exit site's function also holds a PCID exit site, and
 * no PCID branch of that shape sits anywhere else in the entry code: then
 * switching them all leaves no exit that still uses a user ASID.
 */
bool kaiser_pcid_flush_ok(void)
{
	unsigned int i, j;

	for (i = 0; i < KAISER_SITES_COUNT; i++) {
		const struct kaiser_site *s = &kaiser_sites[i];

		if (!s->entry || s->phase != KAISER_PHASE_EXIT)
			continue;
		for (j = 0; j < KAISER_PCID_SITES_COUNT; j++)
			if (kaiser_pcid_sites[j].phase == KAISER_PHASE_EXIT &&
			    !strcmp(kaiser_pcid_sites[j].func, s->func))
				break;
		if (j == KAISER_PCID_SITES_COUNT)
			return false;
	}
	return kaiser_nr_pcid_sites > 0 && !kaiser_nr_pcid_unknown;
}

/*
 * pgd_alloc()'s roles go by the order of its sites: refuse a kernel where
 * it holds another number of them than compat.h expects.
 */
static int kaiser_sites_check_pgd_alloc(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < KAISER_SITES_COUNT; i++)
		n += !strcmp(kaiser_sites[i].func, "pgd_alloc");
	if (n == KAISER_PGD_ALLOC_SITES)
		return 0;
	pr_err("refusing to load: pgd_alloc() holds %u PTI sites, kaiser knows the layout with %u\n",
	       n, KAISER_PGD_ALLOC_SITES);
	return -ENOEXEC;
}

int kaiser_sites_init(void)
{
	char name[KSYM_SYMBOL_LEN];
	unsigned int i;
	int ret;

	ret = kaiser_sites_match_kernel();
	if (ret)
		return ret;
	kaiser_nr_entry_sites = 0;
	for (i = 0; i < KAISER_SITES_COUNT; i++) {
		const struct kaiser_site_desc *d = &kaiser_site_table[i];

		ret = kaiser_site_check(d, &kaiser_sites[i], d->off, d->on);
		if (ret)
			return ret;
		kaiser_nr_entry_sites += kaiser_sites[i].entry;
		sprint_symbol_no_offset(name, (unsigned long)kaiser_sites[i].addr);
		strscpy(kaiser_sites[i].func, name, sizeof(kaiser_sites[i].func));
	}
	ret = kaiser_sites_check_pgd_alloc();
	if (ret)
		return ret;
	for (i = 0; i < KAISER_SITES_COUNT; i++) {
		ret = kaiser_site_classify(i);
		if (ret)
			return ret;
	}
	ret = kaiser_pcid_sites_init();
	if (ret)
		return ret;
	pr_info("%u PTI sites verified (%u in entry code, %u in C code; engine %s), %u PCID exit sites\n",
		KAISER_SITES_COUNT, kaiser_nr_entry_sites,
		KAISER_SITES_COUNT - kaiser_nr_entry_sites, KAISER_SITES_ENGINE,
		kaiser_nr_pcid_sites);
	return 0;
}

/*
 * Map a writable alias of every site that a switch may write: kernel text
 * is read-only, and its direct-map alias too. vmap() can sleep, so this
 * runs before stop_machine().
 */
int kaiser_sites_prepare(void)
{
	unsigned int i, n;

	for (i = 0; i < KAISER_ALL_SITES; i++) {
		struct kaiser_site *s = &kaiser_sites[i];
		unsigned long a = (unsigned long)s->addr;
		struct page *pages[2];

		if (s->phase == KAISER_PHASE_NONE)
			continue;
		n = ((a + s->desc->len - 1) >> PAGE_SHIFT) - (a >> PAGE_SHIFT) + 1;
		pages[0] = virt_to_page((void *)(a & PAGE_MASK));
		pages[1] = virt_to_page((void *)((a & PAGE_MASK) + PAGE_SIZE));
		kaiser_alias_base[i] = vmap(pages, n, VM_MAP, PAGE_KERNEL);
		if (!kaiser_alias_base[i]) {
			kaiser_sites_release();
			return -ENOMEM;
		}
		kaiser_alias[i] = kaiser_alias_base[i] + offset_in_page(a);
	}
	return 0;
}

/*
 * vunmap() frees lazily: the aliases' TLB entries (writable views of
 * kernel text) would live on until the kernel purges, and the next
 * transition's vmap() would take fresh addresses, each 2 MiB of them a
 * new kernel page-table page that is never freed (counted in PageTables
 * from 6.15: 64 kB after 100 toggles on 7.3). Purge at once instead.
 */
void kaiser_sites_release(void)
{
	unsigned int i;

	might_sleep();
	for (i = 0; i < KAISER_ALL_SITES; i++) {
		if (kaiser_alias_base[i])
			vunmap(kaiser_alias_base[i]);
		kaiser_alias_base[i] = NULL;
		kaiser_alias[i] = NULL;
	}
	vm_unmap_aliases();
}

/*
 * One store per site where the instruction allows it: a 2-byte entry
 * site is rewritten by a single 16-bit store, so an NMI on another CPU
 * sees either the old or the new instruction. Longer sites sit on paths
 * no CPU can be on while all are held in stop_machine().
 */
static void kaiser_site_write(unsigned int i, const u8 *bytes)
{
	unsigned int len = kaiser_sites[i].desc->len;
	u16 v;

	if (len == 2) {
		memcpy(&v, bytes, 2);
		WRITE_ONCE(*(u16 *)kaiser_alias[i], v);
	} else {
		memcpy(kaiser_alias[i], bytes, len);
	}
}

/*
 * Switch every site of one phase on or off. Runs on one CPU inside
 * stop_machine(), the others spinning with interrupts off. All sites of
 * the phase are checked first: if any does not hold what it must, nothing
 * is written.
 */
static int kaiser_sites_switch_range(unsigned int first, unsigned int end,
				     enum kaiser_phase phase, bool on)
{
	unsigned int i;

	for (i = first; i < end; i++) {
		const struct kaiser_site *s = &kaiser_sites[i];
		const u8 *from = on ? s->boot : s->patched;

		if (s->phase != phase || s->active == on)
			continue;
		if (!kaiser_alias[i] || memcmp(s->addr, from, s->desc->len))
			return -ENOEXEC;
	}
	for (i = first; i < end; i++) {
		struct kaiser_site *s = &kaiser_sites[i];

		if (s->phase != phase || s->active == on)
			continue;
		kaiser_site_write(i, on ? s->patched : s->boot);
		s->active = on;
	}
	return 0;
}

int kaiser_sites_switch(enum kaiser_phase phase, bool on)
{
	return kaiser_sites_switch_range(0, KAISER_SITES_COUNT, phase, on);
}

/* The PCID exit sites: on puts the flush-mode jumps in, off takes them out. */
int kaiser_pcid_sites_switch(bool on)
{
	return kaiser_sites_switch_range(KAISER_SITES_COUNT, KAISER_ALL_SITES,
					 KAISER_PHASE_EXIT, on);
}

/* Sites switched on for isolation (the allocation site is not one). */
static unsigned int kaiser_sites_active_range(unsigned int first,
					      unsigned int end)
{
	unsigned int i, n = 0;

	for (i = first; i < end; i++)
		n += kaiser_sites[i].active &&
		     kaiser_sites[i].phase != KAISER_PHASE_ALLOC;
	return n;
}

unsigned int kaiser_pcid_sites_active(void)
{
	return kaiser_sites_active_range(KAISER_SITES_COUNT, KAISER_ALL_SITES);
}

unsigned int kaiser_sites_active(void)
{
	return kaiser_sites_active_range(0, KAISER_SITES_COUNT);
}
