// SPDX-License-Identifier: GPL-2.0
/*
 * The layout of the kernel's per-CPU struct tlb_state, which
 * <asm/tlbflush.h> shows only to code built into the kernel (#ifndef
 * MODULE). kaiser writes one field of it (tlb.c, kaiser_tlb_switch()) and
 * reads another (kaiser_loaded_mm()), so this file alone is compiled as
 * the kernel sees that header: the offsets come from the headers of the
 * kernel the module is built for, never from a copy of the struct.
 */
#undef MODULE
#include <linux/stddef.h>
#include <asm/tlbflush.h>

#include <kaiser/kaiser.h>

const size_t kaiser_tlbstate_invalidate_other = offsetof(struct tlb_state,
							 invalidate_other);

const size_t kaiser_tlbstate_loaded_mm = offsetof(struct tlb_state, loaded_mm);
