// SPDX-License-Identifier: GPL-2.0
/*
 * What <asm/tlbflush.h> shows only to code built into the kernel (#ifndef
 * MODULE): the layout of the per-CPU struct tlb_state, of which kaiser
 * writes one field (tlb.c, kaiser_tlb_switch()) and reads another
 * (kaiser_loaded_mm()), and the lazy-TLB state that pairs.c reads. This
 * file alone is compiled as the kernel sees that header: everything comes
 * from the headers of the kernel the module is built for, never from a
 * copy.
 */
#undef MODULE
#include <linux/stddef.h>
#include <asm/tlbflush.h>

#include <kaiser/kaiser.h>

const size_t kaiser_tlbstate_invalidate_other = offsetof(struct tlb_state,
							 invalidate_other);

const size_t kaiser_tlbstate_loaded_mm = offsetof(struct tlb_state, loaded_mm);

/* What loaded_mm holds while switch_mm_irqs_off() is between two mms. */
const struct mm_struct *const kaiser_loaded_mm_switching = LOADED_MM_SWITCHING;

/* Does this CPU run a kernel thread on a borrowed mm (lazy TLB)? */
bool kaiser_cpu_lazy(void)
{
	return this_cpu_read(cpu_tlbstate_shared.is_lazy);
}
