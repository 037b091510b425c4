// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/kaiser/: the user interface. It lives in sysfs, not only in
 * debugfs, because Secure Boot lockdown switches debugfs off.
 *
 *   status   (0444) key: value lines, from counters: reading it walks no
 *            page table and takes no lock a fork or exit needs
 *   enabled  (0644) 0 or 1; anything else is -EINVAL and changes nothing
 *   audit    (0400) "ok: N user tables, N LDT fallbacks", or how many
 *            wrong entries the user tables hold: the walk, under pgd_lock
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/utsname.h>

#include <kaiser/kaiser.h>

static struct kobject *kaiser_kobj;

static ssize_t status_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	unsigned int n = kaiser_sites_count(), e = kaiser_sites_entry_count();
	unsigned int pge_cpus, online;
	bool on = kaiser_state() == KAISER_ON;

	kaiser_tlb_pge_cpus(&pge_cpus, &online);
	return sysfs_emit(buf,
			  "state: %s\n"
			  "kernel: %s\n"
			  "backend: %s\n"
			  "paging_levels: %u\n"
			  "pcid: %s\n"
			  "pcid_mode: %s\n"
			  "pcid_sites_patched: %u\n"
			  "ibt: %s\n"
			  "global_pages: %s\n"
			  "cpus_with_pge: %u/%u\n"
			  "sites_engine: %s\n"
			  "sites_found: %u\n"
			  "sites_entry: %u\n"
			  "sites_c: %u\n"
			  "sites_patched: %u\n"
			  "ldt_fallbacks: %u\n"
			  "ldt_areas: %u\n"
			  "teardown_checks: %lu\n"
			  "teardown_clears: %lu\n"
			  "kernel_bytes_mapped: %lu\n"
			  "enable_us: %llu\n"
			  "disable_us: %llu\n"
			  "step_retries: %lu\n"
			  "pgd_pairs: %s\n"
			  "pgd_pairs_moved: %lu\n"
			  "pgd_pairs_cpus_forced: %lu\n"
			  "pgd_pairs_move_us: %llu\n"
			  "pgd_pairs_free_us: %llu\n"
			  "efi_pgd: %s\n",
			  kaiser_state_name(kaiser_state()),
			  init_utsname()->release,
			  kaiser_backend_name(),
			  kaiser_paging_levels(),
			  kaiser_pcid_in_use() ? "on" : "off",
			  kaiser_pcid_mode(),
			  kaiser_pcid_sites_active(),
			  kaiser_ibt_in_use() ? "on" : "off",
			  kaiser_tlb_mode(), pge_cpus, online,
			  kaiser_sites_engine(),
			  n, e, n - e,
			  kaiser_sites_active(),
			  on ? kaiser_ldt_fallbacks() : 0,
			  kaiser_ldt_trees(),
			  kaiser_shadow_teardown_checks(),
			  kaiser_shadow_teardown_clears(),
			  on ? kaiser_template_bytes() : 0,
			  kaiser_state_enable_ns() / NSEC_PER_USEC,
			  kaiser_state_disable_ns() / NSEC_PER_USEC,
			  kaiser_state_step_retries(),
			  kaiser_pairs_source(),
			  kaiser_pairs_moved_count(),
			  kaiser_pairs_forced_count(),
			  kaiser_pairs_move_time_ns() / NSEC_PER_USEC,
			  kaiser_pairs_free_time_ns() / NSEC_PER_USEC,
			  kaiser_pairs_efi_pgd());
}

static ssize_t enabled_show(struct kobject *kobj, struct kobj_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", kaiser_state() == KAISER_ON);
}

/* Only "0" or "1", with an optional newline: kstrtobool would take "yes". */
static ssize_t enabled_store(struct kobject *kobj, struct kobj_attribute *attr,
			     const char *buf, size_t count)
{
	size_t len = count;
	int ret;

	if (len && buf[len - 1] == '\n')
		len--;
	if (len != 1 || (buf[0] != '0' && buf[0] != '1'))
		return -EINVAL;
	ret = kaiser_set_enabled(buf[0] == '1');
	return ret ? ret : count;
}

/*
 * The audit: every user table, entry by entry, against what it must hold.
 * Off, there is nothing to audit: the user tables are empty by design.
 */
static ssize_t audit_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	struct kaiser_audit a = { .max_findings = 8, .size = PAGE_SIZE / 2 };
	ssize_t n;

	if (kaiser_state() != KAISER_ON)
		return sysfs_emit(buf, "off\n");
	a.buf = kzalloc(a.size, GFP_KERNEL);
	if (!a.buf)
		return -ENOMEM;
	kaiser_audit(&a);
	if (!a.findings)
		n = sysfs_emit(buf, "ok: %u user tables, %u LDT fallbacks\n",
			       a.tables, a.ldt_fallbacks);
	else
		n = sysfs_emit(buf, "%u wrong entries in %u of %u user tables\n%s",
			       a.findings, a.bad_tables, a.tables, a.buf);
	kfree(a.buf);
	return n;
}

static struct kobj_attribute status_attr = __ATTR_RO(status);
static struct kobj_attribute enabled_attr = __ATTR_RW(enabled);
static struct kobj_attribute audit_attr = __ATTR(audit, 0400, audit_show, NULL);

static struct attribute *kaiser_attrs[] = {
	&status_attr.attr,
	&enabled_attr.attr,
	&audit_attr.attr,
	NULL,
};

static const struct attribute_group kaiser_attr_group = {
	.attrs = kaiser_attrs,
};

int kaiser_sysfs_init(void)
{
	int ret;

	kaiser_kobj = kobject_create_and_add("kaiser", kernel_kobj);
	if (!kaiser_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(kaiser_kobj, &kaiser_attr_group);
	if (ret) {
		kobject_put(kaiser_kobj);
		kaiser_kobj = NULL;
	}
	return ret;
}

void kaiser_sysfs_exit(void)
{
	if (kaiser_kobj) {
		sysfs_remove_group(kaiser_kobj, &kaiser_attr_group);
		kobject_put(kaiser_kobj);
		kaiser_kobj = NULL;
	}
}
