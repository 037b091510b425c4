// SPDX-License-Identifier: GPL-2.0
/*
 * ftrace hooks on the mm life cycle.
 *
 * load_mm_ldt(): the kernel calls it on every CPU that runs an mm whose
 * LDT was just installed (modify_ldt() IPIs them) and on every switch to
 * an mm with an LDT, which covers a child that inherited one at fork.
 * Each call happens before that CPU can return to user mode with the LDT,
 * so this is where such an mm's user table gets the full kernel half.
 *
 * The hook is registered for the module's whole life and acts only while
 * isolation is on. It runs with preemption disabled (ftrace's recursion
 * guard), so it never overlaps a stop_machine() state change.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/ftrace.h>
#include <linux/kernel.h>
#include <linux/string.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

static void notrace kaiser_load_mm_ldt_hook(unsigned long ip,
					    unsigned long parent_ip,
					    struct ftrace_ops *op,
					    struct ftrace_regs *fregs)
{
	struct mm_struct *mm = (struct mm_struct *)kaiser_ftrace_arg0(fregs);

	if (kaiser_state() == KAISER_ON)
		kaiser_shadow_ldt_loaded(mm);
}

static struct ftrace_ops kaiser_ldt_ops = {
	.func = kaiser_load_mm_ldt_hook,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_RECURSION,
};

static int kaiser_hook(struct ftrace_ops *ops, const char *func)
{
	int ret;

	ret = ftrace_set_filter(ops, (unsigned char *)func, strlen(func), 0);
	if (!ret)
		ret = register_ftrace_function(ops);
	if (ret) {
		ftrace_free_filter(ops);
		pr_err("refusing to load: cannot hook %s() through ftrace (%d)\n",
		       func, ret);
	}
	return ret;
}

int kaiser_hooks_init(void)
{
	return kaiser_hook(&kaiser_ldt_ops, "load_mm_ldt");
}

void kaiser_hooks_exit(void)
{
	unregister_ftrace_function(&kaiser_ldt_ops);
	ftrace_free_filter(&kaiser_ldt_ops);
}
