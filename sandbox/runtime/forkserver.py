"""A fork-server: one warm Python process that forks a fresh child for every run.

Importing numpy and matplotlib takes about a second, forking a process that already has them
takes milliseconds; so the server imports once and keeps one child forked ahead while it waits.
How code is compiled and run is pluggable (an ``Executor``): the restricted backend passes its
RestrictedPython policy, the Docker image runs this same loop with ``PlainExecutor``.

Protocol (frames of ``sandbox.runtime.protocol`` on the server's stdin/stdout):

- the server first sends ``{"op": "ready", "isolation": {...}}``;
- ``{"op": "run", "run": nonce, "code", "workdir", "limits": {timeout_s, memory_mb,
  max_output_bytes, max_file_bytes}, "session": str | None}`` -> ``{"op": "accepted", "run"}``,
  then ``{"op": "result", "run", "result": {ok, stdout, stderr, error, limit_hit, images},
  "session_new": bool}``. Every reply carries the request's nonce back: the host never takes a
  reply for another run's;
- with ``"stream": true`` in the run request, ``{"op": "output", "run", "stream": "stdout" |
  "stderr", "data"}`` frames carry what the code prints while it runs, before the result (at
  most one per ``streaming.STREAM_INTERVAL_S``; their data adds up to the result's output);
- ``{"op": "cancel", "run": nonce}`` while that run is going: its child is killed and the
  result says ``kind: "cancelled"``; for a run that already ended it is ignored (no reply);
- ``{"op": "close_session", "session"}`` -> ``{"op": "closed"}``;
- ``{"op": "ping"}`` -> ``{"op": "pong", "sessions": n, "warm": bool}``; ``{"op": "warm"}``
  finishes the warm-up (``sandbox.runtime.warmup``) -> ``{"op": "warm", "failures"}``; a run
  that must wait for the warm-up gets ``{"op": "warming", "run"}`` after ``accepted``;
  ``{"op": "shutdown"}`` ends the server.

A child gets a nonce of the server's own with its request (never the host's) and must answer
with it; its reply is checked field by field (``sandbox.runtime.replies``). A reply that is
malformed, oversized, late, forged or followed by more bytes ends that run and that child only
(an ``internal`` error naming the cause); the server and every other session live on.

A session is a child that survives its run and keeps its namespace; it is forked like any other
child, so sessions never share state. Between its requests it is SIGSTOPped (no thread, timer
or handler of it runs), and its CPU hard limit is a lifetime budget it cannot raise.

This module is the server's loop, its children and the warm-up between requests; what happens
from one ``run`` request to its result is ``sandbox.runtime.roundtrip``. Run this module itself
for the plain-CPython flavour.
"""

from __future__ import annotations

import gc
import os
import resource
import select
import signal
import sys
import time
from typing import Any

from sandbox.runtime import lockdown
from sandbox.runtime.child import Executor, child_main, create_shared_output
from sandbox.runtime.protocol import FrameReader, write_frame
from sandbox.runtime.roundtrip import MAX_CHILD_REPLY_BYTES, RoundTrip
from sandbox.runtime.serverconfig import (  # noqa: F401 - imported from here by the backends
    PlainExecutor,
    ServerConfig,
    default_readonly_paths,
)
from sandbox.runtime.supervise import Child as _Child
from sandbox.runtime.warmup import Warmup

MAX_REQUEST_BYTES = 256 * 1024 * 1024
# After a request, how long the warm-up waits for the next one before its next import.
WARMUP_QUIET_S = 0.25


class StoppedWhileWarming(BaseException):
    """The host closed the server during a warm-up step (never caught by the step)."""


class ForkServer(RoundTrip):
    def __init__(
        self,
        executor: Executor,
        config: ServerConfig,
        request_fd: int,
        reply_fd: int,
        warmup: Warmup | None = None,
    ):
        self.executor = executor
        # Imports still to do once serving (``sandbox.runtime.warmup``): between requests only.
        self.warmup = warmup if warmup is not None else Warmup(steps=[])
        self.config = config
        if config.landlock:
            config.landlock_abi = lockdown.landlock_abi()
        self.path_fds = lockdown.open_path_fds(config.readonly_paths) if config.landlock_abi else []
        self.requests = FrameReader(request_fd, MAX_REQUEST_BYTES)
        self.reply_fd = reply_fd
        # Output frames go straight to the host even while a subclass catches the result
        # frame (the Docker runner adds the run's files to it).
        self.output_reply_fd = reply_fd
        self.pid = os.getpid()
        self.spare: _Child | None = None
        self.warming = False
        self.stop_asked = False  # SIGUSR1 came: the host is closing us
        self.last_request = 0.0  # when the last request was done with (see _request_waiting)
        self.sessions: dict[str, _Child] = {}
        self.retired: list[_Child] = []
        # Requests that arrived while a run was waited for (only ``cancel`` is expected there).
        self.pending: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ loop

    def serve(self, isolation: dict[str, Any]) -> None:
        isolation = {**isolation, "landlock_abi": self.config.landlock_abi, "pid": self.pid}
        # A host that closes us (SIGUSR1 after closing stdin) need not wait for an import.
        signal.signal(signal.SIGUSR1, self._on_stop_signal)
        self.spare = self._fork_child()
        write_frame(self.reply_fd, {"op": "ready", "isolation": isolation})
        try:
            while True:
                if self.warmup.pending and not self.pending and not self._request_waiting():
                    self._warm_step()
                    continue
                request = self.pending.pop(0) if self.pending else self.requests.read()
                if request is None or request.get("op") == "shutdown":
                    return
                self._dispatch(request)
                self.last_request = time.monotonic()
                if self.spare is None:
                    self.spare = self._fork_child()
                self.retired = [child for child in self.retired if not child.reaped_now()]
        except StoppedWhileWarming:
            return
        finally:
            self._kill_all()

    def _dispatch(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "run":
            self._run(request)
        elif op == "close_session":
            child = self.sessions.pop(str(request.get("session")), None)
            if child is not None:
                child.discard()
            write_frame(self.reply_fd, {"op": "closed"})
        elif op == "cancel":
            pass  # for a run that already ended: nothing left to stop
        elif op == "ping":
            pong = {"op": "pong", "sessions": len(self.sessions), "warm": not self.warmup.pending}
            write_frame(self.reply_fd, pong)
        elif op == "warm":  # finish the warm-up now (a host that wants every child warm)
            self._finish_warmup()
            failures = dict(self.warmup.failures)
            write_frame(self.reply_fd, {"op": "warm", "failures": failures})
        else:
            write_frame(self.reply_fd, {"op": "error", "message": f"unknown op {op!r}"})

    # ------------------------------------------------------------------ children

    def _request_waiting(self) -> bool:
        """Whether the host has sent (part of) a request: the warm-up then yields to it. Right
        after a request more tend to follow (a run, its checks, closing its session), so the
        next import waits for ``WARMUP_QUIET_S`` without one: they need not queue behind it."""
        if self.requests.buffered:
            return True
        quiet = max(0.0, self.last_request + WARMUP_QUIET_S - time.monotonic())
        return bool(select.select([self.requests.fd], [], [], quiet)[0])

    def _warm_step(self, to_the_end: bool = False) -> None:
        self.warming = True
        try:
            if self.stop_asked:  # the signal came just before this step: do not begin it
                raise StoppedWhileWarming
            self.warmup.finish() if to_the_end else self.warmup.step()
        finally:
            self.warming = False
        if not self.warmup.pending:
            self._rewarm_spare()

    def _on_stop_signal(self, _signum: int, _frame: Any) -> None:
        """During a warm-up step: abandon it and end (the host is closing us). Otherwise the
        loop notices the closed stdin by itself, and no step begins after it."""
        self.stop_asked = True
        if self.warming:
            raise StoppedWhileWarming

    def _finish_warmup(self) -> None:
        if self.warmup.pending:
            self._warm_step(to_the_end=True)

    def _rewarm_spare(self) -> None:
        """The spare forked before the warm-up lacks its modules: fork a warm one instead."""
        if self.spare is not None:
            self.spare.discard()
            self.spare = self._fork_child()

    def _take_spare(self) -> _Child:
        child, self.spare = self.spare, None
        return child if child is not None else self._fork_child()

    def _fork_child(self) -> _Child:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_fd = create_shared_output()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        pid = os.fork()
        if pid == 0:
            child_main(
                self.executor,
                self.config,
                request_r,
                reply_w,
                output_fd,
                self.path_fds,
                self.pid,
            )
        os.close(request_r)
        os.close(reply_w)
        reader = FrameReader(reply_r, MAX_CHILD_REPLY_BYTES)
        return _Child(pid, request_w, reader, output_fd, rss_at_fork=rss)

    def _kill_all(self) -> None:
        children = [*self.sessions.values(), *self.retired, *([self.spare] if self.spare else [])]
        for child in children:
            child.discard()
        self.sessions.clear()
        self.spare = None


def serve(
    executor: Executor,
    config: ServerConfig | None = None,
    isolation: dict[str, Any] | None = None,
    warmup: Warmup | None = None,
) -> None:
    """Serve requests on stdin/stdout until the host closes them (doing ``warmup``'s imports
    between requests: ``sandbox.runtime.warmup``).

    The protocol pipes move off fds 0 and 1, which become /dev/null: nothing the code does to
    its standard streams can ever reach (or forge) a protocol frame. fd 2 stays as the server's
    diagnostics channel and children point it at /dev/null too.
    """
    request_fd, reply_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = sys.stderr
    server = ForkServer(executor, config or ServerConfig(), request_fd, reply_fd, warmup)
    gc.collect()
    gc.freeze()  # keep the collector from touching (and so copying) the warm objects in children
    lockdown.collapse_to_huge_pages()
    server.serve(isolation or {})


def main(argv: list[str] | None = None) -> None:
    """Plain-CPython fork-server, e.g. for tests (``sandbox.runtime.plain``)."""
    from sandbox.runtime.plain import main as plain_main

    plain_main(argv)


if __name__ == "__main__":
    main()
