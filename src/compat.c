// SPDX-License-Identifier: GPL-2.0
/*
 * Which kernel is this, and can kaiser run on it? Every check that can
 * refuse the load lives here, each with the one line that says why.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/printk.h>
#include <asm/cpufeature.h>
#include <asm/pgtable.h>
#include <asm/special_insns.h>
#include <asm/processor-flags.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

unsigned int kaiser_paging_levels(void)
{
	return pgtable_l5_enabled() ? 5 : 4;
}

/* CR4.PCIDE as this CPU runs it; the kernel sets it on all CPUs alike. */
bool kaiser_pcid_in_use(void)
{
	return native_read_cr4() & X86_CR4_PCIDE;
}

bool kaiser_ibt_in_use(void)
{
	return kaiser_kernel_ibt();
}

/* Backend A: the kernel's own dormant PTI code does the entry switching. */
const char *kaiser_backend_name(void)
{
	return "A (dormant in-kernel PTI code)";
}

/*
 * Every refusal is one line: what is missing, that isolation stays off,
 * and what the user can do instead. The checks of the running CPU come
 * first, so each of them is seen on every kernel that builds.
 */
int kaiser_check_kernel(void)
{
	if (cpu_feature_enabled(X86_FEATURE_XENPV)) {
		pr_err("refusing to load: Xen PV guest (the hypervisor owns the page tables); isolation stays off\n");
		return -EOPNOTSUPP;
	}
	if (kaiser_fred_enabled()) {
		pr_err("refusing to load: FRED is on, and its entry path has no CR3 switch; isolation stays off (boot with fred=off, or with pti=on for the kernel's own isolation)\n");
		return -EOPNOTSUPP;
	}
	if (kaiser_invlpgb_in_use()) {
		pr_err("refusing to load: the kernel uses INVLPGB broadcast TLB flushes, which cannot reach user ASIDs; isolation stays off (boot with pti=on for the kernel's own isolation)\n");
		return -EOPNOTSUPP;
	}
	/* Not -EEXIST: modprobe reads that as "already loaded" and exits 0. */
	if (boot_cpu_has(X86_FEATURE_PTI)) {
		pr_err("refusing to load: in-kernel page-table isolation is already on\n");
		return -EOPNOTSUPP;
	}
#ifdef KAISER_KERNEL_LACKS
	pr_err("refusing to load: kernel built without " KAISER_KERNEL_LACKS "; isolation stays off\n");
	return -EOPNOTSUPP;
#elif defined(KAISER_KERNEL_SINGLE_PGD) && !defined(KAISER_PAIRS_PREVIEW)
	pr_err("refusing to load: this kernel (6.15 or later) gives each process a single-page top-level page table while its own isolation is off, and kaiser cannot isolate such kernels yet; isolation stays off (boot with pti=on for the kernel's own isolation)\n");
	return -EOPNOTSUPP;
#else
	return 0;
#endif
}
