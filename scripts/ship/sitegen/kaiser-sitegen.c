// SPDX-License-Identifier: GPL-2.0
/*
 * kaiser-sitegen [--test-corrupt-site N] VMLINUX OUT.h
 *
 * Build-time generator of kaiser's patch-site table. The running kernel
 * frees its alternatives table (.altinstructions lies in the init region),
 * so the module cannot find the X86_FEATURE_PTI sites by itself. This
 * program reads them from the kernel image and writes, per site that lives
 * in core kernel text:
 *
 *   - its offset from _text (the start of .text) and its length;
 *   - "off": the bytes the kernel's own apply_alternatives() left there at
 *     boot with X86_FEATURE_PTI clear (what the module must find);
 *   - "on":  the bytes apply_alternatives() would have left had
 *     X86_FEATURE_PTI been set (what the module writes to activate it).
 *
 * Both are computed by emulating the image's own alternatives engine. Two
 * engines are known: the one of 6.1 (12-byte alt_instr, recompute_jump(),
 * optimize_nops() on 0x90 runs) and the one of 6.12 (14-byte alt_instr
 * with ft_flags, text_poke_apply_relocation() with JMP32->JMP8 shrinking).
 * Which one applies is decided by which entry layout the table parses as;
 * anything else is refused, as is any site whose instructions the small
 * decoder below does not know.
 *
 * --test-corrupt-site N flips the expected bytes of site N: the test suite
 * builds such a module to prove that the load refuses unexpected bytes.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEATURE_ALWAYS		(3 * 32 + 21)
#define FEATURE_PTI		(7 * 32 + 11)
#define FEATURE_PCID		(4 * 32 + 17)
#define FEATURE_LIMIT		((22 + 2) * 32)	/* (NCAPINTS + NBUGINTS) * 32 */
#define SITE_MAX		16
#define MAX_ALTS		8

enum engine { ENGINE_6_1, ENGINE_6_12 };

struct alt {
	uint64_t instr;		/* link-time address of the site */
	uint64_t repl;		/* link-time address of the replacement */
	unsigned int feature;
	bool not;		/* patch if the feature is absent */
	bool direct_call;	/* 6.12 ALT_FLAG_DIRECT_CALL */
	unsigned int instrlen, repllen;
	size_t index;		/* position in the table */
};

struct image {
	const uint8_t *data;
	size_t size;
	const Elf64_Shdr *shdr;
	unsigned int shnum;
	const char *shstr;
};

static const char *prog = "kaiser-sitegen";

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- ELF access ------------------------------------------------------ */

static void image_load(struct image *im, const char *path)
{
	const Elf64_Ehdr *eh;
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long sz;

	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END))
		die("cannot seek %s", path);
	sz = ftell(f);
	if (sz < 0 || fseek(f, 0, SEEK_SET))
		die("cannot size %s", path);
	buf = malloc(sz);
	if (!buf || fread(buf, 1, sz, f) != (size_t)sz)
		die("cannot read %s", path);
	fclose(f);

	eh = (const Elf64_Ehdr *)buf;
	if ((size_t)sz < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		die("%s is not an x86-64 ELF image", path);
	if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > (uint64_t)sz ||
	    eh->e_shstrndx >= eh->e_shnum)
		die("%s: bad section header table", path);

	im->data = buf;
	im->size = sz;
	im->shdr = (const Elf64_Shdr *)(buf + eh->e_shoff);
	im->shnum = eh->e_shnum;
	im->shstr = (const char *)buf + im->shdr[eh->e_shstrndx].sh_offset;
}

static const Elf64_Shdr *section(const struct image *im, const char *name)
{
	for (unsigned int i = 0; i < im->shnum; i++)
		if (!strcmp(im->shstr + im->shdr[i].sh_name, name))
			return &im->shdr[i];
	return NULL;
}

static bool in_section(const Elf64_Shdr *s, uint64_t addr, uint64_t len)
{
	return s && addr >= s->sh_addr && addr + len <= s->sh_addr + s->sh_size;
}

/* Bytes at a link-time address, from whichever allocated section has them. */
static const uint8_t *at(const struct image *im, uint64_t addr, uint64_t len)
{
	for (unsigned int i = 0; i < im->shnum; i++) {
		const Elf64_Shdr *s = &im->shdr[i];

		if (s->sh_type == SHT_PROGBITS && (s->sh_flags & SHF_ALLOC) &&
		    in_section(s, addr, len) &&
		    s->sh_offset + s->sh_size <= im->size)
			return im->data + s->sh_offset + (addr - s->sh_addr);
	}
	return NULL;
}

/* ---- the alternatives table ------------------------------------------ */

static int32_t rd32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * Parse the table with one entry layout. Returns the number of entries, or
 * -1 if the layout does not fit (an entry pointing outside code, a length
 * or feature out of range): exactly one layout must fit.
 */
static long parse_alts(const struct image *im, enum engine eng, struct alt **out)
{
	const Elf64_Shdr *ai = section(im, ".altinstructions");
	const Elf64_Shdr *ar = section(im, ".altinstr_replacement");
	size_t esz = eng == ENGINE_6_1 ? 12 : 14;
	size_t n = ai->sh_size / esz;
	struct alt *alts;

	if (ai->sh_size % esz)
		return -1;
	alts = calloc(n ? n : 1, sizeof(*alts));
	if (!alts)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = im->data + ai->sh_offset + i * esz;
		uint64_t ea = ai->sh_addr + i * esz;
		struct alt *a = &alts[i];
		uint32_t ft;

		a->index = i;
		a->instr = ea + rd32(e);
		a->repl = ea + 4 + rd32(e + 4);
		if (eng == ENGINE_6_1) {
			ft = (uint16_t)(e[8] | e[9] << 8);
			a->feature = ft & ~(1u << 15);
			a->not = ft & (1u << 15);
			a->instrlen = e[10];
			a->repllen = e[11];
		} else {
			memcpy(&ft, e + 8, 4);
			a->feature = ft & 0xffff;
			a->not = (ft >> 16) & 1;
			a->direct_call = (ft >> 16) & 2;
			a->instrlen = e[12];
			a->repllen = e[13];
		}
		if (a->feature >= FEATURE_LIMIT || !a->instrlen ||
		    a->repllen > a->instrlen + 16 ||
		    !at(im, a->instr, a->instrlen) ||
		    (a->repllen && !in_section(ar, a->repl, a->repllen))) {
			free(alts);
			return -1;
		}
	}
	*out = alts;
	return n;
}

/* ---- a decoder for the few instruction forms found at the sites ------ */

struct insn {
	unsigned int len;
	uint8_t op;		/* 0x90 nop, 0x1f nopl, 0xeb/0xe9/0xe8, 0xcc */
	int32_t imm;		/* branch displacement */
	unsigned int imm_off, imm_len;
	bool nop;
};

static bool decode(const uint8_t *p, unsigned int avail, struct insn *in)
{
	unsigned int i = 0, mod, rm, len;

	memset(in, 0, sizeof(*in));
	while (i < avail && (p[i] == 0x66 || p[i] == 0x2e || p[i] == 0x3e))
		i++;			/* operand-size and segment prefixes */
	if (i >= avail)
		return false;
	switch (p[i]) {
	case 0x90:
		len = i + 1;
		in->op = 0x90;
		in->nop = true;
		break;
	case 0xcc:
		if (i)
			return false;
		len = 1;
		in->op = 0xcc;
		break;
	case 0xeb:
		if (i)
			return false;
		len = 2;
		in->op = 0xeb;
		in->imm_off = 1;
		in->imm_len = 1;
		if (avail >= 2)
			in->imm = (int8_t)p[1];
		break;
	case 0xe8:
	case 0xe9:
		if (i)
			return false;
		len = 5;
		in->op = p[0];
		in->imm_off = 1;
		in->imm_len = 4;
		if (avail >= 5)
			in->imm = rd32(p + 1);
		break;
	case 0x0f:
		/* nopl with a ModRM that is not RIP-relative */
		if (i + 2 >= avail || p[i + 1] != 0x1f || (p[i + 2] & 0x38))
			return false;
		mod = p[i + 2] >> 6;
		rm = p[i + 2] & 7;
		if (mod == 3 || (mod == 0 && rm == 5))
			return false;
		len = i + 3 + (rm == 4) + (mod == 1 ? 1 : mod == 2 ? 4 : 0);
		in->op = 0x1f;
		in->nop = true;
		break;
	default:
		return false;
	}
	if (len > avail)
		return false;
	in->len = len;
	return true;
}

/* ---- the two engines ----------------------------------------------- */

static const uint8_t nops[12][11] = {
	{ 0 },
	{ 0x90 },
	{ 0x66, 0x90 },
	{ 0x0f, 0x1f, 0x00 },
	{ 0x0f, 0x1f, 0x40, 0x00 },
	{ 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	{ 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	{ 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	{ 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	{ 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	{ 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

/* 6.1 add_nops(): longest NOPs first, ASM_NOP_MAX 8 */
static void add_nops_61(uint8_t *p, unsigned int len)
{
	while (len) {
		unsigned int n = len > 8 ? 8 : len;

		memcpy(p, nops[n], n);
		p += n;
		len -= n;
	}
}

/* 6.1 optimize_nops(): merge runs of single-byte 0x90 into long NOPs */
static void optimize_nops_61(uint8_t *p, unsigned int len)
{
	unsigned int i = 0, j;
	struct insn in;

	while (i < len) {
		if (!decode(p + i, len - i, &in))
			die("6.1 engine: unknown instruction at site offset %u", i);
		if (in.len == 1 && in.op == 0x90) {
			for (j = i; j < len && p[j] == 0x90; j++)
				;
			if (j - i > 1)
				add_nops_61(p + i, j - i);
			i = j;
		} else {
			i += in.len;
		}
	}
}

/* 6.1 recompute_jump(): re-target a 5-byte JMP, shrinking it if it fits */
static void recompute_jump_61(const struct alt *a, uint8_t *buf)
{
	int64_t tgt = (int64_t)a->repl + 5 + rd32(buf + 1);
	int64_t d = tgt - (int64_t)a->instr;
	int32_t d32;

	if (a->repllen != 5)
		return;
	if ((d >= 0 && d - 2 <= 127) || (d < 0 && (((d - 2) & 0xff) == d - 2))) {
		buf[0] = 0xeb;
		buf[1] = (int8_t)(d - 2);
		add_nops_61(buf + 2, 3);
		return;
	}
	d32 = (int32_t)(d - 5);
	buf[0] = 0xe9;
	memcpy(buf + 1, &d32, 4);
}

static void apply_61(const struct image *im, const struct alt *a, bool present,
		     uint8_t *site)
{
	uint8_t buf[SITE_MAX];
	unsigned int n;

	if (present == a->not) {
		optimize_nops_61(site, a->instrlen);
		return;
	}
	memcpy(buf, at(im, a->repl, a->repllen), a->repllen);
	n = a->repllen;
	if (n == 5 && buf[0] == 0xe8) {
		int32_t d = rd32(buf + 1) + (int32_t)(a->repl - a->instr);

		memcpy(buf + 1, &d, 4);
	}
	if (n && (buf[0] == 0xeb || buf[0] == 0xe9))
		recompute_jump_61(a, buf);
	for (; n < a->instrlen; n++)
		buf[n] = 0x90;
	memcpy(site, buf, n);
	optimize_nops_61(site, a->instrlen);
}

/* 6.12 add_nop(): one NOP up to ASM_NOP_MAX 11, else a jump over int3s */
static void add_nop_612(uint8_t *p, unsigned int len)
{
	if (!len)
		return;
	if (len <= 11) {
		memcpy(p, nops[len], len);
		return;
	}
	if (len >= 128)
		die("6.12 engine: NOP run of %u bytes", len);
	p[0] = 0xeb;
	p[1] = len - 2;
	memset(p + 2, 0xcc, len - 2);
}

/* 6.12 optimize_nops(): every run of NOPs becomes one NOP */
static void optimize_nops_612(uint8_t *p, unsigned int len)
{
	unsigned int i, next, start;
	struct insn in;

	for (i = 0; i < len; i = next) {
		if (!decode(p + i, len - i, &in))
			die("6.12 engine: unknown instruction at site offset %u", i);
		next = i + in.len;
		if (!in.nop)
			continue;
		if (next == len)
			return;		/* already one NOP to the end */
		start = i;
		while (next < len && decode(p + next, len - next, &in) && in.nop)
			next += in.len;
		add_nop_612(p + start, next - start);
	}
}

/* 6.12 __apply_relocation(): re-target branches leaving the replacement */
static void relocate_612(const struct alt *a, uint8_t *buf, unsigned int len)
{
	int64_t delta = (int64_t)a->repl - (int64_t)a->instr;
	unsigned int i, next;
	struct insn in;

	for (i = 0; i < len; i = next) {
		if (!decode(buf + i, len - i, &in))
			die("6.12 engine: unknown instruction in replacement");
		next = i + in.len;
		if (in.op != 0xeb && in.op != 0xe9 && in.op != 0xe8)
			continue;
		/* need_reloc(): the target lies outside the replacement */
		if ((int64_t)next + in.imm < 0 ||
		    (int64_t)next + in.imm > (int64_t)a->repllen) {
			int64_t v = in.imm + delta;

			if (in.imm_len == 1 ? v != (int8_t)v : v != (int32_t)v)
				die("6.12 engine: relocation out of range");
			if (in.imm_len == 1)
				buf[i + 1] = (int8_t)v;
			else
				memcpy(buf + i + 1, &(int32_t){ (int32_t)v }, 4);
		}
		if (in.op == 0xe9) {
			int64_t imm = (int64_t)in.imm + delta + 3;

			if (imm == (int8_t)imm) {
				buf[i] = 0xeb;
				buf[i + 1] = (int8_t)imm;
				memset(buf + i + 2, 0xcc, in.len - 2);
			}
		}
	}
}

static void apply_612(const struct image *im, const struct alt *a, bool present,
		      uint8_t *site)
{
	uint8_t buf[SITE_MAX];
	unsigned int n;

	if (present == a->not) {
		optimize_nops_612(site, a->instrlen);
		return;
	}
	if (a->direct_call)
		die("6.12 engine: direct-call alternative at a PTI site");
	memcpy(buf, at(im, a->repl, a->repllen), a->repllen);
	for (n = a->repllen; n < a->instrlen; n++)
		buf[n] = 0x90;
	relocate_612(a, buf, a->instrlen);
	optimize_nops_612(buf, a->instrlen);
	memcpy(site, buf, a->instrlen);
}

/* ---- sites ------------------------------------------------------- */

struct site {
	uint64_t addr;
	unsigned int len;
	uint8_t off[SITE_MAX], on[SITE_MAX];
	bool entry_shape;	/* a lone PTI alternative, as in entry code */
};

/* Run the alternatives of one site as boot would, with @feature set or clear. */
static void emulate(const struct image *im, enum engine eng,
		    const struct alt *grp, unsigned int ngrp, unsigned int len,
		    unsigned int feature, bool set, uint8_t *out)
{
	memcpy(out, at(im, grp[0].instr, len), len);
	for (unsigned int k = 0; k < ngrp; k++) {
		struct alt a = grp[k];
		bool present = a.feature == FEATURE_ALWAYS ||
			       (a.feature == feature && set);

		a.instrlen = len;
		if (eng == ENGINE_6_1)
			apply_61(im, &a, present, out);
		else
			apply_612(im, &a, present, out);
	}
}

/*
 * Gather the alternatives at one site of @feature. They must be consecutive
 * in the table (6.12 only merges padding over consecutive entries), use no
 * other feature than ALWAYS and @feature (else the bytes would depend on
 * the CPU), and no other alternative may overlap the site.
 */
static unsigned int group(const struct alt *alts, long n, long i,
			  unsigned int feature, struct alt *grp, unsigned int *len)
{
	long first = i, last = i;
	unsigned int ng = 0;

	while (first > 0 && alts[first - 1].instr == alts[i].instr)
		first--;
	while (last + 1 < n && alts[last + 1].instr == alts[i].instr)
		last++;
	*len = 0;
	for (long k = first; k <= last; k++) {
		if (alts[k].feature != FEATURE_ALWAYS &&
		    alts[k].feature != feature)
			die("site %#llx: feature %u*32+%u shares a site",
			    (unsigned long long)alts[k].instr,
			    alts[k].feature / 32, alts[k].feature % 32);
		if (ng == MAX_ALTS)
			die("site %#llx: too many alternatives",
			    (unsigned long long)alts[k].instr);
		grp[ng++] = alts[k];
		if (alts[k].instrlen > *len)
			*len = alts[k].instrlen;
	}
	if (*len > SITE_MAX)
		die("site %#llx: %u bytes long", (unsigned long long)alts[i].instr, *len);
	for (long k = 0; k < n; k++) {
		if (k >= first && k <= last)
			continue;
		if (alts[k].instr < alts[i].instr + *len &&
		    alts[k].instr + alts[k].instrlen > alts[i].instr)
			die("site %#llx overlaps another alternative",
			    (unsigned long long)alts[i].instr);
	}
	return ng;
}

/* Fill @s from its alternatives: the bytes with @feature clear, and set. */
static void fill_site(const struct image *im, enum engine eng,
		      const struct alt *grp, unsigned int ng, unsigned int len,
		      unsigned int feature, struct site *s)
{
	s->addr = grp[0].instr;
	s->len = len;
	s->entry_shape = ng == 1;
	emulate(im, eng, grp, ng, len, feature, false, s->off);
	emulate(im, eng, grp, ng, len, feature, true, s->on);
	if (!memcmp(s->off, s->on, len))
		die("site %#llx: feature %u*32+%u would change nothing",
		    (unsigned long long)s->addr, feature / 32, feature % 32);
}

/* Room for a site per alternative, at most. */
static struct site *site_array(long n)
{
	struct site *sites = calloc(n ? n : 1, sizeof(*sites));

	if (!sites)
		die("out of memory");
	return sites;
}

/*
 * Is alts[i] a PTI site's entry that still exists after boot? Boot-only
 * code (.init.text) is gone by the time the module loads.
 */
static bool pti_site(const struct image *im, const struct alt *alts,
		     long n, long i)
{
	(void)n;
	return alts[i].feature == FEATURE_PTI &&
	       in_section(section(im, ".text"), alts[i].instr, alts[i].instrlen);
}

/*
 * The PCID branch of each switch back to a user CR3: right after the exit's
 * PTI site, `ALTERNATIVE "jmp .Lwrcr3", "", X86_FEATURE_PCID` (calling.h).
 * Boot leaves the jump without PCID and a 2-byte NOP with it. Put back,
 * the jump skips the user-ASID and NOFLUSH handling: the exit then loads
 * the user table under the kernel's own ASID and flushes it. Recognised
 * here by shape: a lone 2-byte short jump that PCID replaces by nothing
 * (not one of a static_cpu_has() pair, which share an address).
 * The module uses only those it finds inside .entry.text in an exit
 * function, by name, as it does for the PTI sites.
 */
static bool pcid_site(const struct image *im, const struct alt *alts,
		      long n, long i)
{
	const uint8_t *b = at(im, alts[i].instr, 2);

	return alts[i].feature == FEATURE_PCID && alts[i].instrlen == 2 &&
	       !alts[i].repllen && b && b[0] == 0xeb &&
	       in_section(section(im, ".text"), alts[i].instr, 2) &&
	       !(i > 0 && alts[i - 1].instr == alts[i].instr) &&
	       !(i + 1 < n && alts[i + 1].instr == alts[i].instr);
}

/*
 * The sites of @feature whose first entry @is_site accepts, each with
 * every alternative at its address (group()); a PCID site must be one
 * 2-byte alternative.
 */
static size_t find_sites(const struct image *im, enum engine eng,
			 const struct alt *alts, long n, unsigned int feature,
			 bool (*is_site)(const struct image *im,
					 const struct alt *alts, long n, long i),
			 struct site **out)
{
	struct site *sites = site_array(n);
	struct alt grp[MAX_ALTS];
	size_t ns = 0;

	for (long i = 0; i < n; i++) {
		unsigned int ng, len;

		if (!is_site(im, alts, n, i))
			continue;
		if (ns && sites[ns - 1].addr == alts[i].instr)
			continue;	/* a second entry of one site */
		ng = group(alts, n, i, feature, grp, &len);
		if (feature == FEATURE_PCID && (ng != 1 || len != 2))
			continue;
		fill_site(im, eng, grp, ng, len, feature, &sites[ns++]);
	}
	*out = sites;
	return ns;
}

/* ---- output ------------------------------------------------------ */

/*
 * The "Linux version <release> (...) #<n> ..." banner, to tie the table to
 * the image. Images since 6.1 hold two: a placeholder without the build
 * number (init/version.c) and the one the running kernel shows, linked in
 * last with "#<n>" (init/version-timestamp.c). Take the one with a number.
 */
static const char *banner(const struct image *im, size_t *len)
{
	const Elf64_Shdr *ro = section(im, ".rodata");
	static const char key[] = "Linux version ";
	const char *p, *end, *found = NULL, *hash;

	if (!ro)
		die("image has no .rodata");
	p = (const char *)im->data + ro->sh_offset;
	end = p + ro->sh_size;
	for (; p + sizeof(key) < end; p++) {
		if (memcmp(p, key, sizeof(key) - 1) ||
		    p[sizeof(key) - 1] < '0' || p[sizeof(key) - 1] > '9')
			continue;
		hash = memchr(p, '#', strnlen(p, end - p));
		if (!found || (hash && hash[1] >= '0' && hash[1] <= '9'))
			found = p;
	}
	if (!found)
		die("the image holds no kernel version string");
	*len = strnlen(found, end - found);
	while (*len && found[*len - 1] == '\n')
		(*len)--;
	return found;
}

static void put_bytes(FILE *f, const uint8_t *b, unsigned int len)
{
	fputs("{ ", f);
	for (unsigned int i = 0; i < len; i++)
		fprintf(f, "0x%02x%s", b[i], i + 1 < len ? ", " : " ");
	fputs("}", f);
}

static void put_site(FILE *f, const struct image *im, const struct site *s)
{
	const Elf64_Shdr *text = section(im, ".text");

	fprintf(f, "\t{ .offset = 0x%llx, .len = %u, .entry_shape = %s,\n\t  .off = ",
		(unsigned long long)(s->addr - text->sh_addr), s->len,
		s->entry_shape ? "true" : "false");
	put_bytes(f, s->off, s->len);
	fputs(",\n\t  .on = ", f);
	put_bytes(f, s->on, s->len);
	fputs(" },\n", f);
}

static void write_header(FILE *f, const struct image *im, enum engine eng,
			 const struct site *sites, size_t ns,
			 const struct site *pcid, size_t np)
{
	size_t blen;
	const char *b = banner(im, &blen);

	fprintf(f, "/* Generated by kaiser-sitegen from the kernel image; do not edit. */\n");
	fprintf(f, "#define KAISER_SITES_ENGINE \"%s\"\n",
		eng == ENGINE_6_1 ? "6.1" : "6.12");
	fprintf(f, "#define KAISER_SITES_BANNER \"");
	for (size_t i = 0; i < blen; i++)
		fprintf(f, (b[i] == '"' || b[i] == '\\') ? "\\%c" :
			   (b[i] < 32 || b[i] > 126) ? "?" : "%c", b[i]);
	fprintf(f, "\"\n");
	fprintf(f, "#define KAISER_SITES_COUNT %zu\n\n", ns);
	fprintf(f, "static const struct kaiser_site_desc kaiser_site_table[] = {\n");
	for (size_t i = 0; i < ns; i++)
		put_site(f, im, &sites[i]);
	fprintf(f, "};\n\n");
	/* .off: boot without PCID (the jump), .on: with PCID (a NOP) */
	fprintf(f, "#define KAISER_PCID_SITES_COUNT %zu\n\n", np);
	fprintf(f, "static const struct kaiser_site_desc kaiser_pcid_site_table[] = {\n");
	for (size_t i = 0; i < np; i++)
		put_site(f, im, &pcid[i]);
	fprintf(f, "};\n");
}

int main(int argc, char **argv)
{
	struct image im;
	struct alt *alts61 = NULL, *alts612 = NULL, *alts;
	struct site *sites, *pcid;
	long n61, n612, n, corrupt = -1;
	enum engine eng;
	size_t ns, np;
	FILE *f;

	if (argc == 5 && !strcmp(argv[1], "--test-corrupt-site")) {
		corrupt = strtol(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc != 3)
		die("usage: kaiser-sitegen [--test-corrupt-site N] VMLINUX OUT.h");
	image_load(&im, argv[1]);
	if (!section(&im, ".text") || !section(&im, ".altinstructions") ||
	    !section(&im, ".altinstr_replacement"))
		die("%s lacks .text or the alternatives sections", argv[1]);

	n61 = parse_alts(&im, ENGINE_6_1, &alts61);
	n612 = parse_alts(&im, ENGINE_6_12, &alts612);
	if ((n61 < 0) == (n612 < 0))
		die("cannot tell the alternatives layout (12-byte fits: %s, 14-byte fits: %s)",
		    n61 < 0 ? "no" : "yes", n612 < 0 ? "no" : "yes");
	eng = n61 >= 0 ? ENGINE_6_1 : ENGINE_6_12;
	alts = eng == ENGINE_6_1 ? alts61 : alts612;
	n = eng == ENGINE_6_1 ? n61 : n612;

	ns = find_sites(&im, eng, alts, n, FEATURE_PTI, pti_site, &sites);
	if (!ns)
		die("no X86_FEATURE_PTI sites: kernel built without PAGE_TABLE_ISOLATION?");
	if (corrupt >= 0) {
		if ((size_t)corrupt >= ns)
			die("--test-corrupt-site %ld: only %zu sites", corrupt, ns);
		sites[corrupt].off[sites[corrupt].len - 1] ^= 0xff;
	}

	f = fopen(argv[2], "w");
	if (!f)
		die("cannot write %s: %s", argv[2], strerror(errno));
	np = find_sites(&im, eng, alts, n, FEATURE_PCID, pcid_site, &pcid);
	write_header(f, &im, eng, sites, ns, pcid, np);
	if (fclose(f))
		die("cannot write %s", argv[2]);
	return 0;
}
