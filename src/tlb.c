// SPDX-License-Identifier: GPL-2.0
/*
 * TLB policy: no global kernel pages while isolation is on.
 *
 * With isolation off the kernel maps itself with _PAGE_GLOBAL, and global
 * TLB entries survive a CR3 write: user code would keep kernel
 * translations after switching to its user table. kaiser clears CR4.PGE
 * on every CPU instead of rewriting every kernel PTE, through the
 * kernel's CR4 shadow (cr4_update_irqsoff()), so the kernel's own global
 * flush, which toggles PGE from the shadow, keeps it clear. Clearing PGE
 * also flushes every global entry already in the TLB. CPUs that come
 * online while isolation is on get the same from the hotplug callback;
 * disable sets PGE again.
 *
 * PCID: with CR4.PCIDE set the entry code runs user mode on a user ASID
 * (the kernel ASID with bit 11 set) and writes CR3 with NOFLUSH unless
 * this CPU's bit in cpu_tlbstate.user_pcid_flush_mask asks for a flush.
 * The kernel keeps those bits, and carries kernel flushes to the other
 * ASIDs, only in the PTI branches of arch/x86/mm/tlb.c: kaiser switches
 * those on with the exits (the TLB roles in sites.c), in both modes:
 *
 *   upstream (default)  the exits keep their PCID branches: user ASIDs
 *                    with NOFLUSH, managed exactly as under pti=on. The
 *                    default since a Bochs whose TLB keeps entries per
 *                    PCID showed both that it holds (tlb-correctness, 1
 *                    and 2 CPUs, with and without INVPCID) and that it is
 *                    needed: with invalidate_user_asid() left dormant,
 *                    user mode dies of stale translations at once. It
 *                    costs what pti=on costs (within 1.07 on every
 *                    workload); flush mode 1.12-1.19 times that on pipe
 *                    and fault (README, "PCID in Bochs").
 *   flush            the exits' PCID branches are switched back to their
 *                    no-PCID form (the PCID sites in sites.c): user mode
 *                    runs on the kernel's own ASID and every exit flushes
 *                    it, as without PCID. The user ASID and its flush
 *                    bookkeeping are never used, so nothing depends on
 *                    them: the conservative choice, pcid_mode=flush.
 *
 * Kernel pages are non-global in both, so kernel flushes must reach every
 * ASID: that is flush_tlb_one_kernel()'s and clear_asid_other()'s PTI
 * branch. Both transitions flush every ASID on every CPU
 * (kaiser_tlb_switch()).
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/smp.h>
#include <asm/cpufeature.h>
#include <asm/tlbflush.h>

#include <kaiser/kaiser.h>

static enum cpuhp_state kaiser_cpuhp_state;

static char *kaiser_pcid_mode_name = "upstream";
module_param_named(pcid_mode, kaiser_pcid_mode_name, charp, 0444);
MODULE_PARM_DESC(pcid_mode, "with PCID: upstream (default: user ASIDs as pti=on) or flush (user mode on the kernel ASID, flushed at every exit)");

static bool kaiser_pcid_upstream;

/* Set by the steps' kaiser_tlb_switch(): CPUs run with CR4.PGE clear. */
static bool kaiser_tlb_nonglobal;

/* Does this enable switch the exits' PCID branches back (flush mode)? */
bool kaiser_tlb_pcid_flush(void)
{
	return kaiser_pcid_in_use() && !kaiser_pcid_upstream;
}

/* CR4 and the kernel's per-CPU shadow of it; interrupts off. */
static void kaiser_cr4_update(unsigned long set, unsigned long clear)
{
	WARN_ON_ONCE(!irqs_disabled());
	kaiser_call_sealed(kaiser_syms.cr4_update_irqsoff, set, clear, 0, 0, 0);
}

/* Flush this CPU's TLB, global entries and every ASID included. */
void kaiser_tlb_flush_all_local(void)
{
	kaiser_call_sealed(kaiser_syms.flush_tlb_all, 0, 0, 0, 0, 0);
}

/* This CPU, interrupts off. */
void kaiser_tlb_set_nonglobal(bool nonglobal)
{
	if (!boot_cpu_has(X86_FEATURE_PGE))
		return;
	if (nonglobal)
		kaiser_cr4_update(0, X86_CR4_PGE);
	else
		kaiser_cr4_update(X86_CR4_PGE, 0);
}

/*
 * This CPU, interrupts off, in the stop_machine() step that switches the
 * exits and the TLB sites. The PGE change flushes every TLB entry of
 * every PCID; the explicit flush says so where the CPU has no PGE to
 * change. So user ASIDs start empty when isolation goes on, and nothing
 * cached under isolation outlives it. Going off, clear_asid_other()
 * becomes dormant again and would WARN on a pending request: drop it,
 * the flush has just emptied the other ASIDs anyway.
 */
void kaiser_tlb_switch(bool on)
{
	bool __percpu *pending = (bool __percpu *)(kaiser_syms.cpu_tlbstate +
						   kaiser_tlbstate_invalidate_other);

	WRITE_ONCE(kaiser_tlb_nonglobal, on);
	kaiser_tlb_set_nonglobal(on);
	kaiser_tlb_flush_all_local();
	if (!on)
		this_cpu_write(*pending, false);
}

static struct mm_struct *__percpu *kaiser_loaded_mm_ptr(void)
{
	return (struct mm_struct *__percpu *)(kaiser_syms.cpu_tlbstate +
					      kaiser_tlbstate_loaded_mm);
}

/* The mm whose page table this CPU runs on (interrupts off). */
struct mm_struct *kaiser_loaded_mm(void)
{
	return this_cpu_read(*kaiser_loaded_mm_ptr());
}

/* Another CPU's, as it was a moment ago (a racy read, by design). */
struct mm_struct *kaiser_loaded_mm_on(int cpu)
{
	return READ_ONCE(*per_cpu_ptr(kaiser_loaded_mm_ptr(), cpu));
}

const char *kaiser_pcid_mode(void)
{
	if (!kaiser_pcid_in_use())
		return "none (PCID off)";
	if (!kaiser_pcid_upstream)
		return "flush (user mode on the kernel ASID, flushed at every exit)";
	return boot_cpu_has(X86_FEATURE_INVPCID) ?
		"upstream (user ASIDs as pti=on, INVPCID)" :
		"upstream (user ASIDs as pti=on, no INVPCID)";
}

static int kaiser_cpu_online(unsigned int cpu)
{
	unsigned long flags;

	/* CPU hotplug and stop_machine() exclude each other. */
	if (READ_ONCE(kaiser_tlb_nonglobal)) {
		local_irq_save(flags);
		kaiser_tlb_set_nonglobal(true);
		local_irq_restore(flags);
	}
	return 0;
}

const char *kaiser_tlb_mode(void)
{
	if (!boot_cpu_has(X86_FEATURE_PGE))
		return "none (CPU has no global pages)";
	return READ_ONCE(kaiser_tlb_nonglobal) ? "off (CR4.PGE clear)" :
					     "on (kernel default)";
}

static void kaiser_read_pge(void *count)
{
	if (native_read_cr4() & X86_CR4_PGE)
		atomic_inc(count);
}

/* Read CR4 itself, not the shadow, on every online CPU. */
int kaiser_tlb_pge_cpus(unsigned int *with_pge, unsigned int *online)
{
	atomic_t count = ATOMIC_INIT(0);

	cpus_read_lock();
	on_each_cpu(kaiser_read_pge, &count, 1);
	*online = num_online_cpus();
	cpus_read_unlock();
	*with_pge = atomic_read(&count);
	return 0;
}

int kaiser_tlb_init(void)
{
	int ret;

	if (!strcmp(kaiser_pcid_mode_name, "upstream")) {
		kaiser_pcid_upstream = true;
	} else if (strcmp(kaiser_pcid_mode_name, "flush")) {
		pr_err("refusing to load: pcid_mode=%s is neither flush nor upstream\n",
		       kaiser_pcid_mode_name);
		return -EINVAL;
	}

	ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "kaiser:online",
					kaiser_cpu_online, NULL);
	if (ret < 0) {
		pr_err("refusing to load: cannot register a CPU hotplug callback (%d)\n",
		       ret);
		return ret;
	}
	kaiser_cpuhp_state = ret;
	return 0;
}

void kaiser_tlb_exit(void)
{
	cpuhp_remove_state_nocalls(kaiser_cpuhp_state);
}
