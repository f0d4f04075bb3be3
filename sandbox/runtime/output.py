"""stdout and stderr of a child, in a memfd shared with the fork-server: a run stopped by its
timeout (or killed) still shows what it printed before. Standard library only."""

from __future__ import annotations

import fcntl
import io
import mmap
import os
import struct


class OutputLimitExceeded(BaseException):
    """Raised inside the user's code when it writes past the output cap.

    A BaseException, so ``except Exception`` in the user's code does not swallow it; code that
    catches everything anyway gets it again on its next write and runs into the timeout.
    """


_HEADER = struct.Struct("<QQ")  # bytes written to stdout, to stderr
HEADER = _HEADER  # for the live-output reader (sandbox.runtime.streaming)


class SharedOutput:
    """stdout and stderr of one child, written straight into a memfd shared with the fork-server.

    Layout: the two lengths, then ``cap`` bytes for stdout, then ``cap`` bytes for stderr.
    """

    def __init__(self, fd: int) -> None:
        size = os.fstat(fd).st_size  # sized and sealed by the fork-server
        self.cap = (size - _HEADER.size) // 2
        self.map = mmap.mmap(fd, size)
        self.stdout = _SharedStream(self, 0, "stdout")
        self.stderr = _SharedStream(self, 1, "stderr")

    def reset(self) -> None:
        self.stdout.reset()
        self.stderr.reset()
        _HEADER.pack_into(self.map, 0, 0, 0)

    def _publish(self) -> None:
        _HEADER.pack_into(self.map, 0, self.stdout.used, self.stderr.used)


class _SharedStream(io.TextIOBase):
    encoding = "utf-8"
    errors = "replace"

    def __init__(self, owner: SharedOutput, index: int, name: str) -> None:
        self.owner = owner
        self.base = _HEADER.size + index * owner.cap
        self.stream_name = name
        self.used = 0

    def reset(self) -> None:
        self.used = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        data = text.encode("utf-8", "replace")
        room = self.owner.cap - self.used
        start = self.base + self.used
        if len(data) > room:
            self.owner.map[start : start + room] = data[:room]
            self.used = self.owner.cap
            self.owner._publish()
            raise OutputLimitExceeded(self.stream_name)
        self.owner.map[start : start + len(data)] = data
        self.used += len(data)
        self.owner._publish()
        return len(text)


def create_shared_output() -> int:
    """An empty memfd for one child's output; sized by ``size_shared_output`` per request."""
    return os.memfd_create("sandbox-output", os.MFD_ALLOW_SEALING)


def size_shared_output(fd: int, cap: int) -> None:
    """Room for ``cap`` bytes per stream, then sealed: the child can neither grow the file
    (memory no rlimit of its own would count) nor shrink it under the fork-server's reads."""
    os.ftruncate(fd, _HEADER.size + 2 * cap)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)


def clear_shared_output(fd: int) -> None:
    """Zero both lengths, from the fork-server's side, before a (stopped) session child is sent
    its next run: a live reader must not take the previous run's output for this one's."""
    os.pwrite(fd, bytes(_HEADER.size), 0)


def read_shared_output(fd: int) -> tuple[str, str]:
    """What a child wrote, read by the fork-server; the child may be dead or hostile, so the
    lengths are clamped to the (sealed) file instead of trusted."""
    size = os.fstat(fd).st_size
    if size < _HEADER.size:
        return "", ""
    cap = (size - _HEADER.size) // 2
    out_len, err_len = _HEADER.unpack(os.pread(fd, _HEADER.size, 0))
    stdout = os.pread(fd, min(out_len, cap), _HEADER.size) if out_len else b""
    stderr = os.pread(fd, min(err_len, cap), _HEADER.size + cap) if err_len else b""
    return stdout.decode("utf-8", "ignore"), stderr.decode("utf-8", "ignore")
