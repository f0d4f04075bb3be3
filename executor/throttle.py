"""At most one "partial" event per interval, and the last change never lost.

A running step (the Mechanic writing code, the Inspector's program printing) changes many times
a second; the trace gets at most one partial event per ``interval_s``. A change that comes
sooner is sent when the interval is over, so a step that pauses still shows everything it had;
nothing is sent after ``close`` (the step's own closing event carries the final state).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PARTIAL_INTERVAL_S = 0.1  # at most ten "partial" events a second per running step


class Throttle:
    """Calls ``send`` (which returns whether it sent anything) at most once per ``interval_s``.

    The owner changes its state and calls :meth:`changed` with :attr:`lock` held; ``send`` runs
    with the lock held too, so it reads a consistent state.
    """

    def __init__(self, send: Callable[[], bool], interval_s: float = PARTIAL_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.lock = threading.Lock()
        self._send = send
        self._last_sent = 0.0
        self._due = False
        self._timer: threading.Timer | None = None
        self.closed = False

    def changed(self) -> None:
        """The owner's state changed (call with ``lock`` held)."""
        if self.closed:
            return
        wait = self._last_sent + self.interval_s - time.monotonic()
        if wait > 0:
            self._due = True
            if self._timer is None:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()
            return
        self._due = False  # what a timer would still send is older than this
        self._fire()

    def _fire(self) -> None:
        if self._send():
            self._last_sent = time.monotonic()

    def _flush(self) -> None:
        with self.lock:
            self._timer = None
            if self._due and not self.closed:
                self._due = False
                self._fire()

    def close(self) -> None:
        """Nothing is sent after this."""
        with self.lock:
            self.closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
