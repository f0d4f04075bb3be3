"""Sessions: one long-lived container each, so a session's variables live in its own runner.

A session never shares a container with another session or with one-off runs; its container comes
from the warm pool (no start-up wait) and is removed when the session is closed, sits idle for
``ttl_s``, or is pushed out as the least recently used when ``max_sessions`` are open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.docker.containers import RunnerContainer


@dataclass
class Session:
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    container: RunnerContainer | None = None
    last_used: float = field(default_factory=time.monotonic)
    closed: bool = False
    runs: int = 0  # runs that reached a runner: a fresh process after that means state was lost


class SessionTable:
    def __init__(
        self,
        retire: Callable[[RunnerContainer], None],
        *,
        ttl_s: float,
        max_sessions: int,
    ) -> None:
        self._retire = retire
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._reap_loop, name="docker-sessions", daemon=True)
        self._thread.start()

    def checkout(self, name: str) -> Session:
        """The session's record (created on first use), locked for one run; call ``checkin``."""
        while True:
            with self._lock:
                session = self._sessions.get(name)
                if session is None:
                    session = Session(name)
                    self._sessions[name] = session
                    self._evict_beyond_cap()
            session.lock.acquire()
            if not session.closed:
                return session
            session.lock.release()  # closed while we waited for it: start over with a new one

    def checkin(self, session: Session) -> None:
        session.last_used = time.monotonic()
        session.lock.release()

    def close(self, name: str) -> None:
        with self._lock:
            session = self._sessions.pop(name, None)
        if session is not None:
            with session.lock:
                self._end(session)

    def close_all(self) -> list[RunnerContainer]:
        """Stop reaping and hand back every session container (the caller removes them)."""
        self._stop.set()
        self._thread.join(timeout=30)
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        left = []
        for session in sessions:
            session.closed = True
            if session.container is not None:
                left.append(session.container)
                session.container = None
        return left

    def __len__(self) -> int:
        return len(self._sessions)

    def _end(self, session: Session) -> None:
        session.closed = True
        if session.container is not None:
            self._retire(session.container)
            session.container = None

    def _evict_beyond_cap(self) -> None:
        """Called with the table lock held: close the least recently used idle sessions."""
        excess = len(self._sessions) - self.max_sessions
        if excess <= 0:
            return
        for session in sorted(self._sessions.values(), key=lambda s: s.last_used):
            if excess <= 0:
                break
            if session.lock.acquire(blocking=False):
                try:
                    del self._sessions[session.name]
                    self._end(session)
                    excess -= 1
                finally:
                    session.lock.release()

    def _reap_loop(self) -> None:
        interval = max(0.2, min(self.ttl_s / 4, 10.0))
        while not self._stop.wait(interval):
            now = time.monotonic()
            with self._lock:
                stale = [s for s in self._sessions.values() if now - s.last_used > self.ttl_s]
                for session in stale:
                    if session.lock.acquire(blocking=False):  # never reap a session mid-run
                        try:
                            del self._sessions[session.name]
                            self._end(session)
                        finally:
                            session.lock.release()
