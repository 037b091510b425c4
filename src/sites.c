// SPDX-License-Identifier: GPL-2.0
/*
 * The dormant X86_FEATURE_PTI sites of the running kernel.
 *
 * The table comes from the kernel image at build time (the kernel frees
 * its own alternatives table after boot). At load, every site is located
 * relative to the running _text and its bytes are compared with what boot
 * must have left there; any difference refuses the load, because writing
 * the "on" bytes over code we do not recognise could break the machine.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>

#include <kaiser/kaiser.h>
#include "kaiser_sites.h"

static struct kaiser_site kaiser_sites[KAISER_SITES_COUNT];
static unsigned int kaiser_nr_entry_sites;

const char *kaiser_sites_engine(void)
{
	return KAISER_SITES_ENGINE;
}

unsigned int kaiser_sites_count(void)
{
	return KAISER_SITES_COUNT;
}

unsigned int kaiser_sites_entry_count(void)
{
	return kaiser_nr_entry_sites;
}

const struct kaiser_site *kaiser_site(unsigned int i)
{
	return i < KAISER_SITES_COUNT ? &kaiser_sites[i] : NULL;
}

/*
 * The table names the image it came from by its banner, which holds the
 * release and the build's version string: both must be this kernel's.
 */
static int kaiser_sites_match_kernel(void)
{
	const char *built = KAISER_SITES_BANNER + strlen("Linux version ");
	struct new_utsname *u = init_utsname();
	size_t rlen = strlen(u->release);

	if (strncmp(built, u->release, rlen) || built[rlen] != ' ' ||
	    !strstr(built, u->version)) {
		pr_err("refusing to load: site table built for another kernel image (%.*s), this is %s %s\n",
		       (int)strcspn(built, " "), built, u->release, u->version);
		return -ENOEXEC;
	}
	return 0;
}

static bool kaiser_in_range(unsigned long a, unsigned int len,
			    unsigned long start, unsigned long end)
{
	return a >= start && a + len <= end;
}

/* Locate one site and check it holds exactly what boot left there. */
static int kaiser_site_check(unsigned int i)
{
	const struct kaiser_site_desc *d = &kaiser_site_table[i];
	struct kaiser_site *s = &kaiser_sites[i];
	unsigned long a = kaiser_syms.text + d->offset;
	u8 cur[KAISER_SITE_MAX];

	s->desc = d;
	s->addr = (u8 *)a;
	if (!kaiser_in_range(a, d->len, kaiser_syms.text, kaiser_syms.etext)) {
		pr_err("refusing to load: site _text+%#x lies outside kernel text\n",
		       d->offset);
		return -ENOEXEC;
	}
	s->entry = kaiser_in_range(a, d->len, kaiser_syms.entry_text_start,
				   kaiser_syms.entry_text_end);
	/* Entry code holds lone PTI alternatives; C code static_cpu_has() pairs. */
	if (s->entry != d->entry_shape) {
		pr_err("refusing to load: site %pS is %s .entry.text but shaped as %s code\n",
		       s->addr, s->entry ? "inside" : "outside",
		       d->entry_shape ? "entry" : "C");
		return -ENOEXEC;
	}
	if (copy_from_kernel_nofault(cur, s->addr, d->len)) {
		pr_err("refusing to load: cannot read site %pS\n", s->addr);
		return -EFAULT;
	}
	if (memcmp(cur, d->off, d->len)) {
		pr_err("refusing to load: unexpected bytes at %pS: %*phN, expected %*phN\n",
		       s->addr, d->len, cur, d->len, d->off);
		return -ENOEXEC;
	}
	return 0;
}

int kaiser_sites_init(void)
{
	unsigned int i;
	int ret;

	ret = kaiser_sites_match_kernel();
	if (ret)
		return ret;
	kaiser_nr_entry_sites = 0;
	for (i = 0; i < KAISER_SITES_COUNT; i++) {
		ret = kaiser_site_check(i);
		if (ret)
			return ret;
		kaiser_nr_entry_sites += kaiser_sites[i].entry;
	}
	pr_info("%u PTI sites verified (%u in entry code, %u in C code; engine %s)\n",
		KAISER_SITES_COUNT, kaiser_nr_entry_sites,
		KAISER_SITES_COUNT - kaiser_nr_entry_sites, KAISER_SITES_ENGINE);
	return 0;
}
