"""Warm containers handed out one run at a time, refilled and retired by one background thread.

Starting a container and its runner (numpy and matplotlib imported once) takes most of a second;
a run in a warm one takes milliseconds. So the pool keeps ``size`` containers ready, starts more
while runs wait (up to ``max_size`` in use at once), replaces a container a run broke, and
retires the extra ones a burst left behind once they sat idle for ``idle_ttl_s``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

from sandbox.contract import SandboxError
from sandbox.docker.containers import RunnerContainer


class WarmPool:
    def __init__(
        self,
        start: Callable[[], RunnerContainer],
        *,
        size: int,
        max_size: int,
        idle_ttl_s: float,
        name: str = "pool",
    ) -> None:
        if size < 0 or max_size < 1:
            raise ValueError("pool size must be >= 0 and max_size >= 1")
        self._start = start
        self.size = size
        self.max_size = max(max_size, size)
        self.idle_ttl_s = idle_ttl_s
        self._idle: deque[RunnerContainer] = deque()
        self._busy: set[RunnerContainer] = set()
        self._doomed: list[RunnerContainer] = []
        self._starting = 0
        self._waiting = 0
        self._failure: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name=f"docker-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ runs

    def acquire(self, timeout_s: float) -> RunnerContainer:
        """A ready container for one run; raises the start failure if containers cannot start."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._failure = None  # a new demand: let the worker try again after a failure
            self._waiting += 1
            self._cond.notify_all()
            try:
                while True:
                    while self._idle and self._idle[0].looks_dead():
                        dead = self._idle.popleft()
                        dead.broken = True
                        self._doomed.append(dead)  # killed while idle: never hand it out
                        self._cond.notify_all()
                    if self._idle:
                        break
                    if self._closed:
                        raise SandboxError("the docker sandbox is closed")
                    if self._failure is not None:
                        raise self._failure
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise SandboxError(
                            f"no sandbox container became ready within {timeout_s:g} s; the "
                            "Docker engine may be overloaded (see `docker ps`)"
                        )
                    self._cond.wait(remaining)
                # The longest idle: a runner forks its next child right after a run, so the one
                # that just finished may still be busy with that fork.
                container = self._idle.popleft()
                self._busy.add(container)
                return container
            finally:
                self._waiting -= 1

    def release(self, container: RunnerContainer) -> None:
        """Back to the idle set, or retired when the run broke it (a fresh one is started)."""
        with self._cond:
            self._busy.discard(container)
            if container.broken or self._closed:
                self._doomed.append(container)
            else:
                container.last_used = time.monotonic()
                self._idle.append(container)
            self._cond.notify_all()

    def detach(self, container: RunnerContainer) -> None:
        """Hand a container over to a session: the pool forgets it and starts a replacement."""
        with self._cond:
            self._busy.discard(container)
            self._cond.notify_all()

    def retire(self, container: RunnerContainer) -> None:
        """Remove a container in the background (e.g. a closed session's)."""
        with self._cond:
            self._doomed.append(container)
            self._cond.notify_all()

    def close(self) -> list[RunnerContainer]:
        """Stop the worker; returns every container still known, for the caller to remove."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=60)
        with self._cond:
            left = [*self._idle, *self._busy, *self._doomed]
            self._idle.clear()
            self._busy.clear()
            self._doomed.clear()
        return left

    # ------------------------------------------------------------------ worker

    def _wanted(self) -> bool:
        if self._failure is not None:
            return False
        total = len(self._idle) + len(self._busy) + self._starting
        ready_or_coming = len(self._idle) + self._starting
        return total < self.max_size and ready_or_coming < self.size + self._waiting

    def _work(self) -> None:
        while True:
            with self._cond:
                while not (self._closed or self._doomed or self._wanted()):
                    self._cond.wait(timeout=self._reap_interval())
                    self._retire_idle_extras()
                if self._closed:
                    return
                doomed, self._doomed = self._doomed, []
                start = not doomed and self._wanted()
                if start:
                    self._starting += 1
            for container in doomed:
                with contextlib.suppress(Exception):
                    container.remove()
            if start:
                self._start_one()

    def _start_one(self) -> None:
        try:
            container = self._start()
        except BaseException as exc:
            with self._cond:
                self._starting -= 1
                self._failure = exc if isinstance(exc, SandboxError) else SandboxError(str(exc))
                self._cond.notify_all()
            return
        with self._cond:
            self._starting -= 1
            if self._closed:
                self._doomed.append(container)
            else:
                self._idle.append(container)
            self._cond.notify_all()

    def _reap_interval(self) -> float:
        return max(0.5, min(self.idle_ttl_s / 2, 10.0))

    def _retire_idle_extras(self) -> None:
        """Idle containers beyond the warm size, unused for idle_ttl_s, are removed."""
        now = time.monotonic()
        while len(self._idle) > self.size and now - self._idle[0].last_used > self.idle_ttl_s:
            self._doomed.append(self._idle.popleft())
