// SPDX-License-Identifier: GPL-2.0
/*
 * kaiser: kernel page-table isolation for a running kernel.
 *
 * Module init and exit only: each step lives in its own file.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include <kaiser/kaiser.h>

static bool enable = true;
module_param(enable, bool, 0444);
MODULE_PARM_DESC(enable, "Turn isolation on at load (default: 1)");

static int __init kaiser_init(void)
{
	int ret;

	ret = kaiser_check_kernel();
	if (!ret)
		ret = kaiser_resolve_symbols();
	if (!ret)
		ret = kaiser_sites_init();
	if (ret)
		return ret;
	ret = kaiser_tlb_init();
	if (ret)
		return ret;
	ret = kaiser_hooks_init();
	if (ret)
		goto out_tlb;
	ret = kaiser_sysfs_init();
	if (ret) {
		pr_err("refusing to load: cannot create /sys/kernel/kaiser (%d)\n", ret);
		goto out_hooks;
	}
	kaiser_debugfs_init();
	kaiser_report_init();
	ret = kaiser_startup();
	if (ret)
		goto out_sysfs;
	if (enable) {
		ret = kaiser_set_enabled(true);
		if (ret)
			goto out_startup;
	}
	pr_info("loaded: backend %s, %u-level paging, isolation %s\n",
		kaiser_backend_name(), kaiser_paging_levels(),
		kaiser_state_name(kaiser_state()));
	return 0;

out_startup:
	kaiser_shutdown();
out_sysfs:
	kaiser_report_exit();
	kaiser_debugfs_exit();
	kaiser_sysfs_exit();
out_hooks:
	kaiser_hooks_exit();
out_tlb:
	kaiser_tlb_exit();
	return ret;
}

static void __exit kaiser_exit(void)
{
	kaiser_report_exit();
	kaiser_debugfs_exit();
	kaiser_sysfs_exit();
	if (kaiser_shutdown())
		pr_crit("isolation could not be turned off at unload\n");
	kaiser_hooks_exit();
	kaiser_tlb_exit();
	pr_info("unloaded\n");
}

module_init(kaiser_init);
module_exit(kaiser_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Runtime kernel page-table isolation (KAISER/KPTI)");
MODULE_VERSION("0.2");
