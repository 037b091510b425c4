/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The test variants of kaiser: builds made by the test suite (Kbuild,
 * KAISER_TEST_*=...) that must make one test fail, to show that the test
 * can fail (docs/design.md §10). A production build defines none of them:
 * every function here is then a constant the compiler folds away, and no
 * production function carries an #ifdef for a test.
 */
#ifndef _KAISER_TEST_H
#define _KAISER_TEST_H

#include <linux/string.h>
#include <linux/types.h>

#ifndef KAISER_TEST_DORMANT_SITE
#define KAISER_TEST_DORMANT_SITE	NULL
#endif
#ifndef KAISER_TEST_MISSING_SYMBOL
#define KAISER_TEST_MISSING_SYMBOL	NULL
#endif
#ifndef KAISER_TEST_FAIL_E2
#define KAISER_TEST_FAIL_E2		0
#endif
#ifndef KAISER_TEST_NO_LDT_AREA
#define KAISER_TEST_NO_LDT_AREA		0
#endif
#ifndef KAISER_TEST_SKIP_MOVE
#define KAISER_TEST_SKIP_MOVE		NULL
#endif

/* KAISER_TEST_DORMANT_SITE=func: the sites of @func stay dormant. */
static inline bool kaiser_test_site_dormant(const char *func)
{
	const char *dormant = KAISER_TEST_DORMANT_SITE;

	return dormant && !strcmp(func, dormant);
}

/* KAISER_TEST_MISSING_SYMBOL=name: one more required symbol, to refuse. */
static inline const char *kaiser_test_missing_symbol(void)
{
	return KAISER_TEST_MISSING_SYMBOL;
}

/* KAISER_TEST_FAIL_E2=1: the second enable step fails, after E1. */
static inline bool kaiser_test_fail_e2(void)
{
	return KAISER_TEST_FAIL_E2;
}

/* KAISER_TEST_NO_LDT_AREA=1: no LDT is mapped; every one takes the fallback. */
static inline bool kaiser_test_no_ldt_area(void)
{
	return KAISER_TEST_NO_LDT_AREA;
}

/*
 * KAISER_TEST_SKIP_MOVE=comm: where PGDs are single pages, the mms of
 * tasks named @comm are neither moved onto pairs nor held against E1;
 * the out-of-band pair check (test/host/oob-audit, pairs) must catch them.
 */
static inline const char *kaiser_test_skip_move(void)
{
	return KAISER_TEST_SKIP_MOVE;
}

/*
 * KAISER_TEST_SKIP_MOVE=efi_mm: the EFI runtime page table stays a single
 * page (refused at an odd frame); test/suites/efi must catch it.
 */
static inline bool kaiser_test_skip_efi_move(void)
{
	const char *skip = KAISER_TEST_SKIP_MOVE;

	return skip && !strcmp(skip, "efi_mm");
}

#endif /* _KAISER_TEST_H */
