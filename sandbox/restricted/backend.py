"""The restricted backend as the host sees it: a RestrictedPython policy run in a warm pool of
locked-down fork-servers (see ``sandbox.runtime.forkserver`` and ``worker_main``).

Thread-safe: every ``run`` borrows a whole fork-server for its duration; session runs always go
to the fork-server holding the session's process.

This module keeps the host's bookkeeping: work dirs, sessions, the files a run leaves. One run's
round trip with a fork-server (and what each way of failing means) is ``exchange``; what a
worker process starts with is ``worker_env``.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from sandbox.contract import (
    ErrorInfo,
    Limits,
    OutputCallback,
    RunResult,
    Sandbox,
    SandboxError,
    cancelled,
)
from sandbox.restricted import exchange, workdir
from sandbox.restricted.isolation import degraded_notes
from sandbox.restricted.pool import ForkServerPool, ForkServerProcess, PoolClosed, WorkerDied
from sandbox.restricted.replies import failure
from sandbox.restricted.worker_env import WORKER_ENV, matplotlib_cache_dir
from sandbox.restricted.worker_env import project_root as _project_root
from sandbox.restricted.worker_main import DEFAULT_POLICY_MODULE
from sandbox.runtime.lockdown import NOBODY
from sandbox.runtime.protocol import FrameTimeout, ProtocolError

BACKEND = "restricted"
BASE_DIR_PREFIX = "mistral-executor-"
DEFAULT_SESSION_TTL_S = 30 * 60.0
DEFAULT_MAX_WORKDIR_MB = 256  # all work dirs of one sandbox together (sessions accumulate)
MAX_WORKDIR_FILES = 16_384
STATE_LOST_NOTE = (
    "[sandbox] this session's earlier state was lost (its process was stopped by a limit, a "
    "crash, an invalid reply or a cancelled run); this run started with fresh variables\n"
)


@dataclass
class _Session:
    slot: int
    workdir: str
    last_used: float = field(default_factory=time.monotonic)
    runs: int = 0


class RestrictedSandbox(Sandbox):
    """Runs code under the RestrictedPython policy in fork-server worker processes.

    ``allowed_imports`` replaces the default import allow-list; ``pool_size`` is the number of
    fork-servers (default: one per CPU); idle sessions are dropped after ``session_ttl_s``.
    ``max_workdir_mb`` caps the disk all work dirs of this sandbox may use together (as root
    they live on a tmpfs of that size, and a write past it fails with ENOSPC in the code).
    """

    name = BACKEND
    restricted_python = True

    def __init__(
        self,
        limits: Limits | None = None,
        allowed_imports: list[str] | tuple[str, ...] | None = None,
        pool_size: int | None = None,
        session_ttl_s: float = DEFAULT_SESSION_TTL_S,
        max_workdir_mb: int = DEFAULT_MAX_WORKDIR_MB,
        **options: Any,
    ) -> None:
        super().__init__(limits)
        self._allowed_imports = list(allowed_imports) if allowed_imports is not None else None
        self.session_ttl_s = session_ttl_s
        self._policy_module = options.get("policy_module")  # tests may swap the policy
        self._host_policy: Any = None
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._closed = False
        self._reaper: threading.Thread | None = None
        self._stop_reaper = threading.Event()
        # Leftovers of sandboxes whose process was killed (their tmpfs still mounted) go first.
        self.orphans_removed = workdir.remove_orphans(BASE_DIR_PREFIX)
        try:
            self._base_dir = workdir.make_base_dir(BASE_DIR_PREFIX, os.geteuid() == 0)
        except OSError as exc:
            raise SandboxError(f"cannot make the sandbox's work dir root: {exc}") from None
        self.max_workdir_mb = int(max_workdir_mb)
        self._size_cap_problem = workdir.mount_size_cap(
            self._base_dir, self.max_workdir_mb, MAX_WORKDIR_FILES
        )
        # Also runs at interpreter exit for a sandbox never closed: no tmpfs is left mounted.
        self._release_base_dir = weakref.finalize(
            self, _release_base_dir, self._base_dir, self._size_cap_problem is None
        )
        self._mpl_dir = matplotlib_cache_dir(self._base_dir)
        try:
            self._pool = ForkServerPool(pool_size or os.cpu_count() or 1, self._spawn)
        except BaseException:
            self._release_base_dir()
            raise
        self._owner = NOBODY if self.isolation.get("privileges_dropped") else None

    # ------------------------------------------------------------------ workers

    def _spawn(self) -> ForkServerProcess:
        options = {"allowed_imports": self._allowed_imports, "policy_module": self._policy_module}
        boot = (
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from sandbox.restricted.worker_main import main; main(sys.argv[2:])"
        )
        argv = [sys.executable, "-I", "-c", boot, _project_root(), json.dumps(options)]
        return ForkServerProcess(argv, {**WORKER_ENV, "MPLCONFIGDIR": self._mpl_dir})

    @property
    def allowed_imports(self) -> tuple[str, ...]:
        """The import allow-list the workers enforce: the one given, else the policy's default."""
        allowed = self._allowed_imports
        if allowed is None:
            module = importlib.import_module(self._policy_module or DEFAULT_POLICY_MODULE)
            allowed = list(module.DEFAULT_ALLOWED_IMPORTS)
        return tuple(sorted(allowed))

    @property
    def isolation(self) -> dict[str, Any]:
        """What the kernel granted the workers: network/mount namespaces, dropped privileges,
        the Landlock ABI (0 = none)."""
        return dict(self._pool.slots[0].server.isolation or {})

    @property
    def degraded(self) -> list[str]:
        """Isolation layers this machine could not provide (empty when all are in place), each
        with what still holds without it (see docs/security.md)."""
        return degraded_notes(self.isolation, self._size_cap_problem)

    @property
    def pool_size(self) -> int:
        return self._pool.size

    # ------------------------------------------------------------------ running

    def run(
        self,
        code: str,
        *,
        files: dict[str, bytes] | None = None,
        session_id: str | None = None,
        limits: Limits | None = None,
        cancel: threading.Event | None = None,
        on_output: OutputCallback | None = None,
    ) -> RunResult:
        """See ``Sandbox.run``. A cancelled run's process is killed at once (within
        ``CANCEL_GRACE_S`` the fork-server confirms, else the whole fork-server is replaced);
        a cancelled session run loses the session's process, and the next run of that session
        starts with fresh variables and a note on stderr saying so."""
        started = time.perf_counter()
        limits = limits or self.limits
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        if self._closed:
            raise SandboxError("this sandbox is closed")
        if cancel is not None and cancel.is_set():
            return cancelled(self.name)
        try:
            session = self._session(session_id) if session_id is not None else None
            run_dir = (
                session.workdir if session else workdir.make_workdir(self._base_dir, self._owner)
            )
        except OSError as exc:
            return self._workspace_full(exc, started)
        try:
            try:
                workdir.write_inputs(run_dir, files or {}, self._owner)
            except OSError as exc:
                return self._workspace_full(exc, started)
            before = workdir.snapshot(run_dir)
            result, session_new = self._execute(
                code, run_dir, limits, session_id, session, cancel, on_output
            )
            try:
                collected, notes = workdir.collect_changed(
                    run_dir, before, limits.max_file_bytes, self._owner
                )
            except FileNotFoundError:  # the session was closed meanwhile, its dir removed
                collected, notes = {}, []
        finally:
            if session is None:
                workdir.remove_workdir(run_dir)
        result.files = collected
        if notes:
            result.stderr += "".join(f"[sandbox] {note}\n" for note in notes)
        if session is not None:
            if session_new and session.runs:
                result.stderr = STATE_LOST_NOTE + result.stderr
            session.runs += 1
            session.last_used = time.monotonic()
            if self._size_cap_problem is not None:
                result = self._check_session_size(session_id, session, result)  # type: ignore[arg-type]
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _workspace_full(self, exc: OSError, started: float) -> RunResult:
        """The host could not place the run's work dir or inputs because the work space is
        full: the run's failure, not the caller's exception. Other OSErrors are real bugs."""
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise exc
        message = (
            f"the sandbox's work space is full (max_workdir_mb={self.max_workdir_mb}): close "
            "sessions that hold large files, or write less"
        )
        result = failure(self.name, "limit", "OSError", message, "output")
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _check_session_size(
        self, session_id: str, session: _Session, result: RunResult
    ) -> RunResult:
        """Without the tmpfs, a session that grew past the cap is closed after its run."""
        used, _entries = workdir.disk_usage(session.workdir)
        if used <= self.max_workdir_mb * 1024 * 1024:
            return result
        self.close_session(session_id)
        message = (
            f"the session's work dir grew to {used // (1024 * 1024)} MB, over the "
            f"max_workdir_mb cap of {self.max_workdir_mb} MB: the session was closed and its "
            "files removed"
        )
        capped = failure(self.name, "limit", "OSError", message, "output")
        capped.stdout, capped.stderr, capped.images = result.stdout, result.stderr, result.images
        capped.files = result.files
        return capped

    def _execute(
        self,
        code: str,
        run_dir: str,
        limits: Limits,
        session_id: str | None,
        session: _Session | None,
        cancel: threading.Event | None = None,
        on_output: OutputCallback | None = None,
    ) -> tuple[RunResult, bool]:
        """One run's round trip with a fork-server (``sandbox.restricted.exchange``). The jail
        overrides this to send its workers the work dir's path as they see it."""
        return exchange.execute(
            self._pool,
            self.name,
            code,
            run_dir,
            limits,
            session_id=session_id,
            slot_index=session.slot if session else None,
            cancel=cancel,
            on_output=on_output,
        )

    # ------------------------------------------------------------------ sessions

    def _session(self, session_id: str) -> _Session:
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("session_id must be a non-empty string")
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                slot = self._pool.least_loaded()
                session = _Session(slot.index, workdir.make_workdir(self._base_dir, self._owner))
                slot.sessions.add(session_id)
                self._sessions[session_id] = session
                self._start_reaper()
            session.last_used = time.monotonic()
            return session

    def close_session(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return
        try:
            with self._pool.lease(session.slot) as slot:
                slot.sessions.discard(session_id)
                try:
                    slot.server.request({"op": "close_session", "session": session_id}, 10.0, 4096)
                except (FrameTimeout, WorkerDied, ProtocolError, OSError):
                    self._pool.replace(slot)
        except (PoolClosed, SandboxError):
            pass
        finally:
            workdir.remove_workdir(session.workdir)

    def _start_reaper(self) -> None:
        if self._reaper is None and self.session_ttl_s > 0:
            self._reaper = threading.Thread(
                target=self._reap_idle_sessions, name="restricted-session-reaper", daemon=True
            )
            self._reaper.start()

    def _reap_idle_sessions(self) -> None:
        interval = min(max(self.session_ttl_s / 4, 0.05), 30.0)
        while not self._stop_reaper.wait(interval):
            now = time.monotonic()
            with self._lock:
                idle = [
                    sid
                    for sid, s in self._sessions.items()
                    if now - s.last_used > self.session_ttl_s
                ]
            for session_id in idle:
                self.close_session(session_id)

    # ------------------------------------------------------------------ the rest of the contract

    def preflight(self, code: str) -> ErrorInfo | None:
        """Syntax and policy refusals, checked in the host without running anything."""
        policy = self._policy_for_checks()
        if policy is None:
            return super().preflight(code)
        info = policy.check(code)
        if not info:
            return None
        fields = ("type", "message", "traceback", "lineno", "kind")
        return ErrorInfo(**{key: info[key] for key in fields if key in info})

    def _policy_for_checks(self) -> Any:
        if self._host_policy is None:
            try:
                from sandbox.restricted.worker_main import build_policy

                options = {
                    "allowed_imports": self._allowed_imports,
                    "policy_module": self._policy_module,
                }
                self._host_policy = build_policy(options)
            except ImportError:
                return None
        return self._host_policy

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sessions, self._sessions = list(self._sessions.values()), {}
        self._stop_reaper.set()
        self._pool.close()
        if self._reaper is not None:
            self._reaper.join()
        for session in sessions:
            workdir.remove_workdir(session.workdir)
        self._release_base_dir()


def _release_base_dir(path: str, mounted: bool) -> None:
    if mounted:
        workdir.unmount(path)
    workdir.remove_workdir(path)
