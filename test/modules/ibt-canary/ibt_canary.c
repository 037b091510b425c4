// SPDX-License-Identifier: GPL-2.0
/*
 * ibt_canary: the negative control of the Bochs IBT tier (test/host/bochs-ibt).
 * Never product code, never loaded on a host.
 *
 * It resolves kallsyms_lookup_name the classic, IBT-unsafe way: register a
 * kprobe on it, take kp.addr, unregister, and call through the pointer. On a
 * kernel built with CONFIG_X86_KERNEL_IBT running on a CPU that enforces IBT
 * the call raises #CP at once: kp.addr points past the function's ENDBR64
 * (and boot sealed that ENDBR anyway), so the kernel reports
 * "Missing ENDBR: kallsyms_lookup_name+0x4/..." and the oops kills insmod.
 * If the call returns instead, IBT is not enforced and the tier proves
 * nothing: the module says so and refuses to stay loaded.
 */
#define pr_fmt(fmt) "ibt_canary: " fmt

#include <linux/kprobes.h>
#include <linux/module.h>

typedef unsigned long (*lookup_fn)(const char *name);

/* volatile: the call must stay an indirect call through memory. */
static lookup_fn volatile lookup;

static int __init ibt_canary_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long addr;
	int ret;

	ret = register_kprobe(&kp);
	if (ret < 0) {
		pr_err("cannot register a kprobe on kallsyms_lookup_name: %d\n", ret);
		return ret;
	}
	lookup = (lookup_fn)kp.addr;
	unregister_kprobe(&kp);

	pr_info("calling kallsyms_lookup_name at %pS through a pointer\n", lookup);
	addr = lookup("init_top_pgt");
	pr_err("IBT NOT ENFORCED: the call returned, init_top_pgt = %px\n", (void *)addr);
	return -EPERM;	/* never stay loaded */
}
module_init(ibt_canary_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kaiser test: IBT-unsafe indirect call that must #CP under enforced IBT");
