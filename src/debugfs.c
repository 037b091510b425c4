// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/kaiser/: listings for developers and tests.
 *
 *   sites  one line per PTI site:
 *          <entry|c> <offset from _text> <len> <current bytes> <on bytes> <symbol>
 *
 * debugfs is off under lockdown; nothing a user needs lives only here.
 */
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include <kaiser/kaiser.h>

static struct dentry *kaiser_debugfs_dir;

static int sites_show(struct seq_file *m, void *v)
{
	unsigned int i;

	for (i = 0; i < kaiser_sites_count(); i++) {
		const struct kaiser_site *s = kaiser_site(i);
		u8 cur[KAISER_SITE_MAX];
		unsigned int len = s->desc->len;

		if (copy_from_kernel_nofault(cur, s->addr, len))
			memset(cur, 0, len);
		seq_printf(m, "%s %#x %u %*phN %*phN %pS\n",
			   s->entry ? "entry" : "c", s->desc->offset, len,
			   len, cur, len, s->desc->on, s->addr);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(sites);

void kaiser_debugfs_init(void)
{
	/* Failure only loses the listings: debugfs is a debugging aid. */
	kaiser_debugfs_dir = debugfs_create_dir("kaiser", NULL);
	debugfs_create_file("sites", 0400, kaiser_debugfs_dir, NULL, &sites_fops);
}

void kaiser_debugfs_exit(void)
{
	debugfs_remove_recursive(kaiser_debugfs_dir);
	kaiser_debugfs_dir = NULL;
}
