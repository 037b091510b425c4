// SPDX-License-Identifier: GPL-2.0
/*
 * PGD pairs on kernels that give each mm a single 4 KiB PGD while their
 * own isolation is off (6.15 and later: pgd_allocation_order()). The entry
 * code finds an mm's user table at CR3 + 4 KiB, so from E1 on every PGD
 * that can be in a CR3 must be the lower page of an 8 KiB pair
 * (docs/single-pgd.md):
 *
 *   - while kaiser is loaded, pgd_alloc()'s allocation-order site is on
 *     (state.c): every new mm gets a pair, which the kernel's own
 *     pgd_free() frees whole (it takes the order from the folio);
 *   - at enable, before E1, every mm that still has a single page is
 *     moved onto a pair (kaiser_pairs_move_all()), and E1 itself checks,
 *     under pgd_lock, that no single page is left (kaiser_pairs_all());
 *   - efi_mm, which is on no list, is moved first, under the EFI runtime
 *     services' own lock (kaiser_pairs_move_efi()).
 *
 * Moving a live PGD: the writers of its entries are drained by the locks
 * the kernel itself takes around them (ldt_usr_sem, mmap_lock, every VMA's
 * write lock); the new page is a copy of the old under pgd_lock, so the
 * kernel-half syncs see both; every CPU that runs on the old page is sent
 * to the new one at a point where it cannot be in the middle of a CR3
 * read-modify-write; rmap walkers, which hold neither lock, are waited
 * for by taking their locks once; lockless readers by two grace periods
 * before the old page is freed with the kernel's own recipe.
 *
 * On kernels that allocate pairs themselves none of this is built.
 */
#define pr_fmt(fmt) "kaiser: " fmt

#include <kaiser/compat.h>
#include <kaiser/kaiser.h>
#include <kaiser/test.h>

#ifdef KAISER_KERNEL_SINGLE_PGD

#include <linux/cpumask.h>
#include <linux/efi.h>
#include <linux/fs.h>
#include <linux/hardirq.h>
#include <linux/ktime.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/printk.h>
#include <linux/rcupdate.h>
#include <linux/rmap.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/semaphore.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/workqueue.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>

static unsigned long kaiser_pairs_moved;	/* since load */
static unsigned long kaiser_pairs_forced;	/* CPUs reloaded from a kworker */
/* The last move of mms onto pairs, and the wait and free of its old pages. */
static u64 kaiser_pairs_move_ns, kaiser_pairs_free_ns;

/* CPUs whose interrupted code was not preemptible: reloaded by a kworker. */
static struct cpumask kaiser_pairs_deferred;

/* Old PGD pages, off every list and every CR3, waiting for grace periods. */
static LIST_HEAD(kaiser_pairs_old);
/* The batch kaiser_pairs_free_work frees; only the work item touches it. */
static LIST_HEAD(kaiser_pairs_freeing);

/* Is @pgd the lower page of an order-1 compound pair? */
static bool kaiser_pgd_paired(pgd_t *pgd)
{
	struct folio *folio = virt_to_folio(pgd);

	return folio_order(folio) == 1 && folio_address(folio) == (void *)pgd;
}

/*
 * Has mm_init() finished with @mm? Its failure paths free the PGD and the
 * mm without looking at mm_count, and percpu_counter_init_many() of the
 * rss counters is the last step that can fail: the last counter's pointer
 * is set from then on. Called under pgd_lock, which pgd_free() takes.
 */
static bool kaiser_mm_initialised(struct mm_struct *mm)
{
	return READ_ONCE(mm->rss_stat[NR_MM_COUNTERS - 1].counters);
}

/* A test build's victims (KAISER_TEST_SKIP_MOVE): their mms stay single. */
static bool kaiser_pairs_skipped(struct mm_struct *mm)
{
	const char *comm = kaiser_test_skip_move();
	struct task_struct *t;
	bool skip;

	if (!comm || !mm)
		return false;
	rcu_read_lock();
	t = kaiser_mm_owner(mm);
	skip = t && !strcmp(t->comm, comm);
	rcu_read_unlock();
	return skip;
}

/*
 * May kaiser read or write @pgd's user half (the page after it)? Not
 * before the mm is moved: that page belongs to someone else, or, at an
 * odd frame, is the PGD itself.
 */
bool kaiser_pgd_has_user_half(pgd_t *pgd)
{
	return kaiser_pgd_paired(pgd);
}

/* Every listed PGD is paired (E1's check, under pgd_lock). */
bool kaiser_pairs_all(void)
{
	struct page *page;

	kaiser_for_each_pgd(page)
		if (!kaiser_pgd_paired(page_address(page)) &&
		    !kaiser_pairs_skipped(kaiser_pgd_page_mm(page)))
			return false;
	return true;
}

/* Who makes the PGD pairs: kaiser, on this kernel. */
const char *kaiser_pairs_source(void)
{
	return "kaiser (pgd_alloc switched while loaded, older mms moved)";
}

unsigned long kaiser_pairs_moved_count(void)
{
	return READ_ONCE(kaiser_pairs_moved);
}

unsigned long kaiser_pairs_forced_count(void)
{
	return READ_ONCE(kaiser_pairs_forced);
}

u64 kaiser_pairs_move_time_ns(void)
{
	return READ_ONCE(kaiser_pairs_move_ns);
}

u64 kaiser_pairs_free_time_ns(void)
{
	return READ_ONCE(kaiser_pairs_free_ns);
}

/* ---- which mms: pinned, under pgd_lock ------------------------------ */

/*
 * Pin the mms of up to @max listed single PGDs into @mms; with @mms NULL,
 * only count them. An mm whose mm_count is zero is in __mmdrop(), one not
 * yet initialised may still be freed by mm_init(): both are left to E1's
 * check, which makes the enable try again.
 */
static unsigned int kaiser_pairs_collect(struct mm_struct **mms,
					 unsigned int max)
{
	unsigned int n = 0;
	struct page *page;

	spin_lock(kaiser_pgd_lock());
	kaiser_for_each_pgd(page) {
		struct mm_struct *mm = kaiser_pgd_page_mm(page);

		if (kaiser_pgd_paired(page_address(page)) || !mm ||
		    mm->pgd != page_address(page) || !kaiser_mm_initialised(mm) ||
		    kaiser_pairs_skipped(mm))
			continue;
		if (mms) {
			if (n == max || !atomic_inc_not_zero(&mm->mm_count))
				continue;
			mms[n] = mm;
		}
		n++;
	}
	spin_unlock(kaiser_pgd_lock());
	return n;
}

/* ---- one mm --------------------------------------------------------- */

/* A zeroed order-1 pair, charged to @mm's memory cgroup as pgd_alloc()'s. */
static pgd_t *kaiser_pair_alloc(struct mm_struct *mm)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(mm);
	struct mem_cgroup *old = set_active_memcg(memcg);
	struct ptdesc *pt = pagetable_alloc(GFP_PGTABLE_USER, 1);

	set_active_memcg(old);
	mem_cgroup_put(memcg);
	return pt ? ptdesc_address(pt) : NULL;
}

/*
 * Lock out every writer of @mm's PGD entries, in the kernel's own order:
 * write_ldt() writes the LDT slot under ldt_usr_sem alone; everything
 * that writes a user-half entry holds mmap_lock or a VMA lock.
 */
static int kaiser_pair_lock(struct mm_struct *mm)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;
	int ret;

	if (down_write_killable(&mm->context.ldt_usr_sem))
		return -EINTR;
	ret = mmap_write_lock_killable(mm);
	if (ret)
		goto out_ldt;
	for_each_vma(vmi, vma) {
		ret = vma_start_write_killable(vma);
		if (ret)
			goto out_mmap;
	}
	return 0;

out_mmap:
	mmap_write_unlock(mm);	/* ends the VMA write locks too */
out_ldt:
	up_write(&mm->context.ldt_usr_sem);
	return ret;
}

static void kaiser_pair_unlock(struct mm_struct *mm)
{
	mmap_write_unlock(mm);
	up_write(&mm->context.ldt_usr_sem);
}

/*
 * The swap: the new page gets the old one's entries and its place on
 * pgd_list, beside it (kernel-half syncs reach both until the old one is
 * unlisted), and becomes mm->pgd. pgd_lock, then page_table_lock, is
 * sync_global_pgds()'s order.
 */
static void kaiser_pair_swap(struct mm_struct *mm, pgd_t *new)
{
	struct page *page = virt_to_page(new);

	spin_lock(kaiser_pgd_lock());
	spin_lock(&mm->page_table_lock);
	copy_page(new, mm->pgd);
	pagetable_pgd_ctor(virt_to_ptdesc(new));
	kaiser_pgd_page_mm(page) = mm;
	list_add(&page->lru, kaiser_pgd_list_locked());
	WRITE_ONCE(mm->pgd, new);
	spin_unlock(&mm->page_table_lock);
	spin_unlock(kaiser_pgd_lock());
}

struct kaiser_reload {
	struct mm_struct *mm;
	unsigned long pa;	/* the new PGD */
};

/*
 * switch_mm_irqs_off() stores loaded_mm (LOADED_MM_SWITCHING first), then
 * issues a full barrier, then reads next->pgd; the mover stores mm->pgd,
 * then a full barrier, then reads loaded_mm: a CPU this misses reads the
 * new mm->pgd.
 */
static bool kaiser_reload_wanted(int cpu, void *info)
{
	struct kaiser_reload *r = info;
	struct mm_struct *loaded = kaiser_loaded_mm_on(cpu);

	return loaded == r->mm || loaded == kaiser_loaded_mm_switching;
}

/*
 * Send this CPU to the new PGD, interrupts off. A lazy CPU leaves the mm
 * as flush_tlb_func() does. Otherwise CR3 is rewritten, keeping its PCID
 * and flag bits, only where the interrupted code could not be between a
 * read and a write of CR3: user mode, or kernel code that was preemptible
 * (every CR3 read-modify-write in the kernel runs with preemption or
 * interrupts off). The caller's own CPU is such a point too.
 */
static void kaiser_reload_cpu(void *info)
{
	struct kaiser_reload *r = info;
	unsigned long cr3 = __read_cr3();

	if (kaiser_loaded_mm() != r->mm || (cr3 & CR3_ADDR_MASK) == r->pa)
		return;
	if (kaiser_cpu_lazy()) {
		leave_mm();
		return;
	}
	if (in_hardirq() && preempt_count() != HARDIRQ_OFFSET) {
		cpumask_set_cpu(smp_processor_id(), &kaiser_pairs_deferred);
		return;
	}
	write_cr3((cr3 & ~CR3_ADDR_MASK) | r->pa);
}

/*
 * In a kworker bound to a CPU that deferred: its previous task was
 * preempted (or slept), so this CPU is lazy on the mm or has left it.
 */
static int kaiser_reload_task(void *info)
{
	local_irq_disable();
	kaiser_reload_cpu(info);
	local_irq_enable();
	return 0;
}

/*
 * Every CPU that runs on @mm's old PGD moves to @new. A CPU that stays in
 * non-preemptible code (a KVM vCPU thread runs its guest so, and on SVM
 * each exit restores the old CR3) is reloaded from a kworker on it.
 */
static void kaiser_pair_reload(struct mm_struct *mm, pgd_t *new)
{
	struct kaiser_reload r = { .mm = mm, .pa = __sme_pa(new) & CR3_ADDR_MASK };
	int cpu;

	smp_mb();	/* mm->pgd before loaded_mm: see kaiser_reload_wanted() */
	cpumask_clear(&kaiser_pairs_deferred);
	on_each_cpu_cond_mask(kaiser_reload_wanted, kaiser_reload_cpu, &r,
			      true, cpu_online_mask);
	for_each_cpu(cpu, &kaiser_pairs_deferred) {
		/* -ENXIO: gone offline; it comes back on init_mm */
		smp_call_on_cpu(cpu, kaiser_reload_task, &r, false);
		kaiser_pairs_forced++;
	}
}

/*
 * Rmap walkers reach page tables under i_mmap_rwsem or an anon_vma lock
 * only, and a zap under i_mmap_rwsem can sleep in an mmu notifier while
 * it holds a pointer into the PGD: take each lock once, so every walker
 * that began before the swap has finished.
 */
static void kaiser_pair_drain_rmap(struct mm_struct *mm)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;

	for_each_vma(vmi, vma) {
		if (vma->vm_file) {
			i_mmap_lock_write(vma->vm_file->f_mapping);
			i_mmap_unlock_write(vma->vm_file->f_mapping);
		}
		if (vma->anon_vma) {	/* the root's lock covers the tree */
			down_write(&vma->anon_vma->root->rwsem);
			up_write(&vma->anon_vma->root->rwsem);
		}
	}
}

/* Move @mm (pinned) onto a pair; its old page waits in kaiser_pairs_old. */
static int kaiser_pair_move(struct mm_struct *mm)
{
	pgd_t *new, *old;
	int ret;

	new = kaiser_pair_alloc(mm);
	if (!new)
		return -ENOMEM;
	ret = kaiser_pair_lock(mm);
	if (ret)
		goto out_free;
	if (kaiser_mm_iommu_bound(mm)) {
		/* The device walks the old page, and kaiser cannot tell it. */
		pr_err("enable refused: a process shares its page table with a device (IOMMU SVA); isolation stays off\n");
		ret = -EBUSY;
		goto out_unlock;
	}
	old = mm->pgd;
	if (WARN_ON_ONCE(kaiser_pgd_paired(old)))
		goto out_unlock;
	kaiser_pair_swap(mm, new);
	kaiser_pair_reload(mm, new);
	kaiser_pair_drain_rmap(mm);
	kaiser_call_sealed(kaiser_syms.flush_tlb_mm_range, (unsigned long)mm,
			   0, TLB_FLUSH_ALL, PAGE_SHIFT, true);
	kaiser_pair_unlock(mm);

	spin_lock(kaiser_pgd_lock());
	list_del(&virt_to_page(old)->lru);
	spin_unlock(kaiser_pgd_lock());
	list_add(&virt_to_page(old)->lru, &kaiser_pairs_old);
	kaiser_pairs_moved++;
	return 0;

out_unlock:
	kaiser_pair_unlock(mm);
out_free:
	__pagetable_free(virt_to_ptdesc(new));
	return ret;
}

/*
 * Free the old pages once no lockless reader can hold one: GUP-fast and
 * perf read with interrupts off (an RCU grace period), page_vma_mapped_walk()
 * and the text_poke walk may be preempted with one (RCU Tasks). An RCU
 * Tasks grace period took up to 107 ms on 7.2 with 1,000 mms: a work item
 * waits for them, so that the enable does not.
 */
static void kaiser_pairs_free_fn(struct work_struct *work)
{
	struct page *page, *next;
	ktime_t t0 = ktime_get();

	synchronize_rcu();
	synchronize_rcu_tasks();
	list_for_each_entry_safe(page, next, &kaiser_pairs_freeing, lru) {
		struct ptdesc *pt = page_ptdesc(page);

		/* __pgd_free()'s recipe; a user PGD is no kernel ptdesc */
		list_del(&page->lru);
		WARN_ON_ONCE(ptdesc_test_kernel(pt));
		pagetable_dtor(pt);
		__pagetable_free(pt);
	}
	WRITE_ONCE(kaiser_pairs_free_ns, ktime_to_ns(ktime_sub(ktime_get(), t0)));
}

static DECLARE_WORK(kaiser_pairs_free_work, kaiser_pairs_free_fn);

/* Hand this move's old pages to the work item, once it is done with the last. */
static void kaiser_pairs_free_old(void)
{
	if (list_empty(&kaiser_pairs_old))
		return;
	flush_work(&kaiser_pairs_free_work);
	WARN_ON_ONCE(!list_empty(&kaiser_pairs_freeing));
	list_splice_init(&kaiser_pairs_old, &kaiser_pairs_freeing);
	queue_work(system_unbound_wq, &kaiser_pairs_free_work);
}

/* Module exit: the work item's code goes with the module. */
void kaiser_pairs_exit(void)
{
	flush_work(&kaiser_pairs_free_work);
}

/* ---- efi_mm -------------------------------------------------------- */

static struct mm_struct *kaiser_efi_mm(void)
{
	return (struct mm_struct *)kaiser_syms.efi_mm;
}

/*
 * Leave a single EFI page table where it is: harmless at an even frame,
 * where an NMI sees a kernel table; refused at an odd one, saying @why.
 */
static int kaiser_efi_pgd_leave(pgd_t *pgd, const char *why)
{
	if (!(__pa(pgd) & PAGE_SIZE))
		return 0;
	pr_err("enable refused: the EFI runtime page table lies at an odd page frame, which the entry code would take for a user table, and kaiser cannot move it (%s); isolation stays off\n",
	       why);
	return -EOPNOTSUPP;
}

/*
 * efi_mm is in CR3 during every EFI runtime call, on a plain order-0 page
 * off pgd_list (efi_alloc_page_tables()). At an odd frame an NMI in such a
 * call would take it for a user table and run on the page before it. It
 * is moved onto a pair while efi_runtime_lock is held: every native
 * runtime call holds that semaphore from before it loads efi_mm until
 * after it has left it, so then no CPU has efi_mm in CR3 and nobody holds
 * a copy of efi_mm.pgd; efi_sync_low_kernel_mappings() refreshes the new
 * page's kernel half at every call. Unless the runtime services were
 * switched off meanwhile (a firmware call that timed out may still be
 * running on the old page), which is tested under the semaphore. Mixed
 * mode (32-bit firmware) calls bypass the semaphore: not moved.
 * The kernel never frees efi_mm.pgd, so the pair outlives kaiser, and the
 * old page is a plain page kaiser frees (docs/spikes/7.3-efi-mm.md).
 */
static int kaiser_pairs_move_efi(void)
{
	struct mm_struct *efi = kaiser_efi_mm();
	struct semaphore *sem = (struct semaphore *)kaiser_syms.efi_runtime_lock;
	pgd_t *old = efi ? READ_ONCE(efi->pgd) : NULL;
	struct page *page;
	bool live;

	if (!old || kaiser_pgd_paired(old))
		return 0;
	if (kaiser_test_skip_efi_move())
		return kaiser_efi_pgd_leave(old, "KAISER_TEST_SKIP_MOVE");
	if (kaiser_efi_is_mixed())
		return kaiser_efi_pgd_leave(old, "32-bit firmware");
	if (!sem)
		return kaiser_efi_pgd_leave(old, "efi_runtime_lock not found");
	page = alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_COMP, 1);
	if (!page)
		return -ENOMEM;
	if (down_timeout(sem, HZ)) {
		__free_pages(page, 1);
		return kaiser_efi_pgd_leave(old, "EFI runtime services busy");
	}
	live = efi_enabled(EFI_RUNTIME_SERVICES);
	old = efi->pgd;
	if (live) {
		copy_page(page_address(page), old);
		WRITE_ONCE(efi->pgd, page_address(page));
		/* a fresh TLB for efi_mm's PCID at its next load */
		atomic64_inc(&efi->context.tlb_gen);
	}
	up(sem);
	if (!live) {
		__free_pages(page, 1);
		return kaiser_efi_pgd_leave(old, "EFI runtime services disabled after a firmware fault or timeout");
	}
	free_page((unsigned long)old);
	return 0;
}

/* For status: none, pair, single-even or single-odd. */
const char *kaiser_pairs_efi_pgd(void)
{
	struct mm_struct *efi = kaiser_efi_mm();
	pgd_t *pgd = efi ? READ_ONCE(efi->pgd) : NULL;

	if (!pgd)
		return "none";
	if (kaiser_pgd_paired(pgd))
		return "pair";
	return __pa(pgd) & PAGE_SIZE ? "single-odd" : "single-even";
}

/*
 * Before E1: move every mm that has a single PGD onto a pair. Mms born
 * meanwhile already get pairs (the allocation site is on); one that was
 * mid-creation is caught by E1's check, and the enable comes back here.
 */
int kaiser_pairs_move_all(void)
{
	struct mm_struct **mms;
	unsigned int n, i;
	ktime_t t0 = ktime_get();
	int ret;

	ret = kaiser_pairs_move_efi();
	if (ret)
		return ret;
	n = kaiser_pairs_collect(NULL, 0);
	if (!n)
		return 0;
	n += 16;	/* a few more may appear before the second pass */
	mms = kvmalloc_array(n, sizeof(*mms), GFP_KERNEL);
	if (!mms)
		return -ENOMEM;
	n = kaiser_pairs_collect(mms, n);
	for (i = 0; i < n; i++) {
		if (!ret)
			ret = kaiser_pair_move(mms[i]);
		mmdrop(mms[i]);
	}
	kvfree(mms);
	kaiser_pairs_free_old();
	WRITE_ONCE(kaiser_pairs_move_ns, ktime_to_ns(ktime_sub(ktime_get(), t0)));
	return ret;
}

#else /* the kernel allocates pairs itself */

const char *kaiser_pairs_source(void)
{
	return "kernel";
}

int kaiser_pairs_move_all(void)
{
	return 0;
}

bool kaiser_pgd_has_user_half(pgd_t *pgd)
{
	return true;
}

bool kaiser_pairs_all(void)
{
	return true;
}

unsigned long kaiser_pairs_moved_count(void)
{
	return 0;
}

unsigned long kaiser_pairs_forced_count(void)
{
	return 0;
}

u64 kaiser_pairs_move_time_ns(void)
{
	return 0;
}

u64 kaiser_pairs_free_time_ns(void)
{
	return 0;
}

const char *kaiser_pairs_efi_pgd(void)
{
	return "kernel";
}

void kaiser_pairs_exit(void)
{
}

#endif /* KAISER_KERNEL_SINGLE_PGD */
