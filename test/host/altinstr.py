#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""altinstr.py - independent reader of a vmlinux's X86_FEATURE_PTI sites.

This is the second, independent reader of the PTI alternative sites that
the kaiser module patches (the first is the module's build-time generator,
deliberately not consulted here).  It is written from the kernel sources
(arch/x86/kernel/alternative.c, arch/x86/include/asm/alternative.h,
arch/x86/include/asm/nops.h, arch/x86/include/asm/cpufeatures.h of Debian's
linux-source-6.1 6.1.192-2 and linux-source-6.12 6.12.117-1~deb12u1; for
7.2 and 7.3 also arch/x86/lib/insn-eval.c and arch/x86/kernel/callthunks.c
of linux-source-7.2 7.2.13-1 and linux-source-7.3 7.3.4-1~bpo13+1, see
"Engine for Linux 7.2 and 7.3" below).

For every X86_FEATURE_PTI alternative whose site lies in .text it prints
the site's kind, offset from _text (= start of .text), length and two byte
strings obtained by emulating that kernel's own apply_alternatives():

  off  the bytes boot leaves with X86_FEATURE_PTI clear (ALWAYS set),
  on   the bytes the same engine writes had X86_FEATURE_PTI been set.

Usage:
  altinstr.py list VMLINUX [--json] [--all]
  altinstr.py compare VMLINUX REPORT [--entry-range LO HI] [--syms KALLSYMS]
  altinstr.py report VMLINUX            (a module-style report, symbol "-")

Anything the reader does not understand is an error (exit status 2), never
a guess.  Python 3 standard library only.
"""

import json
import re
import struct
import sys

# ---------------------------------------------------------------------------
# Constants transcribed from the kernel sources (identical in 6.1, 6.12,
# 7.2 and 7.3)

NCAPINTS = 22                   # cpufeatures.h
NBUGINTS = 2
X86_FEATURE_ALWAYS = 3 * 32 + 21
X86_FEATURE_PTI = 7 * 32 + 11
MAX_PATCH_LEN = 255 - 1         # alternative.c

# nops.h, CONFIG_64BIT branch (the same bytes in 6.1, 6.12, 7.2 and 7.3)
_NOPS64 = {
    1: b"\x90",
    2: b"\x66\x90",
    3: b"\x0f\x1f\x00",
    4: b"\x0f\x1f\x40\x00",
    5: b"\x0f\x1f\x44\x00\x00",
    6: b"\x66\x0f\x1f\x44\x00\x00",
    7: b"\x0f\x1f\x80\x00\x00\x00\x00",
    8: b"\x0f\x1f\x84\x00\x00\x00\x00\x00",
    9: b"\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
    10: b"\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
    11: b"\x66\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
}

JMP8, JMP32, INT3, CALL = 0xEB, 0xE9, 0xCC, 0xE8


class AltError(Exception):
    """Something this reader does not understand: report, never guess."""


def s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s8(v):
    v &= 0xFF
    return v - 0x100 if v & 0x80 else v


# ---------------------------------------------------------------------------
# ELF64 (little endian, x86-64) - section headers only

SHF_EXECINSTR = 0x4
SHT_NOBITS = 8


class Section:
    def __init__(self, name, stype, flags, addr, off, size, entsize=0):
        self.name, self.type, self.flags = name, stype, flags
        self.addr, self.off, self.size = addr, off, size
        self.entsize = entsize

    def contains(self, va, n=1):
        return self.addr <= va and va + n <= self.addr + self.size


class Image:
    def __init__(self, path=None, data=None):
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        self.data = d = bytes(data)
        path = path or "<image>"
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise AltError("%s: not a little-endian ELF64 file" % path)
        (e_machine,) = struct.unpack_from("<H", d, 18)
        if e_machine != 62:
            raise AltError("%s: not an x86-64 ELF (e_machine %d)" % (path, e_machine))
        e_shoff, = struct.unpack_from("<Q", d, 0x28)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        if e_shoff == 0 or e_shnum == 0:
            raise AltError("%s: no section headers" % path)
        raw = []
        for i in range(e_shnum):
            o = e_shoff + i * e_shentsize
            name, stype, flags, addr, off, size = struct.unpack_from("<IIQQQQ", d, o)
            (entsize,) = struct.unpack_from("<Q", d, o + 0x38)
            raw.append((name, stype, flags, addr, off, size, entsize))
        strtab = raw[e_shstrndx]
        self.sections = []
        for name, stype, flags, addr, off, size, entsize in raw:
            s = strtab[4] + name
            nm = d[s:d.index(b"\0", s)].decode()
            self.sections.append(Section(nm, stype, flags, addr, off, size, entsize))
        self.overlay = {}       # va -> byte written by the emulated boot

    def section(self, name):
        found = [s for s in self.sections if s.name == name]
        if len(found) != 1:
            raise AltError("section %s: found %d times" % (name, len(found)))
        return found[0]

    def has_section(self, name):
        return any(s.name == name for s in self.sections)

    def section_at(self, va, n=1):
        for s in self.sections:
            if s.addr and s.type != SHT_NOBITS and s.contains(va, n):
                return s
        return None

    def read(self, va, n):
        s = self.section_at(va, n) if n else self.section_at(va, 0)
        if s is None:
            raise AltError("address %#x+%d is in no loaded section" % (va, n))
        o = s.off + (va - s.addr)
        b = bytearray(self.data[o:o + n])
        for i in range(n):
            if va + i in self.overlay:
                b[i] = self.overlay[va + i]
        return b

    def write(self, va, buf):
        for i, c in enumerate(buf):
            self.overlay[va + i] = c

    def section_bytes(self, name):
        s = self.section(name)
        return s, self.data[s.off:s.off + s.size]

    def banner(self):
        m = re.search(rb"Linux version (\d+)\.(\d+)[^\0\n]*", self.data)
        if not m:
            raise AltError("no 'Linux version' banner in the image")
        return int(m.group(1)), int(m.group(2)), m.group(0).decode(errors="replace")


# ---------------------------------------------------------------------------
# A length decoder for the few forms that occur at these sites.  Everything
# else is an error.  The kernel's insn decoder reads past the end of the
# site if needed; here an instruction must end inside the buffer.

class Insn:
    __slots__ = ("length", "opcode", "imm", "imm_off", "imm_n", "prefixes", "modrm_reg")


def decode(buf, i, limit):
    p = i
    prefixes = []
    while p < limit and buf[p] in (0x66, 0x2E, 0x3E) and len(prefixes) < 4:
        prefixes.append(buf[p])
        p += 1
    if p >= limit:
        raise AltError("undecodable bytes at +%d: %s" % (i, bytes(buf[i:limit]).hex()))
    op = buf[p]
    ins = Insn()
    ins.prefixes = prefixes
    ins.imm = None
    ins.imm_off = ins.imm_n = 0
    ins.modrm_reg = None
    if op == 0x90:
        ins.opcode, n = (0x90,), p + 1 - i
    elif op == INT3 and not prefixes:
        ins.opcode, n = (INT3,), 1
    elif op == JMP8 and not prefixes:
        if i + 2 > limit:
            raise AltError("jmp rel8 at +%d runs past the site" % i)
        ins.opcode, n = (JMP8,), 2
        ins.imm, ins.imm_off, ins.imm_n = s8(buf[i + 1]), 1, 1
    elif op == JMP32 and not prefixes:
        if i + 5 > limit:
            raise AltError("jmp rel32 at +%d runs past the site" % i)
        ins.opcode, n = (JMP32,), 5
        ins.imm = struct.unpack_from("<i", bytes(buf[i + 1:i + 5]))[0]
        ins.imm_off, ins.imm_n = 1, 4
    elif op == 0x0F and p + 1 < limit and buf[p + 1] == 0x1F:
        # NOPL r/m: 0f 1f /r with ModRM (+SIB) (+disp); no immediate.
        q = p + 2
        if q >= limit:
            raise AltError("truncated NOPL at +%d" % i)
        modrm = buf[q]
        q += 1
        mod, rm = modrm >> 6, modrm & 7
        ins.modrm_reg = (modrm >> 3) & 7
        if mod != 3:
            if rm == 4:
                if q >= limit:
                    raise AltError("truncated NOPL SIB at +%d" % i)
                sib = buf[q]
                q += 1
                if mod == 0 and (sib & 7) == 5:
                    q += 4
            elif mod == 0 and rm == 5:
                raise AltError("RIP-relative NOPL at +%d (not handled)" % i)
            q += {0: 0, 1: 1, 2: 4}[mod]
        ins.opcode, n = (0x0F, 0x1F), q - i
    else:
        raise AltError("instruction form not handled at +%d: %s"
                       % (i, bytes(buf[i:limit]).hex()))
    if i + n > limit:
        raise AltError("instruction at +%d runs past the site" % i)
    ins.length = n
    return ins


# ---------------------------------------------------------------------------
# The alternatives table

class Alt:
    __slots__ = ("index", "instr", "repl", "cpuid", "flags", "instrlen", "rlen")

    def describe(self):
        return "alt#%d instr=%#x repl=%#x feat=%d*32+%d flags=%#x len=%d rlen=%d" % (
            self.index, self.instr, self.repl, self.cpuid >> 5, self.cpuid & 31,
            self.flags, self.instrlen, self.rlen)


def parse_table(img, entsize):
    """Parse .altinstructions with a given layout.  Returns (alts, None) or
    (None, reason) when the layout does not fit the data."""
    sec, raw = img.section_bytes(".altinstructions")
    rsec = img.section(".altinstr_replacement")
    if sec.size == 0 or sec.size % entsize:
        return None, "size %d is not a multiple of %d" % (sec.size, entsize)
    alts = []
    for k in range(sec.size // entsize):
        o = k * entsize
        base = sec.addr + o
        a = Alt()
        a.index = k
        io, ro = struct.unpack_from("<ii", raw, o)
        if entsize == 12:                       # 6.1: u16 cpuid (bit 15 = INV)
            cpuid, a.instrlen, a.rlen = struct.unpack_from("<HBB", raw, o + 8)
            a.flags = 1 if cpuid & 0x8000 else 0   # normalised: 1 = NOT
            a.cpuid = cpuid & 0x7FFF
        elif entsize == 14:                     # 6.12: u32 ft_flags
            ft, a.instrlen, a.rlen = struct.unpack_from("<IBB", raw, o + 8)
            a.cpuid, a.flags = ft & 0xFFFF, ft >> 16
            if a.flags & ~0x3:
                return None, "entry %d has unknown flags %#x" % (k, a.flags)
        else:
            raise AltError("no parser for %d-byte entries" % entsize)
        a.instr = (base + io) & 0xFFFFFFFFFFFFFFFF
        a.repl = (base + 4 + ro) & 0xFFFFFFFFFFFFFFFF
        if a.cpuid >= (NCAPINTS + NBUGINTS) * 32:
            return None, "entry %d: feature %d out of range" % (k, a.cpuid)
        s = img.section_at(a.instr, max(a.instrlen, 1))
        if s is None or not (s.flags & SHF_EXECINSTR):
            return None, "entry %d: instr %#x not in executable text" % (k, a.instr)
        if not (rsec.addr <= a.repl and a.repl + a.rlen <= rsec.addr + rsec.size):
            return None, "entry %d: replacement %#x+%d outside .altinstr_replacement" % (
                k, a.repl, a.rlen)
        alts.append(a)
    return alts, None


# ---------------------------------------------------------------------------
# Engine for Linux 6.1 (12-byte alt_instr)

def add_nops_61(n):
    out = b""
    while n > 0:
        k = min(n, 8)                           # ASM_NOP_MAX = 8
        out += _NOPS64[k]
        n -= k
    return out


def optimize_nops_61(buf, length):
    """optimize_nops() + optimize_nops_range() of 6.1, in place on buf."""
    i = 0
    while True:
        ins = decode(buf, i, length)
        if ins.length == 1 and ins.opcode[0] == 0x90:
            j = i
            while j < length and buf[j] == 0x90:
                j += 1
            nnops = j - i
            if nnops > 1:
                buf[i:i + nnops] = add_nops_61(nnops)
            i += nnops
        else:
            i += ins.length
        if i >= length:
            return


def recompute_jump_61(a, orig, repl, buf):
    if a.rlen != 5:
        return
    o_dspl = struct.unpack_from("<i", bytes(buf[1:5]))[0]
    next_rip = repl + a.rlen
    tgt_rip = next_rip + o_dspl
    n_dspl = s32(tgt_rip - orig)
    if tgt_rip - orig >= 0:
        two = n_dspl - 2 <= 127
    else:
        two = ((n_dspl - 2) & 0xFF) == (n_dspl - 2)
    if two:
        n_dspl = s32(n_dspl - 2)
        buf[0] = JMP8
        buf[1] = n_dspl & 0xFF
        buf[2:5] = add_nops_61(3)
    else:
        n_dspl = s32(n_dspl - 5)
        buf[0] = JMP32
        buf[1:5] = struct.pack("<i", n_dspl)


def apply_61(img, a, features):
    """One iteration of 6.1's apply_alternatives() for entry a."""
    instr = a.instr
    patch = (a.cpuid in features) != bool(a.flags & 1)
    if patch:
        if a.rlen > a.instrlen:
            raise AltError("%s: replacement longer than site" % a.describe())
        repl = img.read(a.repl, a.rlen)
        buf = bytearray(repl)
        if a.rlen == 5 and buf[0] == CALL:
            v = struct.unpack_from("<i", bytes(buf[1:5]))[0]
            buf[1:5] = struct.pack("<i", s32(v + (a.repl - instr)))
        if a.rlen and repl[0] in (JMP8, JMP32):
            recompute_jump_61(a, instr, a.repl, buf)
        buf += b"\x90" * (a.instrlen - len(buf))
        img.write(instr, buf)
    # next: optimize_nops(instr, a->instrlen) runs in both cases
    cur = img.read(instr, a.instrlen)
    optimize_nops_61(cur, a.instrlen)
    img.write(instr, cur)


# ---------------------------------------------------------------------------
# Engine for Linux 6.12 (14-byte alt_instr with ft_flags)

ALT_FLAG_NOT, ALT_FLAG_DIRECT_CALL = 1, 2


def add_nop_612(buf, at, n):
    if not n:
        return
    if n <= 11:                                 # ASM_NOP_MAX = 11
        buf[at:at + n] = _NOPS64[n]
        return
    if n < 128:
        buf[at] = JMP8
        buf[at + 1] = (n - 2) & 0xFF
        k = 2
    else:
        buf[at] = JMP32
        buf[at + 1:at + 5] = struct.pack("<i", n - 5)
        k = 5
    for j in range(at + k, at + n):
        buf[j] = INT3


def insn_is_nop_612(ins):
    if ins.opcode[0] == 0x90 and (not ins.prefixes or ins.prefixes[0] != 0xF3):
        return True
    return ins.opcode == (0x0F, 0x1F)


def skip_nops_612(buf, off, length, is_nop=insn_is_nop_612):
    while off < length:
        ins = decode(buf, off, length)
        if not is_nop(ins):
            break
        off += ins.length
    return off


def optimize_nops_612(buf, length, is_nop=insn_is_nop_612):
    """optimize_nops() of 6.12, 7.2 and 7.3: the same loop; what counts as
    a NOP is is_nop (insn_is_nop() changed in 7.2, see insn_is_nop_7x)."""
    i = 0
    while i < length:
        ins = decode(buf, i, length)
        nxt = i + ins.length
        if is_nop(ins):
            nop = i
            if i + ins.length == length:
                return
            nxt = skip_nops_612(buf, nxt, length, is_nop)
            add_nop_612(buf, nop, nxt - nop)
        i = nxt


def apply_relocation_612(buf, instr, instrlen, repl, rlen):
    """__apply_relocation() of 6.12 for the handled forms."""
    i = 0
    while i < instrlen:
        ins = decode(buf, i, instrlen)
        nxt = i + ins.length
        op = ins.opcode[0]
        if op in (JMP8, JMP32, CALL) or 0x70 <= op <= 0x7F:
            off = nxt + ins.imm
            if off < 0 or off > rlen:           # need_reloc()
                bits = 8 * ins.imm_n
                at = i + ins.imm_off
                v = int.from_bytes(bytes(buf[at:at + ins.imm_n]), "little", signed=True)
                v = s32(v + (repl - instr))
                if (v >> 31) != (v >> (bits - 1)):
                    raise AltError("relocation overflow (kernel BUG_ON) at +%d" % i)
                buf[at:at + ins.imm_n] = (v & ((1 << bits) - 1)).to_bytes(ins.imm_n, "little")
            if op == JMP32:
                imm = s32(ins.imm + (repl - instr) + 5 - 2)
                if (imm >> 31) == (imm >> 7):
                    buf[i] = JMP8
                    buf[i + 1] = imm & 0xFF
                    for j in range(i + 2, i + ins.length):
                        buf[j] = INT3
        i = nxt


def normalise_lengths_612(alts):
    """The nested-alternative max padding loop at the top of 6.12's
    apply_alternatives(), run over the whole table as the kernel does.
    7.2/7.3's analyze_patch_site() takes the same max over the same run of
    consecutive entries, so this serves both."""
    lens = [a.instrlen for a in alts]
    n = len(alts)
    for ai in range(n):
        b = ai + 1
        while b < n and alts[b].instr == alts[ai].instr:
            m = max(lens[ai], lens[b])
            lens[ai] = lens[b] = m
            b += 1
    return lens


def apply_612(img, a, length, features):
    instr = a.instr
    if length > MAX_PATCH_LEN:
        raise AltError("%s: instrlen > MAX_PATCH_LEN" % a.describe())
    patch = (a.cpuid in features) != bool(a.flags & ALT_FLAG_NOT)
    if not patch:
        buf = img.read(instr, length)
        optimize_nops_612(buf, length)
        img.write(instr, buf)
        return
    buf = replacement(img, a, instr, length)
    optimize_nops_612(buf, length)
    img.write(instr, buf)


def replacement(img, a, instr, length):
    """Entry a's replacement as it lands at the site (both engines):
    padded with NOPs to the site's length, its jumps relocated."""
    if a.flags & ALT_FLAG_DIRECT_CALL:
        raise AltError("%s: ALT_FLAG_DIRECT_CALL at a PTI site" % a.describe())
    if a.rlen > length:
        raise AltError("%s: replacement longer than site" % a.describe())
    buf = bytearray(img.read(a.repl, a.rlen))
    buf += b"\x90" * (length - len(buf))
    apply_relocation_612(buf, instr, length, a.repl, a.rlen)
    return buf


# ---------------------------------------------------------------------------
# Engine for Linux 7.2 and 7.3 (14-byte alt_instr, as 6.12)
#
# Compared with 6.12 step by step, in alternative.c, alternative.h, nops.h,
# cpufeatures.h, insn-eval.c and callthunks.c of linux-source-7.2 7.2.13-1
# and linux-source-7.3 7.3.4-1~bpo13+1 (whose alternative.c differ from each
# other only in the SMP lock-prefix patching, gone in 7.3, and in FineIBT
# and kCFI caller details; neither touches an alternative site).
#
# The same: struct alt_instr (14 bytes, ft_flags = cpuid | flags << 16,
# ALT_FLAG_NOT 1, ALT_FLAG_DIRECT_CALL 2); the nested ALTERNATIVE_2/_3 and
# ALTERNATIVE_TERNARY macros (consecutive entries at one address, the
# outer one's instrlen holding the padding); the feature numbers, NCAPINTS,
# NBUGINTS, MAX_PATCH_LEN; nops.h and ASM_NOP_MAX 11; add_nop(); the
# optimize_nops() and skip_nops() loops; __apply_relocation() with its
# JMP32 -> JMP8 + int3 shrinking.
#
# Different:
#  1. apply_alternatives() patches each site once (analyze_patch_site(),
#     prep_patch_site(), patch_site()): over the run of consecutive entries
#     at one address it takes the max instrlen and the *last* entry whose
#     feature test passes, copies that entry's replacement (or, if none
#     passes, the original bytes), pads with 0x90, relocates, runs
#     optimize_nops() once and writes.  6.12 patched entry after entry,
#     each over what the one before had written.  For the two shapes of PTI
#     site the bytes come out the same; apply_site_7x() follows 7.x anyway.
#  2. insn_is_nop() moved to arch/x86/lib/insn-eval.c and now also takes
#     JMP +0 for a NOP, and NOPL only with ModRM.reg 0 (insn_is_nop_7x).
#  3. alternative_instructions() runs callthunks_patch_builtin_calls()
#     before apply_alternatives(), and it rewrites calls in
#     .altinstr_replacement through .call_sites (6.12 patched the calls at
#     alt_instr sites afterwards).  Only with X86_FEATURE_CALL_DEPTH; a PTI
#     site holding a call is refused by decode(), and list_sites() refuses
#     any .call_sites entry inside a PTI site or its replacements.
#  4. .altinstructions is emitted "aM" with sh_entsize = ALT_INSTR_SIZE;
#     choose_layout() holds the parsed layout to it.
# Unchanged as far as these sites go: apply_retpolines()/apply_returns()
# (ITS thunks, the cfi_paranoid Jcc skip), FineIBT/kCFI (.cfi_sites, only
# with CONFIG_CFI) and apply_seal_endbr() patch only the addresses in their
# own tables, which foreign_patch_addrs() keeps out of PTI sites.


def insn_is_nop_7x(ins):
    """insn_is_nop() of 7.2/7.3 (arch/x86/lib/insn-eval.c) for the forms
    decode() returns.  Its MOV %reg,%reg and LEA 0(%reg),%reg NOPs are
    forms decode() refuses, and decode() takes no REX (so no REX.B 0x90,
    which is XCHG) and no REP prefix (PAUSE)."""
    op = ins.opcode[0]
    if op == 0x90:
        return 0xF3 not in ins.prefixes
    if op in (JMP8, JMP32):
        return ins.imm == 0                     # JMP +0
    return ins.opcode == (0x0F, 0x1F) and ins.modrm_reg == 0


def apply_site_7x(img, run, length, features):
    """analyze_patch_site() + prep_patch_site() + patch_site() of 7.2/7.3
    for one run of consecutive entries at one address (table order)."""
    instr = run[0].instr
    if length > MAX_PATCH_LEN:
        raise AltError("%s: site longer than MAX_PATCH_LEN" % run[0].describe())
    chosen = None
    for a in run:
        if (a.cpuid in features) != bool(a.flags & ALT_FLAG_NOT):
            chosen = a                          # the last one that passes wins
    if chosen is None:
        buf = img.read(instr, length)
    else:
        buf = replacement(img, chosen, instr, length)
    optimize_nops_612(buf, length, insn_is_nop_7x)
    img.write(instr, buf)


# ---------------------------------------------------------------------------
# Layout and engine choice

# kernel series -> (engine, alt_instr entry size).  Only series whose
# alternative.c was read or compared with the engine are here: any other is
# refused even if its table parses, because the engine can change under the
# same layout (as it did between 6.12 and 7.2).
ENGINES = {
    (6, 1): ("6.1", 12),
    (6, 12): ("6.12", 14),
    (7, 2): ("7.x", 14),                        # compared with 6.12, see above
    (7, 3): ("7.x", 14),
}
LAYOUTS = sorted({size for _, size in ENGINES.values()})


def choose_layout(img):
    major, minor, banner = img.banner()
    fits = {}
    why = {}
    for size in sorted(LAYOUTS):
        alts, reason = parse_table(img, size)
        if alts is not None:
            fits[size] = alts
        else:
            why[size] = reason
    if len(fits) != 1:
        raise AltError("cannot tell the alt_instr layout: %s fit%s (%s)" % (
            sorted(fits) or "none", "" if len(fits) == 1 else "",
            "; ".join("%d: %s" % kv for kv in why.items())))
    size, alts = next(iter(fits.items()))
    # 7.x images record the entry size (sh_entsize of the "aM" section);
    # older ones leave 0.  Where it is there it must agree.
    entsize = img.section(".altinstructions").entsize
    if entsize and entsize != size:
        raise AltError(".altinstructions parses as %d-byte entries but its sh_entsize "
                       "is %d" % (size, entsize))
    engine, esize = ENGINES.get((major, minor), (None, None))
    if esize != size:
        raise AltError("%d-byte alt_instr entries but kernel %d.%d: the engines were "
                       "transcribed for %s only; read this kernel's alternative.c "
                       "before trusting it" % (size, major, minor, ", ".join(
                           "%d.%d" % k for k in sorted(ENGINES) if ENGINES[k][1] == size)))
    return size, engine, alts, banner


# ---------------------------------------------------------------------------
# Site listing

FOREIGN_S32_TABLES = (".retpoline_sites", ".return_sites", ".call_sites",
                      ".ibt_endbr_seal", ".cfi_sites", ".smp_locks")


def foreign_patch_addrs(img):
    """Addresses other boot-time patchers touch (s32 self-relative tables,
    6.1's .parainstructions).  None may fall inside a PTI site."""
    out = {}
    for name in FOREIGN_S32_TABLES:
        if not img.has_section(name):
            continue
        sec, raw = img.section_bytes(name)
        for k in range(sec.size // 4):
            (v,) = struct.unpack_from("<i", raw, 4 * k)
            out.setdefault((sec.addr + 4 * k + v) & 0xFFFFFFFFFFFFFFFF, name)
    if img.has_section(".parainstructions"):
        sec, raw = img.section_bytes(".parainstructions")
        # struct paravirt_patch_site { u8 *instr; u8 type; u8 len; } (16 bytes)
        if sec.size % 16:
            raise AltError(".parainstructions size %d not a multiple of 16" % sec.size)
        for k in range(sec.size // 16):
            (va,) = struct.unpack_from("<Q", raw, 16 * k)
            out.setdefault(va, ".parainstructions")
    return out


def list_sites(image):
    """image: a path or an Image.  Returns the listing (a dict)."""
    img = image if isinstance(image, Image) else Image(image)
    size, engine, alts, banner = choose_layout(img)
    text = img.section(".text")
    merges = engine != "6.1"                    # 6.12 and 7.x pad a site to its run's max
    lens = normalise_lengths_612(alts) if merges else [a.instrlen for a in alts]

    by_addr = {}
    for a in alts:
        by_addr.setdefault(a.instr, []).append(a)
    pti_addrs = sorted({a.instr for a in alts if a.cpuid == X86_FEATURE_PTI})

    # Every alternative's byte range, to find overlaps with other entries.
    ranges = [(a.instr, a.instr + lens[a.index], a) for a in alts]
    foreign = foreign_patch_addrs(img)

    sites, excluded = [], []
    for addr in pti_addrs:
        group = by_addr[addr]
        sec = img.section_at(addr)
        secname = sec.name if sec else "?"
        feats = [a.cpuid for a in group]
        if feats == [X86_FEATURE_PTI]:
            kind = "entry"
        elif feats == [X86_FEATURE_ALWAYS, X86_FEATURE_PTI]:
            kind = "c"
        else:
            bad = [f for f in feats if f not in (X86_FEATURE_ALWAYS, X86_FEATURE_PTI)]
            why = ("other features share the site: %s" % ", ".join(
                "%d*32+%d" % (f >> 5, f & 31) for f in bad)) if bad else \
                "unknown shape %s" % feats
            raise AltError("PTI site %#x (%s): %s" % (addr, secname, why))
        # 6.12 and 7.x treat only consecutive entries at one address as one
        # site (7.x patches each such run once); entries of one address
        # elsewhere in the table would be patched apart.
        if merges and [a.index for a in group] != list(
                range(group[0].index, group[0].index + len(group))):
            raise AltError("PTI site %#x: its entries are not consecutive in the table (%s)" % (
                addr, " ".join("#%d" % a.index for a in group)))
        slens = {lens[a.index] for a in group}
        if len(slens) != 1:
            raise AltError("PTI site %#x: entries disagree on length %s" % (addr, sorted(slens)))
        length = slens.pop()
        if not sec or not sec.contains(addr, length):
            raise AltError("PTI site %#x+%d not inside one section" % (addr, length))
        if secname != ".text":
            excluded.append({"addr": addr, "section": secname, "kind": kind, "len": length})
            continue
        for lo, hi, b in ranges:
            if b.instr != addr and lo < addr + length and addr < hi:
                raise AltError("PTI site %#x+%d overlaps %s" % (addr, length, b.describe()))
        for va in range(addr, addr + length):
            if va in foreign:
                raise AltError("PTI site %#x+%d: %s patches %#x" % (addr, length, foreign[va], va))
        # The replacements are copied as the earlier passes left them (7.x's
        # call thunks rewrite calls in .altinstr_replacement before
        # apply_alternatives()), so none may be touched either.
        for a in group:
            for va in range(a.repl, a.repl + a.rlen):
                if va in foreign:
                    raise AltError("PTI site %#x: %s patches %#x in the replacement of %s" % (
                        addr, foreign[va], va, a.describe()))
        image_bytes = bytes(img.read(addr, length))
        res = {}
        for state, feats_set in (("off", {X86_FEATURE_ALWAYS}),
                                 ("on", {X86_FEATURE_ALWAYS, X86_FEATURE_PTI})):
            img.overlay = {}
            if engine == "7.x":
                apply_site_7x(img, group, length, feats_set)    # the site at once
            else:
                for a in group:                 # entry after entry, table order
                    if engine == "6.1":
                        apply_61(img, a, feats_set)
                    else:
                        apply_612(img, a, lens[a.index], feats_set)
            res[state] = bytes(img.read(addr, length))
            # Whatever the engine wrote must decode as handled forms.
            buf = bytearray(res[state])
            i = 0
            while i < length:
                i += decode(buf, i, length).length
        img.overlay = {}
        sites.append({
            "kind": kind,
            "addr": addr,
            "offset": addr - text.addr,
            "len": length,
            "image": image_bytes.hex(),
            "off": res["off"].hex(),
            "on": res["on"].hex(),
            "entries": [a.describe() for a in group],
        })
    return {
        "banner": banner,
        "engine": engine,
        "entsize": size,
        "nalts": len(alts),
        "text_start": text.addr,
        "text_size": text.size,
        "sites": sites,
        "excluded": excluded,
    }


# ---------------------------------------------------------------------------
# Module report parsing and comparison

REPORT_RE = re.compile(r"^(entry|c) (0x[0-9a-f]+) ([0-9]+) ([0-9a-f]*) ([0-9a-f]*) (\S+)( held)?$")
# "held": the module keeps the site on from load to unload (pgd_alloc()'s
# allocation order where PGDs are single pages), not only while isolating.
HELD_FUNC = "pgd_alloc"


def parse_report(text):
    """Parse the module's /sys/kernel/debug/kaiser/sites.  Returns
    (sites, problems)."""
    sites, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        m = REPORT_RE.match(line)
        if not m:
            problems.append("report line %d unparsable: %r" % (n, line))
            continue
        kind, off, ln, cur, on, sym, held = m.groups()
        sites.append({"kind": kind, "offset": int(off, 16), "len": int(ln),
                      "cur": cur, "on": on, "sym": sym, "held": bool(held), "line": n})
    return sites, problems


def off_bytes(m, t):
    """With isolation off a site holds the reader's off bytes, except a
    held site, which holds its on bytes for as long as the module is loaded."""
    want = m["on"] if t["held"] else m["off"]
    return None if t["cur"] == want else "live %s, reader expects %s%s" % (
        t["cur"], want, " (held)" if t["held"] else "")


def held_case(report_sites):
    """At most one site is held, and only in pgd_alloc()."""
    held = [r for r in report_sites if r["held"]]
    bad = ["%#x %s is held, only a %s site may be" % (r["offset"], r["sym"], HELD_FUNC)
           for r in held if not r["sym"].startswith(HELD_FUNC + "+")]
    if len(held) > 1:
        bad.append("%d sites held, at most one may be" % len(held))
    return ("held", not bad, "; ".join(bad) or ", ".join(
        "%#x %s held from load to unload" % (r["offset"], r["sym"]) for r in held) or "none")


def compare(listing, report_sites, entry_range=None, syms=None):
    """Compare the reader's listing with the module's report.  Returns a list
    of (case, ok, detail) tuples."""
    results = []
    mine = {s["offset"]: s for s in listing["sites"]}
    theirs = {}
    dups = []
    for r in report_sites:
        if r["offset"] in theirs:
            dups.append(r["offset"])
        theirs[r["offset"]] = r

    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    prob = []
    if missing:
        prob.append("missing from report: " + " ".join("%#x" % o for o in missing))
    if extra:
        prob.append("not a PTI .text site: " + " ".join("%#x" % o for o in extra))
    if dups:
        prob.append("reported twice: " + " ".join("%#x" % o for o in dups))
    results.append(("offsets", not prob, "; ".join(prob) or "%d sites" % len(mine)))
    results.append(held_case(report_sites))

    common = sorted(set(mine) & set(theirs))

    def per_site(case, fn, okdetail):
        bad = []
        for o in common:
            d = fn(mine[o], theirs[o])
            if d:
                bad.append("%#x %s" % (o, d))
        results.append((case, not bad, "; ".join(bad) or okdetail))

    per_site("kind", lambda m, t: None if m["kind"] == t["kind"] else
             "module says %s, reader %s" % (t["kind"], m["kind"]),
             "entry %d, c %d" % (sum(s["kind"] == "entry" for s in listing["sites"]),
                                 sum(s["kind"] == "c" for s in listing["sites"])))
    per_site("len", lambda m, t: None if m["len"] == t["len"] else
             "module %d, reader %d" % (t["len"], m["len"]), "all equal")
    per_site("off-bytes", off_bytes, "live bytes = reader's off%s" % (
        ", held sites' = reader's on" if any(t["held"] for t in theirs.values()) else ""))
    per_site("on-bytes", lambda m, t: None if m["on"] == t["on"] else
             "module plans %s, reader %s" % (t["on"], m["on"]), "planned bytes = reader's on")

    if entry_range is not None:
        lo, hi = entry_range
        bad = []
        for s in listing["sites"]:
            inside = lo <= s["offset"] and s["offset"] + s["len"] <= hi
            if (s["kind"] == "entry") != inside:
                bad.append("%#x %s %s .entry.text [%#x,%#x)" % (
                    s["offset"], s["kind"], "inside" if inside else "outside", lo, hi))
        for r in report_sites:
            inside = lo <= r["offset"] and r["offset"] + r["len"] <= hi
            if (r["kind"] == "entry") != inside:
                bad.append("module %#x %s %s .entry.text" % (
                    r["offset"], r["kind"], "inside" if inside else "outside"))
        results.append(("entry-text", not bad, "; ".join(bad) or
                        ".entry.text = _text+[%#x,%#x)" % (lo, hi)))

    if syms is not None:
        # syms: name -> list of offsets from _text (from the guest's kallsyms)
        bad = []
        for r in report_sites:
            m = re.match(r"^([^+/]+)\+0x([0-9a-f]+)/0x[0-9a-f]+$", r["sym"])
            if not m:
                bad.append("%#x symbol %r unparsable" % (r["offset"], r["sym"]))
                continue
            cands = syms.get(m.group(1), [])
            if not any(c + int(m.group(2), 16) == r["offset"] for c in cands):
                bad.append("%#x symbol %s does not resolve there (kallsyms: %s)" % (
                    r["offset"], r["sym"], " ".join("%#x" % c for c in cands) or "none"))
        results.append(("symbols", not bad, "; ".join(bad) or "%d resolved" % len(report_sites)))
    return results


def compare_live_on(listing, report_sites, patched=None):
    """With isolation on, every site's live bytes are either the reader's
    "off" (a site the module leaves alone) or its "on" (a site it
    activated), and the number activated equals the module's count
    (patched, if known).  A held site holds the on bytes and is not
    counted: the module leaves it out of sites_patched.  Returns one (case,
    ok, detail) tuple."""
    mine = {s["offset"]: s for s in listing["sites"]}
    bad, on, held, kinds = [], 0, 0, {"entry": 0, "c": 0}
    for r in report_sites:
        m = mine.get(r["offset"])
        if m is None:
            continue                            # reported by "offsets"
        if r["held"]:
            held += 1
            if r["cur"] != m["on"]:
                bad.append("%#x held, live %s is not the reader's on %s" % (
                    r["offset"], r["cur"], m["on"]))
        elif r["cur"] == m["on"]:
            on += 1
            kinds[m["kind"]] += 1
        elif r["cur"] != m["off"]:
            bad.append("%#x live %s is neither the reader's off %s nor on %s" % (
                r["offset"], r["cur"], m["off"], m["on"]))
    if patched is not None and str(on) != str(patched):
        bad.append("%d sites hold the on bytes, the module says %s patched" % (on, patched))
    return ("cur-bytes", not bad, "; ".join(bad) or
            "%d sites activated (entry %d, c %d), %d held, the rest hold the off bytes" % (
                on, kinds["entry"], kinds["c"], held))


def parse_kallsyms(text):
    """kallsyms-format lines ("ADDR TYPE NAME [module]") -> (text_addr,
    {name: [offsets from _text]}).  text_addr is None without _text."""
    addrs = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) < 3 or not re.match(r"^[0-9a-fA-F]{8,16}$", f[0]):
            continue
        addrs.setdefault(f[2], []).append(int(f[0], 16))
    base = addrs.get("_text", [None])[0]
    if base is None:
        return None, {}
    return base, {n: [a - base for a in v] for n, v in addrs.items()}


# The guest side (test/suites/sites-dump) frames its data as
# KTEST STATUS-BEGIN/-END, KTEST SITES-BEGIN/-END and KTEST SYMS-BEGIN/-END.
PRINTK = re.compile(r"^\[ *[0-9]+\.[0-9]+\] ")


def parse_guest_log(log_text):
    """The framed blocks of a guest log: {"snaps": [{"status": {key: value},
    "lines": [report lines], "noise": n}], "syms": [kallsyms lines]}.  A
    snapshot is a SITES block with the STATUS block printed before it.
    Kernel printk lines that landed inside a block are dropped (counted in
    the snapshot's noise)."""
    snaps, syms, status = [], [], {}
    cur, buf, noise = None, [], 0
    for raw in log_text.splitlines():
        ln = raw.replace("\r", "")
        m = re.match(r"^KTEST (SITES|SYMS|STATUS)-(BEGIN|END)\s*$", ln)
        if m and m.group(2) == "BEGIN":
            cur, buf, noise = m.group(1), [], 0
            continue
        if m and m.group(1) == cur:
            if cur == "STATUS":
                status = {}
                for x in buf:
                    kv = re.match(r"^([a-z_0-9]+): *(.*)$", x)
                    if kv:
                        status[kv.group(1)] = kv.group(2).strip()
            elif cur == "SITES":
                snaps.append({"status": status, "lines": buf, "noise": noise})
                status = {}
            else:
                syms = buf
            cur = None
            continue
        if cur is not None:
            if PRINTK.match(ln):
                noise += 1
            else:
                buf.append(ln)
    return {"snaps": snaps, "syms": syms}


def fake_report(listing):
    """A report in the module's format built from this reader (cur = off)."""
    return "".join("%s %#x %d %s %s -\n" % (s["kind"], s["offset"], s["len"], s["off"], s["on"])
                   for s in listing["sites"])


# ---------------------------------------------------------------------------

def _usage():
    sys.stderr.write(__doc__)
    return 2


def main(argv):
    if len(argv) < 2:
        return _usage()
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "list":
            listing = list_sites(args[0])
            if "--json" in args:
                json.dump(listing, sys.stdout, indent=1)
                sys.stdout.write("\n")
                return 0
            print("# %s" % listing["banner"])
            print("# engine %s, %d-byte alt_instr, %d entries, .text %#x+%#x" % (
                listing["engine"], listing["entsize"], listing["nalts"],
                listing["text_start"], listing["text_size"]))
            for s in listing["sites"]:
                print("%s %#x %d %s %s" % (s["kind"], s["offset"], s["len"], s["off"], s["on"]))
                if "--all" in args:
                    print("#   image %s; %s" % (s["image"], " | ".join(s["entries"])))
            for e in listing["excluded"]:
                print("# excluded: %s site %#x+%d in %s" % (e["kind"], e["addr"], e["len"],
                                                          e["section"]))
            ne = sum(s["kind"] == "entry" for s in listing["sites"])
            print("# %d sites in .text: entry %d, c %d; %d excluded" % (
                len(listing["sites"]), ne, len(listing["sites"]) - ne, len(listing["excluded"])))
            return 0
        if cmd == "report":
            sys.stdout.write(fake_report(list_sites(args[0])))
            return 0
        if cmd == "compare":
            listing = list_sites(args[0])
            with open(args[1]) as f:
                rep, problems = parse_report(f.read())
            er = syms = None
            if "--entry-range" in args:
                k = args.index("--entry-range")
                er = (int(args[k + 1], 0), int(args[k + 2], 0))
            if "--syms" in args:
                with open(args[args.index("--syms") + 1]) as f:
                    base, syms = parse_kallsyms(f.read())
                if base is None:
                    raise AltError("no _text in the --syms file")
            res = compare(listing, rep, er, syms)
            ok = not problems
            for p in problems:
                print("FAIL parse %s" % p)
            for case, good, detail in res:
                print("%s %s %s" % ("PASS" if good else "FAIL", case, detail))
                ok = ok and good
            return 0 if ok else 1
    except AltError as e:
        sys.stderr.write("altinstr: error: %s\n" % e)
        return 2
    except (OSError, IndexError, ValueError) as e:
        sys.stderr.write("altinstr: error: %s\n" % e)
        return 2
    return _usage()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
