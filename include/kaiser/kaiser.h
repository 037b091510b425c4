/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types and functions shared by kaiser's files. Each file owns one concern;
 * this header only says what crosses between them.
 */
#ifndef _KAISER_KAISER_H
#define _KAISER_KAISER_H

#include <linux/types.h>

#define KAISER_SITE_MAX	16

/* One X86_FEATURE_PTI alternative site, as the build-time table has it. */
struct kaiser_site_desc {
	u32 offset;		/* from _text */
	u8 len;
	bool entry_shape;	/* a lone PTI alternative, as entry code has */
	u8 off[KAISER_SITE_MAX];	/* bytes boot left, PTI clear */
	u8 on[KAISER_SITE_MAX];		/* bytes with PTI set */
};

/* A site found in the running kernel. */
struct kaiser_site {
	const struct kaiser_site_desc *desc;
	u8 *addr;
	bool entry;		/* inside .entry.text */
};

/* symbols.c: unexported kernel symbols, resolved once at load */
struct kaiser_syms {
	unsigned long text;		/* _text */
	unsigned long etext;		/* _etext */
	unsigned long entry_text_start;	/* __entry_text_start */
	unsigned long entry_text_end;	/* __entry_text_end */
	unsigned long text_poke;	/* text_poke() */
	unsigned long pgd_list;		/* the list of every PGD */
	unsigned long pgd_lock;
	unsigned long init_top_pgt;	/* swapper_pg_dir */
	unsigned long test_missing;	/* KAISER_TEST_MISSING_SYMBOL builds */
};

extern struct kaiser_syms kaiser_syms;
int kaiser_resolve_symbols(void);

/* ibt_call.S: call a kernel function whose ENDBR64 may be sealed */
unsigned long kaiser_call_sealed(unsigned long fn, unsigned long a1,
				 unsigned long a2, unsigned long a3,
				 unsigned long a4, unsigned long a5);

/* compat.c: what the running kernel is, and whether we support it */
int kaiser_check_kernel(void);
unsigned int kaiser_paging_levels(void);
bool kaiser_pcid_in_use(void);
bool kaiser_ibt_in_use(void);
const char *kaiser_backend_name(void);

/* sites.c: the dormant PTI sites of the running kernel */
int kaiser_sites_init(void);
unsigned int kaiser_sites_count(void);
unsigned int kaiser_sites_entry_count(void);
const struct kaiser_site *kaiser_site(unsigned int i);
const char *kaiser_sites_engine(void);

/* state.c: off -> enabling -> on -> disabling -> off */
enum kaiser_state {
	KAISER_OFF,
	KAISER_ENABLING,
	KAISER_ON,
	KAISER_DISABLING,
};

enum kaiser_state kaiser_state(void);
const char *kaiser_state_name(enum kaiser_state s);
unsigned int kaiser_sites_patched(void);
int kaiser_set_enabled(bool on);

/* sysfs.c, debugfs.c */
int kaiser_sysfs_init(void);
void kaiser_sysfs_exit(void);
void kaiser_debugfs_init(void);
void kaiser_debugfs_exit(void);

#endif /* _KAISER_KAISER_H */
