"""Stopping a run from any thread: the token a cancel or the run's deadline sets.

``CancelToken.call`` runs a blocking call (a model request, a sandbox run, a review) on a
helper thread so the run's own thread returns the moment the token is set, instead of after the
call finishes; the abandoned call ends on its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CANCELLED = "cancelled"
RUN_DEADLINE = "run deadline"


class Cancelled(Exception):
    """The run was stopped (``reason``: "cancelled", or "run deadline" when its time ran out);
    raised inside the loop, turned into a result."""

    def __init__(self, reason: str = CANCELLED) -> None:
        super().__init__(reason)
        self.reason = reason


class CancelToken:
    """Set from any thread; wakes every call waiting in ``call``. The first reason given wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[threading.Event] = set()
        self._listeners: list[Callable[[str], None]] = []
        self.reason = ""

    def cancel(self, reason: str = CANCELLED) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            waiters = list(self._waiters)
            listeners = list(self._listeners)
        for waiter in waiters:
            waiter.set()
        for listener in listeners:
            listener(reason)

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(reason)`` when this token is cancelled (at once if it already is);
        returns the function that unsubscribes it."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._listeners.append(listener)
        if already:
            listener(self.reason)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def event(self) -> threading.Event:
        """Set when cancelled: what a sandbox run takes as ``cancel`` to kill the program."""
        return self._event

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)

    def call(self, fn: Callable[[], T], on_cancel: Callable[[], None] | None = None) -> T:
        """Run ``fn`` on a helper thread; return its value, or raise Cancelled as soon as cancelled.

        A cancelled call's thread is abandoned (daemon); ``on_cancel`` may stop its work early.
        """
        self.raise_if_cancelled()
        wake = threading.Event()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = fn()
            except BaseException as exc:  # re-raised in the caller's thread
                outcome["error"] = exc
            finally:
                wake.set()

        with self._lock:
            self._waiters.add(wake)
        try:
            threading.Thread(target=target, name="executor-call", daemon=True).start()
            wake.wait()
        finally:
            with self._lock:
                self._waiters.discard(wake)
        if "error" in outcome:
            raise outcome["error"]
        if "value" in outcome:
            return outcome["value"]
        if on_cancel is not None:
            on_cancel()
        raise Cancelled(self.reason)
