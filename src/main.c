// SPDX-License-Identifier: GPL-2.0
/*
 * kaiser: kernel page-table isolation for a running kernel.
 *
 * Module init and exit only: each step lives in its own file.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/init.h>
#include <linux/module.h>

#include <kaiser/kaiser.h>

static int __init kaiser_init(void)
{
	int ret;

	ret = kaiser_check_kernel();
	if (ret)
		return ret;
	ret = kaiser_resolve_symbols();
	if (ret)
		return ret;
	ret = kaiser_sites_init();
	if (ret)
		return ret;
	ret = kaiser_sysfs_init();
	if (ret) {
		pr_err("refusing to load: cannot create /sys/kernel/kaiser (%d)\n", ret);
		return ret;
	}
	kaiser_debugfs_init();
	pr_info("loaded: backend %s, %u-level paging, isolation %s\n",
		kaiser_backend_name(), kaiser_paging_levels(),
		kaiser_state_name(kaiser_state()));
	return 0;
}

static void __exit kaiser_exit(void)
{
	kaiser_debugfs_exit();
	kaiser_sysfs_exit();
	kaiser_set_enabled(false);
	pr_info("unloaded\n");
}

module_init(kaiser_init);
module_exit(kaiser_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Runtime kernel page-table isolation (KAISER/KPTI)");
MODULE_VERSION("0.1");
