// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel reports about Meltdown while kaiser isolates it.
 *
 * /sys/devices/system/cpu/vulnerabilities/meltdown, which lscpu, Debian's
 * spectre-meltdown-checker and security scanners read, says "Vulnerable"
 * on an affected CPU booted with isolation off: the kernel's text knows
 * only its own PTI. While kaiser's isolation is on, cpu_show_meltdown()
 * is replaced (IPMODIFY, as the LDT hooks are) by a version that says
 * "Mitigation: PTI (kaiser)". In every other state, and on a CPU that is
 * not affected, the hook leaves the call alone and the kernel's own text
 * is what users read.
 *
 * The report is not part of isolation: a kernel whose function cannot be
 * hooked keeps its own text, and the load says so in one line.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/device.h>
#include <linux/ftrace.h>
#include <linux/rcupdate.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <asm/cpufeature.h>

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>

static const char kaiser_report_func[] = "cpu_show_meltdown";
static bool kaiser_report_hooked;

static ssize_t kaiser_show_meltdown(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "Mitigation: PTI (kaiser)\n");
}

static void notrace kaiser_meltdown_hook(unsigned long ip,
					 unsigned long parent_ip,
					 struct ftrace_ops *op,
					 struct ftrace_regs *fregs)
{
	if (kaiser_state() == KAISER_ON &&
	    boot_cpu_has_bug(X86_BUG_CPU_MELTDOWN))
		kaiser_ftrace_set_ip(fregs, kaiser_show_meltdown);
}

static struct ftrace_ops kaiser_report_ops = {
	.func = kaiser_meltdown_hook,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_RECURSION |
		 FTRACE_OPS_FL_IPMODIFY,
};

void kaiser_report_init(void)
{
	int ret;

	ret = ftrace_set_filter(&kaiser_report_ops,
				(unsigned char *)kaiser_report_func,
				strlen(kaiser_report_func), 0);
	if (!ret) {
		ret = register_ftrace_function(&kaiser_report_ops);
		if (ret)
			ftrace_free_filter(&kaiser_report_ops);
	}
	if (ret) {
		pr_warn("cannot hook %s() (%d): the vulnerabilities file will not mention kaiser\n",
			kaiser_report_func, ret);
		return;
	}
	kaiser_report_hooked = true;
}

/* After unregistering, wait for any reader still in the replacement. */
void kaiser_report_exit(void)
{
	if (!kaiser_report_hooked)
		return;
	unregister_ftrace_function(&kaiser_report_ops);
	ftrace_free_filter(&kaiser_report_ops);
	synchronize_rcu_tasks();
	kaiser_report_hooked = false;
}
