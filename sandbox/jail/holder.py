"""The size-capped work-dir tmpfs for a host that is not root.

Mounting a tmpfs needs root -- or a user namespace of one's own, where the mount is then visible
only inside. So a small "holder" process makes a user and mount namespace, mounts the tmpfs on
the sandbox's base dir there, and waits. The jail's fork-servers join its namespaces (they see
the tmpfs where the host made the base dir), and the host -- same uid, and the holder stays
dumpable -- reaches the same tmpfs through ``/proc/<holder pid>/root/<base dir>``, a path that
names the same directory in both views. The holder exits when the host closes its stdin (or
dies); the tmpfs goes with the last process in its namespace.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from sandbox.contract import SandboxError

READY_TIMEOUT_S = 20.0

_HOLDER = r"""
import ctypes, os, sys
path, size_mb, max_files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
libc = ctypes.CDLL(None, use_errno=True)
def fail(what):
    sys.stdout.write("error: %s: %s\n" % (what, os.strerror(ctypes.get_errno())))
    sys.stdout.flush()
    sys.exit(1)
uid, gid = os.getuid(), os.getgid()
if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
    fail("unshare(CLONE_NEWUSER | CLONE_NEWNS)")
for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                   ("gid_map", "%d %d 1" % (gid, gid))):
    with open("/proc/self/" + name, "w") as handle:
        handle.write(text)
if libc.mount(None, b"/", None, 0x4000 | (1 << 18), None) != 0:  # MS_REC | MS_PRIVATE
    fail("make mounts private")
options = ("size=%dm,nr_inodes=%d,mode=0700" % (size_mb, max_files)).encode()
if libc.mount(b"tmpfs", path.encode(), b"tmpfs", 2 | 4 | 8, options) != 0:  # nosuid,nodev,noexec
    fail("mount tmpfs on " + path)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.buffer.read()
"""


class NamespaceHolder:
    """The holder process of one sandbox; ``host_path`` is the tmpfs as the host reaches it."""

    def __init__(self, base_dir: str, size_mb: int, max_files: int) -> None:
        self.base_dir = base_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _HOLDER, base_dir, str(size_mb), str(max_files)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={},
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        line = self._first_line()
        if line != "ready":
            self.close()
            raise SandboxError(
                "jail needs a size-capped tmpfs for its work dirs, which a host that is not root "
                "mounts in a user namespace of its own; that failed here "
                f"({line or 'the holder process exited'}): run as root, or use restricted or docker"
            )
        self.host_path = f"/proc/{self.proc.pid}/root{base_dir}"
        try:
            os.stat(self.host_path)
        except OSError as exc:
            self.close()
            raise SandboxError(
                f"jail cannot reach its work-dir tmpfs through {self.host_path} ({exc.strerror}): "
                "use restricted or docker"
            ) from None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _first_line(self) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + READY_TIMEOUT_S
        data = b""
        while b"\n" not in data and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace").strip().splitlines()[0] if data.strip() else ""

    def close(self) -> None:
        """Let the holder exit (its tmpfs disappears once the fork-servers are gone too)."""
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
