"""A warm pool of fork-server processes, shared by every thread that calls ``run()``.

Each fork-server serves one request at a time, so a thread borrows one for the length of a run.
Borrowing is FIFO: with two servers and one caller the runs alternate, and each server re-forks
its spare child while the other one works.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.contract import SandboxError
from sandbox.runtime.protocol import FrameReader, FrameTimeout, ProtocolError, write_frame
from sandbox.runtime.streaming import OutputRelay, relay_output
from sandbox.runtime.warmup import BEFORE_ACCEPT_S, WARMUP_ALLOWANCE_S

READY_TIMEOUT_S = 120.0  # importing numpy + matplotlib on a loaded 2-core machine
MAX_CONTROL_REPLY_BYTES = 1024 * 1024
SHUTDOWN_GRACE_S = 2.0
CANCEL_POLL_S = 0.05  # how often a waiting run looks at its cancel event
CANCEL_GRACE_S = 0.5  # a server that has not answered a cancel by then is killed  # a server that is idle exits within milliseconds of losing its stdin


class WorkerDied(RuntimeError):
    """The fork-server process went away in the middle of a conversation.

    ``accepted`` says whether it had acknowledged the request: if not, nothing ran and the
    request may be retried on a fresh server.
    """

    def __init__(self, message: str, accepted: bool = False) -> None:
        super().__init__(message)
        self.accepted = accepted


class PoolClosed(SandboxError):
    """The sandbox was closed while a run was waiting for a worker."""


class LeaseCancelled(RuntimeError):
    """The caller cancelled its run before a server was free."""


class ForkServerProcess:
    """One fork-server as the host sees it: two pipes, its readiness report, a hard kill.

    It runs in its own session and process group, so one ``killpg`` takes its children along.
    """

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        # An unlinked file rather than a pipe: nobody has to drain it, nothing is left behind.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.reader = FrameReader(self.proc.stdout.fileno(), MAX_CONTROL_REPLY_BYTES)
        self.isolation: dict[str, Any] | None = None
        self._kill_lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
        if self.isolation is None:
            try:
                frame = self.reader.read(time.monotonic() + timeout_s)
            except Exception as exc:
                raise SandboxError(
                    f"the sandbox worker did not start: {exc}{self.diagnostics()}"
                ) from None
            if frame is None or frame.get("op") != "ready":
                raise SandboxError(f"the sandbox worker did not start{self.diagnostics()}")
            isolation = frame.get("isolation")
            self.isolation = isolation if isinstance(isolation, dict) else {}
        return self.isolation

    def request(
        self,
        message: dict[str, Any],
        timeout_s: float,
        max_reply_bytes: int,
        cancel: threading.Event | None = None,
        relay: OutputRelay | None = None,
    ) -> dict[str, Any]:
        """Send one request and wait for its reply; FrameTimeout, ProtocolError or WorkerDied.

        A ``run`` request carries a nonce (``run``) that every reply to it must carry back: a
        reply for another run is a ProtocolError. With ``cancel``, once the event is set the
        server is told to stop the run; it answers with the cancelled result, and if it does
        not within CANCEL_GRACE_S the wait ends with FrameTimeout (the caller kills it).
        With ``relay`` (a request with ``"stream": true``), the ``output`` frames that come
        before the result go to it; a bad one, or one nobody asked for, is a ProtocolError.
        """
        assert self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin.fileno(), message)
        except OSError as exc:
            raise WorkerDied(f"could not send to the worker: {exc}", accepted=False) from None
        # Until the server takes the request it may be finishing one import of its warm-up
        # (sandbox.runtime.warmup); the run's own clock starts when it says ``accepted``.
        deadline = time.monotonic() + timeout_s + BEFORE_ACCEPT_S
        run_id = message.get("run")
        accepted = cancel_sent = warming = False
        while True:
            step = deadline
            if cancel is not None and not cancel_sent:
                step = min(deadline, time.monotonic() + CANCEL_POLL_S)
            try:
                reply = self.reader.read(step, max_reply_bytes)
            except FrameTimeout:
                if time.monotonic() >= deadline or cancel is None or cancel_sent:
                    raise
                if cancel.is_set():
                    cancel_sent = True
                    self._send_cancel(run_id)
                    deadline = min(deadline, time.monotonic() + CANCEL_GRACE_S)
                continue
            if reply is None:
                raise WorkerDied(f"the worker process exited{self.diagnostics()}", accepted)
            if run_id is not None and reply.get("run") != run_id:
                raise ProtocolError("the worker's reply does not belong to this run")
            op = reply.get("op")
            if op == "output":
                problem = relay_output(relay, reply)
                if problem is not None:
                    raise ProtocolError(problem)
                continue
            if op == "warming":
                # The code imports the data stack, which the server is still importing (it
                # served at once; sandbox.runtime.warmup): its time limit starts after that.
                if warming or not accepted:
                    raise ProtocolError("an unexpected warming frame")
                warming = True
                deadline += WARMUP_ALLOWANCE_S
                continue
            if op != "accepted" or accepted:
                return reply
            accepted = True
            if not cancel_sent:
                deadline = time.monotonic() + timeout_s

    def _send_cancel(self, run_id: Any) -> None:
        assert self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin.fileno(), {"op": "cancel", "run": run_id})
        except OSError:
            pass  # it is gone: the read that follows says so

    def diagnostics(self, limit: int = 2000) -> str:
        """The tail of the server's stderr, for error messages."""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            tail = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f"; its last output: {tail}" if tail else ""

    def kill(self, grace_s: float = 0.0) -> None:
        """Stop the server and all it forked.

        With ``grace_s`` the server is first asked to stop by closing its stdin: it then kills
        and reaps its own children, so none is left as an orphan for init to reap (slowly, on
        some machines). Otherwise, or if it does not exit in time, the whole process group is
        SIGKILLed -- while the leader is still unreaped, so the group id cannot belong to
        anyone else yet.
        """
        with self._kill_lock:
            if self.proc.returncode is None and grace_s > 0:
                try:
                    if self.proc.stdin is not None:
                        self.proc.stdin.close()
                    self._stop_warmup()
                    self.proc.wait(grace_s)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self.proc.returncode is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait()
                _wait_for_group_to_empty(self.proc.pid)
            # Otherwise the leader is already gone, and its children died with it
            # (PR_SET_PDEATHSIG): signalling the old group id could hit a stranger.
        for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def begin_shutdown(self) -> None:
        """Close stdin without waiting, so several servers wind down at once."""
        try:
            if self.proc.stdin is not None and self.proc.returncode is None:
                self.proc.stdin.close()
                self._stop_warmup()
        except OSError:
            pass

    def _stop_warmup(self) -> None:
        """A server in the middle of an import (its warm-up) would notice the closed stdin
        only after it: SIGUSR1 makes it drop the import and end now (an idle one ignores it)."""
        if self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, signal.SIGUSR1)
            except OSError:
                pass


@dataclass
class Slot:
    """A place in the pool; its server may be replaced, which bumps ``generation``."""

    index: int
    server: ForkServerProcess
    generation: int = 0
    sessions: set[str] = field(default_factory=set)


class ForkServerPool:
    def __init__(self, size: int, spawn: Callable[[], ForkServerProcess]) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self._spawn = spawn
        self._cond = threading.Condition()
        self._closed = False
        self.slots: list[Slot] = []
        try:
            for index in range(size):  # all start at once, then we wait for each
                self.slots.append(Slot(index, spawn()))
            for slot in self.slots:
                slot.server.wait_ready()
        except BaseException:
            self.close()
            raise
        self._free = collections.deque(self.slots)

    @property
    def size(self) -> int:
        return len(self.slots)

    @contextmanager
    def lease(
        self, index: int | None = None, cancel: threading.Event | None = None
    ) -> Iterator[Slot]:
        """Borrow a free server (or the given one, for a session), ready to take a request.
        Raises LeaseCancelled when ``cancel`` is set while waiting for one."""
        slot = self._acquire(index, cancel)
        try:
            if not slot.server.alive():
                self.replace(slot)
            try:
                slot.server.wait_ready()
            except SandboxError:
                self.replace(slot)  # the next borrower gets a fresh attempt
                raise
            yield slot
        finally:
            self._release(slot)

    def _acquire(self, index: int | None, cancel: threading.Event | None = None) -> Slot:
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed("the sandbox was closed")
                if cancel is not None and cancel.is_set():
                    raise LeaseCancelled("the run was cancelled while waiting for a worker")
                if index is None and self._free:
                    return self._free.popleft()
                if index is not None:
                    for slot in self._free:
                        if slot.index == index:
                            self._free.remove(slot)
                            return slot
                self._cond.wait(None if cancel is None else CANCEL_POLL_S)

    def _release(self, slot: Slot) -> None:
        with self._cond:
            self._free.append(slot)
            self._cond.notify_all()

    def try_lease_index(self, index: int) -> Slot | None:
        """The given server if it is free right now, else None (for housekeeping)."""
        with self._cond:
            if self._closed:
                return None
            for slot in self._free:
                if slot.index == index:
                    self._free.remove(slot)
                    return slot
        return None

    def give_back(self, slot: Slot) -> None:
        self._release(slot)

    def replace(self, slot: Slot) -> None:
        """Kill a server (and every child and session it had) and start a fresh one. The new
        one finishes starting in the background; its first borrower waits for it."""
        slot.server.kill()
        with self._cond:  # so close() either sees the new server or stops us spawning it
            slot.generation += 1
            if not self._closed:
                slot.server = self._spawn()

    def least_loaded(self) -> Slot:
        with self._cond:
            return min(self.slots, key=lambda s: (len(s.sessions), s.index))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            servers = [slot.server for slot in self.slots]
        for server in servers:
            server.begin_shutdown()
        for server in servers:
            server.kill(grace_s=SHUTDOWN_GRACE_S)


def _wait_for_group_to_empty(group: int, timeout_s: float = 0.5) -> None:
    """SIGKILL is asynchronous: wait until the killed children have really gone, so that
    ``close()`` returning means no process is left. A group id cannot be handed out again
    while any member of the group still exists, so probing it cannot hit a stranger."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.002)
