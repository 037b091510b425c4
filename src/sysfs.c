// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/kaiser/: the user interface. It lives in sysfs, not only in
 * debugfs, because Secure Boot lockdown switches debugfs off.
 *
 *   status   (0444) key: value lines
 *   enabled  (0644) 0 or 1; anything else is -EINVAL and changes nothing
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/utsname.h>

#include <kaiser/kaiser.h>

static struct kobject *kaiser_kobj;

static ssize_t status_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	unsigned int n = kaiser_sites_count(), e = kaiser_sites_entry_count();

	return sysfs_emit(buf,
			  "state: %s\n"
			  "kernel: %s\n"
			  "backend: %s\n"
			  "paging_levels: %u\n"
			  "pcid: %s\n"
			  "ibt: %s\n"
			  "sites_engine: %s\n"
			  "sites_found: %u\n"
			  "sites_entry: %u\n"
			  "sites_c: %u\n"
			  "sites_patched: %u\n",
			  kaiser_state_name(kaiser_state()),
			  init_utsname()->release,
			  kaiser_backend_name(),
			  kaiser_paging_levels(),
			  kaiser_pcid_in_use() ? "on" : "off",
			  kaiser_ibt_in_use() ? "on" : "off",
			  kaiser_sites_engine(),
			  n, e, n - e,
			  kaiser_sites_patched());
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

static struct kobj_attribute status_attr = __ATTR_RO(status);
static struct kobj_attribute enabled_attr = __ATTR_RW(enabled);

static struct attribute *kaiser_attrs[] = {
	&status_attr.attr,
	&enabled_attr.attr,
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
