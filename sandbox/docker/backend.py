"""The Docker backend: real CPython in locked-down containers, behind the common contract.

A run goes to a warm container's runner over the engine's attach socket; the runner forks a
fresh child per run (its own work dir, Landlock-confined, wiped afterwards), so a pooled container
serves many runs that never see each other. A session gets a container of its own. Limits are
enforced twice: by the runner (wall clock, memory, output) and by the container (cgroups for
memory, pids and CPU; no network; read-only root). If the runner does not answer by the deadline
the host kills the container itself -- the docker SDK's ``wait(timeout=)`` is only an HTTP timeout.

This module keeps the pools, the sessions and the containers' lifetime; one run's conversation
with a runner (deadlines, cancel, and judging its replies) is ``sandbox.docker.conversation``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import secrets
import threading
import time
import warnings
import weakref
from typing import Any

import docker
import docker.errors

from mistral_executor.settings import get_settings
from sandbox.contract import (
    Limits,
    OutputCallback,
    RunResult,
    Sandbox,
    SandboxError,
    cancelled,
)
from sandbox.docker import errors
from sandbox.docker.containers import ContainerSpec, RunnerContainer, remove_orphans
from sandbox.docker.conversation import NotAccepted, converse
from sandbox.docker.image import staleness
from sandbox.docker.pool import WarmPool
from sandbox.docker.replies import failure
from sandbox.docker.sessions import SessionTable
from sandbox.runtime.streaming import OutputRelay

DEFAULT_IMAGE = "mistral-executor-sandbox:latest"
IMAGE_ENV = "MISTRAL_EXECUTOR_DOCKER_IMAGE"
# Past the run's own timeout, how long the host waits for the runner's reply before it kills the
# container: the runner kills its child at the timeout, so only a wedged runner needs this.
REPLY_GRACE_S = 5.0
STATE_LOST_NOTE = (
    "[sandbox] this session's earlier state was lost (its process was stopped by a limit, a "
    "crash, an invalid reply or a cancelled run); this run started with fresh variables\n"
)


def default_image() -> str:
    return get_settings().docker_image or DEFAULT_IMAGE


class DockerSandbox(Sandbox):
    """``create_sandbox("docker", limits=..., image=..., pool_size=..., session_ttl_s=...)``.

    Options: ``image`` (default $MISTRAL_EXECUTOR_DOCKER_IMAGE or mistral-executor-sandbox:latest;
    never pulled), ``pool_size`` warm containers kept ready, ``max_containers`` in use at once per
    set of limits (further runs wait), ``pool_idle_ttl_s`` before extra idle containers retire,
    ``session_ttl_s`` before an idle session's container is removed, ``max_sessions`` open at once
    (the least recently used goes first), ``work_dir_mb`` for the /work tmpfs,
    ``start_timeout_s`` for a container to become ready, ``reply_grace_s`` past a run's timeout
    before the host kills a silent container. A session's container keeps the memory, process and
    CPU limits of its first run; timeout and output limits apply per run.
    """

    name = "docker"

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        image: str | None = None,
        pool_size: int = 2,
        max_containers: int = 4,
        pool_idle_ttl_s: float = 60.0,
        session_ttl_s: float = 600.0,
        max_sessions: int = 32,
        work_dir_mb: int = 256,
        start_timeout_s: float = 60.0,
        reply_grace_s: float = REPLY_GRACE_S,
        client: docker.DockerClient | None = None,
    ) -> None:
        super().__init__(limits)
        self.image = image or default_image()
        self.pool_size = pool_size
        self.max_containers = max_containers
        self.pool_idle_ttl_s = pool_idle_ttl_s
        self.work_dir_mb = work_dir_mb
        self.start_timeout_s = start_timeout_s
        self.reply_grace_s = reply_grace_s
        self._client = client or connect()
        self._closed = False
        self._lock = threading.Lock()
        self._pools: dict[ContainerSpec, WarmPool] = {}
        self.isolation: dict[str, Any] = {}
        try:
            image_labels = self._client.images.get(self.image).labels
        except docker.errors.ImageNotFound:
            raise errors.image_missing(self.image) from None
        except Exception as exc:
            raise errors.translate(exc, self.image) from None
        self.image_warning = staleness(image_labels, self.image)
        if self.image_warning:
            warnings.warn(self.image_warning, stacklevel=2)
        self.orphans_removed = remove_orphans(self._client)
        self._sessions = SessionTable(self._retire, ttl_s=session_ttl_s, max_sessions=max_sessions)
        self._pool_for(self._spec(self.limits), warm=pool_size)
        _live_sandboxes.add(self)

    # ------------------------------------------------------------------ contract

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
        """See ``Sandbox.run``. On ``cancel`` the runner kills the run's process (and all it
        started) and answers at once; a runner that does not within CANCEL_GRACE_S
        (``sandbox.docker.conversation``) loses its container. A cancelled session run loses the
        session's process: its next run starts with fresh variables."""
        if self._closed:
            raise SandboxError("the docker sandbox is closed")
        limits = limits or self.limits
        started = time.monotonic()
        if cancel is not None and cancel.is_set():
            return cancelled(self.name)
        request = {
            "op": "run",
            "run": secrets.token_hex(16),  # every reply to this request must carry it back
            "code": code,
            "files": encode_files(files or {}),
            "limits": {
                "timeout_s": limits.timeout_s,
                "memory_mb": limits.memory_mb,
                "max_output_bytes": limits.max_output_bytes,
                "max_file_bytes": limits.max_file_bytes,
            },
            "session": session_id,
        }
        relay = None
        if on_output is not None:
            request["stream"] = True
            relay = OutputRelay(on_output, request["run"], limits.max_output_bytes)
        spec = self._spec(limits)
        for attempt in (1, 2):
            try:
                if session_id is None:
                    result = self._run_in_pool(spec, request, limits, cancel, relay)
                else:
                    result = self._run_in_session(session_id, spec, request, limits, cancel, relay)
                break
            except NotAccepted as exc:
                if attempt == 2:
                    result = failure("crash", "SandboxCrash", f"the sandbox container died: {exc}")
        result.backend = self.name
        result.duration_ms = (time.monotonic() - started) * 1000
        return result

    def close_session(self, session_id: str) -> None:
        self._sessions.close(session_id)

    def close(self) -> None:
        """Remove every container of this sandbox and stop its threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pools = list(self._pools.values())
        _live_sandboxes.discard(self)
        left = self._sessions.close_all()
        for pool in pools:
            left += pool.close()
        _remove_all(left)
        with contextlib.suppress(Exception):
            self._client.close()

    # ------------------------------------------------------------------ internals

    def _spec(self, limits: Limits) -> ContainerSpec:
        return ContainerSpec.for_limits(self.image, limits, self.work_dir_mb)

    def _pool_for(self, spec: ContainerSpec, warm: int = 0) -> WarmPool:
        """The pool of containers created with ``spec``; other limits than the sandbox's own get a
        pool that keeps nothing warm (their containers start on demand and retire when idle)."""
        with self._lock:
            if self._closed:
                raise SandboxError("the docker sandbox is closed")
            pool = self._pools.get(spec)
            if pool is None:
                pool = WarmPool(
                    lambda: self._start_container(spec),
                    size=warm,
                    max_size=self.max_containers,
                    idle_ttl_s=self.pool_idle_ttl_s,
                    name=f"pool-{spec.memory_mb}m",
                )
                self._pools[spec] = pool
            return pool

    def _start_container(self, spec: ContainerSpec) -> RunnerContainer:
        container = RunnerContainer(self._client, spec)
        ready = container.wait_ready(self.start_timeout_s)
        self.isolation = ready.get("isolation", {})
        return container

    def _retire(self, container: RunnerContainer) -> None:
        pool = self._pools.get(container.spec)
        if pool is not None and not self._closed:
            pool.retire(container)
        else:
            _remove_quietly(container)

    def _run_in_pool(
        self,
        spec: ContainerSpec,
        request: dict[str, Any],
        limits: Limits,
        cancel: threading.Event | None,
        relay: OutputRelay | None = None,
    ) -> RunResult:
        pool = self._pool_for(spec)
        container = pool.acquire(self.start_timeout_s)
        try:
            return self._converse(container, request, limits, cancel, relay)[0]
        finally:
            pool.release(container)

    def _run_in_session(
        self,
        session_id: str,
        spec: ContainerSpec,
        request: dict[str, Any],
        limits: Limits,
        cancel: threading.Event | None,
        relay: OutputRelay | None = None,
    ) -> RunResult:
        session = self._sessions.checkout(session_id)
        try:
            container = session.container
            if container is None or container.broken or container.looks_dead():
                if session.container is not None:
                    self._retire(session.container)
                pool = self._pool_for(spec)
                session.container = pool.acquire(self.start_timeout_s)
                pool.detach(session.container)
            try:
                result, fresh = self._converse(session.container, request, limits, cancel, relay)
                if fresh and session.runs:
                    result.stderr = STATE_LOST_NOTE + result.stderr
                session.runs += 1
                return result
            finally:
                if session.container.broken:
                    self._retire(session.container)
                    session.container = None
        finally:
            self._sessions.checkin(session)

    def _converse(
        self,
        container: RunnerContainer,
        request: dict[str, Any],
        limits: Limits,
        cancel: threading.Event | None = None,
        relay: OutputRelay | None = None,
    ) -> tuple[RunResult, bool]:
        """One request/reply with a container's runner (``sandbox.docker.conversation``), with
        this sandbox's grace period past the run's timeout."""
        return converse(
            container,
            request,
            limits,
            reply_grace_s=self.reply_grace_s,
            backend=self.name,
            cancel=cancel,
            relay=relay,
        )


# ---------------------------------------------------------------------------------- helpers


def connect() -> docker.DockerClient:
    """A client for the engine DOCKER_HOST names, or a SandboxError naming the fix."""
    try:
        return docker.from_env(timeout=30)
    except Exception as exc:
        raise errors.engine_error(exc) from None


def encode_files(files: dict[str, bytes]) -> dict[str, str]:
    encoded = {}
    for name, content in files.items():
        parts = name.replace("\\", "/").split("/")
        if not name or name.startswith("/") or ".." in parts or "\0" in name:
            raise ValueError(
                f"input file name {name!r} must be a relative path inside the work dir"
            )
        if not isinstance(content, bytes | bytearray):
            raise TypeError(f"input file {name!r} must be bytes, not {type(content).__name__}")
        encoded[name] = base64.b64encode(bytes(content)).decode("ascii")
    return encoded


def _remove_quietly(container: RunnerContainer) -> None:
    with contextlib.suppress(Exception):
        container.remove()


def _remove_all(containers: list[RunnerContainer]) -> None:
    """Remove containers in parallel. Plain threads, not an executor: at interpreter exit
    (the atexit hook below) ``concurrent.futures`` refuses new work, which once left every
    container behind; where no thread can start any more, they go one after another."""
    threads = []
    for container in containers:
        thread = threading.Thread(target=_remove_quietly, args=(container,), daemon=True)
        try:
            thread.start()
        except RuntimeError:
            _remove_quietly(container)
            continue
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=60)


# Sandboxes the program forgot to close still lose their containers when it exits normally; a
# crash leaves them to the next start-up's orphan sweep.
_live_sandboxes: weakref.WeakSet[DockerSandbox] = weakref.WeakSet()


@atexit.register
def _close_forgotten_sandboxes() -> None:
    for sandbox in list(_live_sandboxes):
        with contextlib.suppress(Exception):
            sandbox.close()
