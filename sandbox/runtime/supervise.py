"""The fork-server's view of one forked child: its pipes, its life (pause, resume, kill, reap)
and what its end means (a limit, a crash, a bad reply) as a result dict for the host.

Standard library only, like the rest of the runtime (it runs inside the Docker image too).
"""

from __future__ import annotations

import os
import select
import signal
from dataclasses import dataclass
from typing import Any

from sandbox.runtime.protocol import FrameReader


@dataclass
class Child:
    pid: int
    request_fd: int
    reader: FrameReader
    output_fd: int
    session: str | None = None
    rss_at_fork: int = 0
    output_sized: bool = False
    paused: bool = False  # SIGSTOPped between the requests of its session
    status: tuple[int, Any] | None = None  # set once reaped: the pid may then be reused

    def reap(self) -> tuple[int, Any]:
        if self.status is None:
            try:
                _, status, usage = os.wait4(self.pid, 0)
                self.status = (status, usage)
            except ChildProcessError:
                self.status = (0, None)
        return self.status

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.reap()

    def pause(self) -> bool:
        """Stop the whole process (every thread it has, every timer handler it armed) until
        its session's next request: between requests a session uses no CPU at all. SIGSTOP
        cannot be caught or ignored; the wait makes sure it has landed. False if it died."""
        if self.status is not None:
            return False
        try:
            os.kill(self.pid, signal.SIGSTOP)
            _, status, usage = os.wait4(self.pid, os.WUNTRACED)
        except (ProcessLookupError, ChildProcessError):
            self.status = (0, None)
            return False
        if os.WIFSTOPPED(status):
            self.paused = True
            return True
        self.status = (status, usage)
        return False

    def resume(self) -> None:
        if self.paused and self.status is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.paused = False

    def has_unread_bytes(self) -> bool:
        """Anything the child wrote after its reply (checked once it is stopped)."""
        if self.reader.buffered:
            return True
        poller = select.poll()
        poller.register(self.reader.fd, select.POLLIN)
        return any(event & select.POLLIN for _fd, event in poller.poll(0))

    def reaped_now(self) -> bool:
        """Collect the exit status if the child is already gone, without waiting."""
        if self.status is None:
            try:
                pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status, usage = self.pid, 0, None
            if pid == 0:
                return False
            self.status = (status, usage)
        return True

    def retire(self) -> None:
        """SIGKILL without waiting: the dying child tears its memory down on its own time
        while the server already forks the next one. ``reaped_now`` collects it later."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.close_fds()

    def discard(self) -> None:
        self.kill()
        self.close_fds()

    def close_fds(self) -> None:
        """Idempotent: a closed number may already belong to a newer child's pipe."""
        for fd in (self.request_fd, self.reader.fd, self.output_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.request_fd = self.reader.fd = self.output_fd = -1


def invalid_reply(cause: str) -> dict[str, Any]:
    message = f"the run's process sent an invalid reply ({cause}); it was stopped"
    return failure("internal", "InvalidReply", message)


def failure(kind: str, type_: str, message: str, limit: str | None = None) -> dict[str, Any]:
    error = {"type": type_, "message": message, "traceback": "", "lineno": None, "kind": kind}
    return {"ok": False, "error": error, "limit_hit": limit, "images": []}


def death(status: int, usage: Any, child: Child, limits: dict[str, Any]) -> dict[str, Any]:
    """Name the limit (or crash) that ended a child that died without reporting."""
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return failure(
            "crash", "WorkerCrash", f"the worker exited with status {code} before reporting"
        )
    sig = os.WTERMSIG(status)
    cpu = (usage.ru_utime + usage.ru_stime) if usage else 0.0
    grew = (usage.ru_maxrss * 1024 - child.rss_at_fork) if usage else 0
    memory = int(limits["memory_mb"]) * 1024 * 1024
    timeout = float(limits["timeout_s"])
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= timeout):
        return failure(
            "limit", "TimeoutError", f"the code used more than {timeout:g} s of CPU", "timeout"
        )
    if sig == signal.SIGKILL or grew >= 0.8 * memory:
        return failure(
            "limit",
            "MemoryError",
            f"the code was stopped for using more than {limits['memory_mb']} MB of memory",
            "memory",
        )
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    description = signal.strsignal(sig) or name
    return failure(
        "crash",
        "WorkerCrash",
        f"the worker process died from signal {name} ({description}) while running the code",
    )
