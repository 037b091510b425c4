"""The shared part of the Python host jobs (test/host/*).

Where things are (the environment run-tests sets, with defaults for a run
by hand), the KTEST result lines the harness reads, and the QEMU human
monitor the out-of-band jobs talk to. A job imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "scripts", "harness", "lib"))
    import hostjob
"""
import os
import re
import socket
import subprocess
import sys
import tempfile

REPO = os.environ.get("KAISER_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
CACHE = os.environ.get("KAISER_CACHE", "/var/cache/kaiser")
REL = os.environ.get("KAISER_KERNEL", "")     # the guest kernel's release
KO = os.environ.get("KAISER_KO", "")          # kaiser.ko built for it
INITRD = os.environ.get("KAISER_INITRD", "")  # run-tests' initramfs for it


def tool(name):
    """The path of a harness script (scripts/harness/NAME), or of a shipped
    one (scripts/ship/NAME) if the harness has none of that name."""
    path = os.path.join(REPO, "scripts", "harness", name)
    return path if os.path.exists(path) else os.path.join(REPO, "scripts", "ship", name)


def out_dir(job):
    """KAISER_OUT, or a new temporary directory named after the job."""
    out = os.environ.get("KAISER_OUT") or tempfile.mkdtemp(prefix=job + ".")
    os.makedirs(out, exist_ok=True)
    return out


def read_log(path):
    """A running guest's serial log up to its last complete line ("" if it
    does not exist yet). The guest may be in the middle of a line, and a
    marker cut short can still match: a truncated hex number is a hex
    number (oob-audit once took "magic=0x6e6970732d62" for its spinner's
    0x6e6970732d626f6f and stopped the guest 40 times in vain)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return text[:text.rfind("\n") + 1]


class Results:
    """KTEST lines: BEGIN, then PASS, FAIL or SKIP, one line each; counts
    the failures (the job's exit status is whether there were any)."""

    def __init__(self, prefix="", width=900):
        self.prefix = prefix
        self.width = width
        self.failed = 0

    def line(self, word, case, text=""):
        text = " ".join(str(text).split())
        if self.width and len(text) > self.width:
            text = text[:self.width - 3] + "..."
        print(("KTEST %s %s%s %s" % (word, self.prefix, case, text)).rstrip(), flush=True)

    def result(self, case, ok, detail=""):
        """ok: True PASS, False FAIL, None SKIP."""
        self.line("BEGIN", case)
        if ok is None:
            self.line("SKIP", case, detail)
        elif ok:
            self.line("PASS", case, detail)
        else:
            self.failed += 1
            self.line("FAIL", case, detail or "failed")

    def case(self, name, fn):
        """Run fn(): the detail it returns is a PASS, what it raises a FAIL
        (an AssertionError by its message, anything else by its type too)."""
        self.line("BEGIN", name)
        try:
            detail = fn()
            self.line("PASS", name, detail or "")
        except Exception as e:          # noqa: BLE001 - every failure is reported
            self.failed += 1
            self.line("FAIL", name, str(e) or "assertion failed" if isinstance(
                e, AssertionError) else "%s: %s" % (type(e).__name__, e))

    def relay(self, log, label):
        """A guest's own cases, from its serial log, as ktest-parse judges
        them (it also charges a kernel BUG or WARNING to the running case
        and fails a guest that lost its protocol lines)."""
        r = subprocess.run([tool("ktest-parse"), log, "--label", label, "--ktest"],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1) or not r.stdout.strip():
            self.result(label + "/parse", False, "ktest-parse failed (%d): %s" % (
                r.returncode, (r.stderr or r.stdout).strip()[-300:]))
            return
        for ln in r.stdout.splitlines():
            print(ln, flush=True)
            if ln.startswith("KTEST FAIL "):
                self.failed += 1

    def exit(self):
        sys.exit(1 if self.failed else 0)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


class MonitorError(OSError):
    pass


class Monitor:
    """QEMU's human monitor on a UNIX socket (vm-run --monitor)."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.s.settimeout(timeout)
        self.read()

    def read(self):
        buf = b""
        while not buf.endswith(b"(qemu) "):
            c = self.s.recv(1 << 20)
            if not c:
                raise MonitorError("monitor closed the connection")
            buf += c
        return ANSI.sub("", buf.decode(errors="replace").replace("\r", ""))

    def cmd(self, c):
        """The reply still holds the echo of the command line: parse only
        lines of an anchored shape."""
        self.s.sendall(c.encode() + b"\n")
        return self.read()

    def bytes_at(self, va, n):
        """n bytes at guest virtual address va, or None."""
        out = self.cmd("x /%dxb %#x" % (n, va))
        got = b""
        for m in re.finditer(r"^([0-9a-f]{16}): ((?:0x[0-9a-f]{2} ?)+)", out, re.M):
            got += bytes(int(x, 16) for x in m.group(2).split())
        return got if len(got) == n else None

    def quit(self):
        """Stop QEMU, and close."""
        try:
            self.s.sendall(b"quit\n")
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
