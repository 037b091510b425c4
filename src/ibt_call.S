/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unsigned long kaiser_call_sealed(fn, a1, a2, a3, a4, a5)
 *
 * Call fn(a1, ..., a5) without an indirect call or jump. With CET IBT an
 * indirect branch must land on ENDBR64, and boot seals (overwrites) the
 * ENDBR64 of every kernel function the kernel itself never calls
 * indirectly, which includes most of what kaiser resolves by name. A
 * return is not tracked by IBT, so push the address to come back to, push
 * fn, and return into it: fn starts as if called, and its own return comes
 * back here. RET is the kernel's return (through its return thunk where
 * the kernel uses one), so no bare "ret" is added to the module.
 *
 * objtool cannot follow a return that lands in a function, so the frame
 * is declared non-standard.
 */
#include <linux/linkage.h>
#include <linux/objtool.h>

	.text
SYM_FUNC_START(kaiser_call_sealed)
	push	%rbp
	mov	%rsp, %rbp
	mov	%rdi, %r11		/* fn */
	mov	%rsi, %rdi		/* shift the arguments down one */
	mov	%rdx, %rsi
	mov	%rcx, %rdx
	mov	%r8, %rcx
	mov	%r9, %r8
	lea	.Lkaiser_call_back(%rip), %r10
	push	%r10			/* fn returns here */
	push	%r11
	RET				/* into fn */
.Lkaiser_call_back:
	pop	%rbp
	RET
SYM_FUNC_END(kaiser_call_sealed)
STACK_FRAME_NON_STANDARD kaiser_call_sealed
