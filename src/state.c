// SPDX-License-Identifier: GPL-2.0
/*
 * The isolation state machine: off -> enabling -> on -> disabling -> off.
 *
 * Every transition runs under kaiser_state_lock, so two writers of
 * /sys/kernel/kaiser/enabled cannot race each other. This build verifies
 * the kernel's PTI sites but does not switch isolation on yet: a request
 * to enable is refused with a log line and changes nothing.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/printk.h>

#include <kaiser/kaiser.h>

static DEFINE_MUTEX(kaiser_state_lock);
static enum kaiser_state kaiser_cur_state = KAISER_OFF;
static unsigned int kaiser_nr_patched;

enum kaiser_state kaiser_state(void)
{
	return READ_ONCE(kaiser_cur_state);
}

const char *kaiser_state_name(enum kaiser_state s)
{
	switch (s) {
	case KAISER_OFF:	return "off";
	case KAISER_ENABLING:	return "enabling";
	case KAISER_ON:		return "on";
	case KAISER_DISABLING:	return "disabling";
	}
	return "?";
}

unsigned int kaiser_sites_patched(void)
{
	return READ_ONCE(kaiser_nr_patched);
}

int kaiser_set_enabled(bool on)
{
	int ret = 0;

	mutex_lock(&kaiser_state_lock);
	if (on && kaiser_cur_state == KAISER_OFF) {
		pr_warn("enable refused: isolation is not implemented in this version (sites verified only)\n");
		ret = -EOPNOTSUPP;
	}
	/* Turning off what is off is a no-op. */
	mutex_unlock(&kaiser_state_lock);
	return ret;
}
