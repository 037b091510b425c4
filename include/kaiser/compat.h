/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels kaiser builds against lives here,
 * decided by feature tests (a macro the kernel defines, a config option)
 * rather than by version numbers wherever the kernel allows it.
 */
#ifndef _KAISER_COMPAT_H
#define _KAISER_COMPAT_H

#include <linux/kconfig.h>
#include <linux/ftrace.h>
#include <linux/mm_types.h>
#include <asm/cpufeature.h>
#include <asm/pgalloc.h>

#ifndef CONFIG_X86_64
#error "kaiser supports x86-64 only"
#endif

/*
 * What the module cannot work without. Each is a refusal at load time
 * (one log line) rather than a build failure, so a DKMS install on an
 * unsupported kernel still tells the user why.
 */
#if !IS_ENABLED(CONFIG_KPROBES)
#define KAISER_KERNEL_LACKS "CONFIG_KPROBES (needed to find kallsyms_lookup_name)"
#elif !IS_ENABLED(CONFIG_DYNAMIC_FTRACE_WITH_REGS) && \
	!IS_ENABLED(CONFIG_DYNAMIC_FTRACE_WITH_ARGS)
#define KAISER_KERNEL_LACKS "dynamic ftrace with regs or args (needed for the mm hooks)"
#elif !IS_ENABLED(CONFIG_PAGE_TABLE_ISOLATION) && \
	!IS_ENABLED(CONFIG_MITIGATION_PAGE_TABLE_ISOLATION)	/* 6.9+ name */
#define KAISER_KERNEL_LACKS "CONFIG_PAGE_TABLE_ISOLATION (kernels built without it are not supported yet)"
#elif !defined(PGD_ALLOCATION_ORDER) || PGD_ALLOCATION_ORDER != 1
/*
 * The entry code finds the user table by setting CR3 bit 12: every PGD
 * must be the lower half of an 8 KiB pair. From 6.15 (and 6.14.y) the
 * kernel allocates single pages when its isolation is off at boot
 * (pgd_allocation_order()); kaiser would have to provide the pairs.
 */
#define KAISER_KERNEL_SINGLE_PGD
#endif

/*
 * A process whose page table a device walks too (IOMMU shared virtual
 * addressing): the device holds the PGD's address. The field exists from
 * 6.8 (CONFIG_IOMMU_MM_DATA).
 */
#ifdef CONFIG_IOMMU_MM_DATA
#define kaiser_mm_iommu_bound(mm)	(READ_ONCE((mm)->iommu_mm) != NULL)
#else
#define kaiser_mm_iommu_bound(mm)	((void)(mm), false)
#endif

/*
 * pgd_alloc()'s PTI sites: where the kernel allocates single pages, the
 * allocation order (pgd_allocation_order(), inlined first) and then the
 * copy of swapper's user half (clone_pgd_range()); before 6.15 only the
 * copy. In address order, as objdump of Debian's 7.3 shows
 * (docs/single-pgd.md §5).
 */
#ifdef KAISER_KERNEL_SINGLE_PGD
#define kaiser_single_pgd()		true
#define KAISER_PGD_ALLOC_SITES		2
#define KAISER_PGD_ALLOC_ORDER_NTH	0
#else
#define kaiser_single_pgd()		false
#define KAISER_PGD_ALLOC_SITES		1
#define KAISER_PGD_ALLOC_ORDER_NTH	(-2)	/* no site: the role matches none */
#endif

/* The task an mm belongs to, under rcu_read_lock() (memcg's mm->owner). */
#ifdef CONFIG_MEMCG
#define kaiser_mm_owner(mm)	rcu_dereference((mm)->owner)
#else
#define kaiser_mm_owner(mm)	((void)(mm), (struct task_struct *)NULL)
#endif

/* FRED (6.9+) enters the kernel without the IDT: isolation cannot work. */
#ifdef X86_FEATURE_FRED
#define kaiser_fred_enabled()	cpu_feature_enabled(X86_FEATURE_FRED)
#else
#define kaiser_fred_enabled()	false
#endif

/*
 * INVLPGB (6.15+, AMD): broadcast TLB flushes of global ASIDs, which the
 * user-ASID flush bookkeeping of the PTI exits cannot reach. The kernel
 * itself turns INVLPGB off when its isolation is on.
 */
#ifdef X86_FEATURE_INVLPGB
#define kaiser_invlpgb_in_use()	cpu_feature_enabled(X86_FEATURE_INVLPGB)
#else
#define kaiser_invlpgb_in_use()	false
#endif

/*
 * ESPFIX64 (the 16-bit stack-segment fix) exists only with
 * CONFIG_X86_16BIT; Debian's cloud kernels are built without it.
 */
#define kaiser_has_espfix()	IS_ENABLED(CONFIG_X86_ESPFIX64)

/* CET indirect-branch tracking in the kernel (5.18+). */
#if defined(X86_FEATURE_IBT) && IS_ENABLED(CONFIG_X86_KERNEL_IBT)
#define kaiser_kernel_ibt()	cpu_feature_enabled(X86_FEATURE_IBT)
#else
#define kaiser_kernel_ibt()	false
#endif

/* The mm a PGD page belongs to: page->pt_mm until 6.5, then ptdesc. */
#ifdef page_ptdesc
#define kaiser_pgd_page_mm(page)	(page_ptdesc(page)->pt_mm)
#else
#define kaiser_pgd_page_mm(page)	((page)->pt_mm)
#endif

/* Arguments of a traced function, from a SAVE_REGS ftrace callback. */
#define kaiser_ftrace_arg0(fregs)	(ftrace_get_regs(fregs)->di)
#define kaiser_ftrace_arg1(fregs)	(ftrace_get_regs(fregs)->si)

/*
 * Make a traced function's call run @fn instead (an IPMODIFY hook): ftrace
 * returns to the saved instruction pointer, and @fn returns to the caller.
 */
#define kaiser_ftrace_set_ip(fregs, fn) \
	(ftrace_get_regs(fregs)->ip = (unsigned long)(fn))

/*
 * The mm of a TLB gather. <asm/tlb.h> cannot be included by modules (the
 * TLB flush API it uses is hidden from them), so read the first member of
 * struct mmu_gather, which is the mm in every kernel since 2.6.
 */
struct mmu_gather;
#define kaiser_tlb_gather_mm(tlb)	(*(struct mm_struct **)(tlb))

/*
 * asm/efi.h's efi_is_mixed() (64-bit kernel, 32-bit firmware): that header
 * includes <asm/tlb.h> too, so it is spelt out here, after linux/efi.h.
 */
#define kaiser_efi_is_mixed() \
	(IS_ENABLED(CONFIG_EFI_MIXED) && !efi_enabled(EFI_64BIT))

#endif /* _KAISER_COMPAT_H */
