// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/kaiser/: listings for developers and tests.
 *
 *   sites      one line per PTI site:
 *              <entry|c> <offset from _text> <len> <current> <on bytes> <symbol>
 *   audit      the full audit: every wrong entry of every user table
 *   pagetable  write a pid, then read: that process's user page table,
 *              its top-level user entries and every kernel mapping below
 *              its kernel half, merged into ranges
 *
 * debugfs is off under lockdown; nothing a user needs lives only here.
 */
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/pgtable.h>

#include <kaiser/kaiser.h>

static struct dentry *kaiser_debugfs_dir;
static pid_t kaiser_dump_pid;

static int sites_show(struct seq_file *m, void *v)
{
	unsigned int i;

	for (i = 0; i < kaiser_sites_count(); i++) {
		const struct kaiser_site *s = kaiser_site(i);
		u8 cur[KAISER_SITE_MAX];
		unsigned int len = s->desc->len;

		if (copy_from_kernel_nofault(cur, s->addr, len))
			memset(cur, 0, len);
		/* "held": on from load to unload, not part of isolation */
		seq_printf(m, "%s %#x %u %*phN %*phN %pS%s\n",
			   s->entry ? "entry" : "c", s->desc->offset, len,
			   len, cur, len, s->desc->on, s->addr,
			   s->phase == KAISER_PHASE_ALLOC ? " held" : "");
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(sites);

#define KAISER_AUDIT_BUF	(256 * 1024)

static int audit_show(struct seq_file *m, void *v)
{
	struct kaiser_audit a = { .max_findings = UINT_MAX,
				  .size = KAISER_AUDIT_BUF };

	if (kaiser_state() != KAISER_ON) {
		seq_puts(m, "off\n");
		return 0;
	}
	a.buf = kvzalloc(a.size, GFP_KERNEL);
	if (!a.buf)
		return -ENOMEM;
	kaiser_audit(&a);
	seq_printf(m, "%u user tables, %u with wrong entries, %u wrong entries, %u LDT fallbacks\n%s",
		   a.tables, a.bad_tables, a.findings, a.ldt_fallbacks, a.buf);
	kvfree(a.buf);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(audit);

/* ---- pagetable: one process's user table ------------------------------ */

struct kaiser_range {
	struct kaiser_walk walk;
	struct seq_file *m;
	unsigned long start, end;	/* virtual, end exclusive; 0 = none */
	u64 pa_next, flags;
};

static void kaiser_range_flush(struct kaiser_range *r)
{
	if (r->end)
		seq_printf(r->m, "  %016lx-%016lx %8lu KiB  flags %#llx%s%s%s\n",
			   r->start, r->end, (r->end - r->start) >> 10, r->flags,
			   r->flags & _PAGE_RW ? " rw" : " ro",
			   r->flags & _PAGE_NX ? " nx" : " x",
			   r->flags & _PAGE_USER ? " user" : "");
	r->end = 0;
}

/* One leaf: extend the current range when it continues it, else print. */
static void kaiser_range_add(struct kaiser_range *r, unsigned long va,
			     unsigned long size, u64 pa, u64 flags)
{
	if (r->end == va && r->pa_next == pa && r->flags == flags) {
		r->end += size;
	} else {
		kaiser_range_flush(r);
		r->start = va;
		r->end = va + size;
		r->flags = flags;
	}
	r->pa_next = pa + size;
}

#define KAISER_FLAGS(v)	((v) & (_PAGE_RW | _PAGE_USER | _PAGE_NX | _PAGE_GLOBAL))

static void kaiser_range_leaf(struct kaiser_walk *w, unsigned long va,
			      unsigned long size, u64 pa, u64 val)
{
	kaiser_range_add(container_of(w, struct kaiser_range, walk), va, size,
			 pa, KAISER_FLAGS(val));
}

/*
 * The user half is listed by top-level entry only: its lower tables belong
 * to the process and may be freed while we look. The kernel half is the
 * template and the process's LDT area (or the kernel's own half, for an
 * LDT fallback): walked to the leaves.
 */
static void kaiser_dump_pgd(struct seq_file *m, pgd_t *pgd)
{
	pgd_t *user = kernel_to_user_pgdp(pgd);
	struct kaiser_range r = { .walk.leaf = kaiser_range_leaf, .m = m };
	unsigned int i;

	seq_puts(m, "user half (top-level entries, user table | kernel table):\n");
	for (i = 0; i < KAISER_KERNEL_HALF; i++)
		if (pgd_val(user[i]) || pgd_val(pgd[i]))
			seq_printf(m, "  slot %3u %016lx: %#lx | %#lx\n", i,
				   kaiser_slot_va(i), pgd_val(user[i]), pgd_val(pgd[i]));
	seq_puts(m, "kernel half (every mapping):\n");
	kaiser_walk_kernel_half(user, &r.walk);
	kaiser_range_flush(&r);
	seq_printf(m, "distinct kernel bytes: %lu\n", kaiser_kernel_bytes(user));
}

static int pagetable_show(struct seq_file *m, void *v)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct pid *pid;

	if (kaiser_state() != KAISER_ON) {
		seq_puts(m, "off\n");
		return 0;
	}
	pid = find_get_pid(READ_ONCE(kaiser_dump_pid));
	task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	mm = task ? get_task_mm(task) : NULL;
	if (task)
		put_task_struct(task);
	if (!mm) {
		seq_printf(m, "pid %d: no such process or no mm\n", kaiser_dump_pid);
		return 0;
	}
	seq_printf(m, "pid %d pgd %p user table %p\n", kaiser_dump_pid, mm->pgd,
		   kernel_to_user_pgdp(mm->pgd));
	kaiser_dump_pgd(m, mm->pgd);
	mmput(mm);
	return 0;
}

static int pagetable_open(struct inode *inode, struct file *file)
{
	return single_open(file, pagetable_show, NULL);
}

static ssize_t pagetable_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	int pid, ret;

	ret = kstrtoint_from_user(ubuf, count, 10, &pid);
	if (ret)
		return ret;
	WRITE_ONCE(kaiser_dump_pid, pid);
	return count;
}

static const struct file_operations pagetable_fops = {
	.owner = THIS_MODULE,
	.open = pagetable_open,
	.read = seq_read,
	.write = pagetable_write,
	.llseek = seq_lseek,
	.release = single_release,
};

void kaiser_debugfs_init(void)
{
	/* Failure only loses the listings: debugfs is a debugging aid. */
	kaiser_debugfs_dir = debugfs_create_dir("kaiser", NULL);
	debugfs_create_file("sites", 0400, kaiser_debugfs_dir, NULL, &sites_fops);
	debugfs_create_file("audit", 0400, kaiser_debugfs_dir, NULL, &audit_fops);
	debugfs_create_file("pagetable", 0600, kaiser_debugfs_dir, NULL,
			    &pagetable_fops);
}

void kaiser_debugfs_exit(void)
{
	debugfs_remove_recursive(kaiser_debugfs_dir);
	kaiser_debugfs_dir = NULL;
}
