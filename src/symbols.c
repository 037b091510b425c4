// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel symbols kaiser needs that are not exported, resolved once at
 * load from one table; every one is required (a refusal names the first
 * one missing).
 *
 * kallsyms_lookup_name() is found through a kprobe's address and then
 * called. On kernels with CET IBT that call must not be an indirect one:
 * kallsyms_lookup_name() is not address-taken in the kernel, so boot sealed
 * its ENDBR64 and an indirect call into it raises #CP. kaiser_call_sealed()
 * enters it by a return instead, which IBT does not track.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/printk.h>
#include <linux/semaphore.h>
#include <linux/string.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>
#include <kaiser/test.h>

struct kaiser_syms kaiser_syms;

struct kaiser_sym {
	const char *name;
	unsigned long *addr;
};

static const struct kaiser_sym kaiser_sym_table[] = {
	{ "_text",		&kaiser_syms.text },
	{ "_etext",		&kaiser_syms.etext },
	{ "__entry_text_start",	&kaiser_syms.entry_text_start },
	{ "__entry_text_end",	&kaiser_syms.entry_text_end },
	{ "pgd_list",		&kaiser_syms.pgd_list },
	{ "pgd_lock",		&kaiser_syms.pgd_lock },
	{ "init_top_pgt",	&kaiser_syms.init_top_pgt },
	{ "cpu_tlbstate",	&kaiser_syms.cpu_tlbstate },
	/*
	 * Exported, but from 6.15 only to KVM's modules (a symbol namespace
	 * modpost enforces): called through kaiser_call_sealed() everywhere,
	 * so one build works on every kernel.
	 */
	{ "cr4_update_irqsoff",	&kaiser_syms.cr4_update_irqsoff },
	{ "__flush_tlb_all",	&kaiser_syms.flush_tlb_all },
	{ "flush_tlb_mm_range",	&kaiser_syms.flush_tlb_mm_range },
};

static unsigned long kaiser_kallsyms_lookup_name;

/*
 * The address a kprobe on kallsyms_lookup_name() lands on. With IBT the
 * kprobe skips the function's first instruction (ENDBR64, or the NOP that
 * sealed it), so ask kallsyms for the offset instead of guessing from bytes.
 */
static unsigned long kaiser_find_kallsyms_lookup_name(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	char buf[KSYM_SYMBOL_LEN];
	unsigned long addr, off;
	char *plus;

	if (register_kprobe(&kp) < 0)
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);

	sprint_symbol(buf, addr);
	plus = strchr(buf, '+');
	if (!plus || strncmp(buf, "kallsyms_lookup_name+", plus - buf + 1) ||
	    sscanf(plus + 1, "%lx", &off) != 1 || off > 16)
		return 0;
	return addr - off;
}

static unsigned long kaiser_lookup(const char *name)
{
	return kaiser_call_sealed(kaiser_kallsyms_lookup_name,
				  (unsigned long)name, 0, 0, 0, 0);
}

/*
 * efi_runtime_lock, the semaphore every native EFI runtime call holds
 * (drivers/firmware/efi/runtime-wrappers.c). Mixed mode has a spinlock of
 * the same name in .bss; kallsyms returns the lowest address of equal
 * names, the semaphore's in .data, but that is checked, not assumed: the
 * symbol must lie in .data, have room for a semaphore and count 0 or 1.
 * Optional: without it the EFI page table is not moved (pairs.c).
 */
static unsigned long kaiser_lookup_efi_runtime_lock(void)
{
	static const char name[] = "efi_runtime_lock+0x0/";
	unsigned long addr = kaiser_lookup("efi_runtime_lock");
	unsigned long sdata = kaiser_lookup("_sdata");
	unsigned long edata = kaiser_lookup("_edata");
	char buf[KSYM_SYMBOL_LEN];
	unsigned long size;

	if (!addr || addr < sdata || addr + sizeof(struct semaphore) > edata)
		return 0;
	sprint_symbol(buf, addr);
	if (strncmp(buf, name, sizeof(name) - 1) ||
	    sscanf(buf + sizeof(name) - 1, "%lx", &size) != 1 ||
	    size < sizeof(struct semaphore) ||
	    READ_ONCE(((struct semaphore *)addr)->count) > 1)
		return 0;
	return addr;
}

static int kaiser_require(const char *name, unsigned long *addr)
{
	*addr = kaiser_lookup(name);
	if (*addr)
		return 0;
	pr_err("refusing to load: required kernel symbol '%s' not found\n", name);
	return -ENOENT;
}

int kaiser_resolve_symbols(void)
{
	unsigned long missing;
	unsigned int i;
	int ret;

	kaiser_kallsyms_lookup_name = kaiser_find_kallsyms_lookup_name();
	if (!kaiser_kallsyms_lookup_name) {
		pr_err("refusing to load: cannot find kallsyms_lookup_name through a kprobe\n");
		return -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(kaiser_sym_table); i++) {
		const struct kaiser_sym *s = &kaiser_sym_table[i];

		ret = kaiser_require(s->name, s->addr);
		if (ret)
			return ret;
	}
	/* Optional: a kernel built without EFI has none. */
	kaiser_syms.efi_mm = kaiser_lookup("efi_mm");
	kaiser_syms.efi_runtime_lock = kaiser_lookup_efi_runtime_lock();
	if (kaiser_test_missing_symbol())
		return kaiser_require(kaiser_test_missing_symbol(), &missing);
	return 0;
}
