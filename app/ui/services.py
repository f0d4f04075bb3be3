"""The app's wiring to the executor, the plugins and the trace store.

Kept apart from the tab modules so the handlers stay plain functions over plain data, and so the
one decision that matters for hosting lives in one place: in *private mode* (on a Hugging Face
Space, or with ``MISTRAL_EXECUTOR_UI_PRIVATE=1``; see :func:`app.ui.session.private_mode`)
visitors are strangers, so each session only sees its own runs and its own uploaded documents. Locally the app shows the whole store (CLI runs
included) and uses the shared document library under ``MISTRAL_EXECUTOR_HOME``.
"""

from __future__ import annotations

import atexit
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ui.session import Credentials, SessionSettings, private_mode
from executor import Executor, TraceStore
from executor.trace_store import default_db_path
from sandbox import ErrorInfo, Limits, RunResult, Sandbox, create_sandbox

log = logging.getLogger(__name__)

_store_lock = threading.Lock()
_reader: TraceStore | None = None
_sandbox_lock = threading.Lock()
_sandboxes: dict[str, Sandbox] = {}


class SessionSandbox(Sandbox):
    """A process-wide warm sandbox, seen with one session's limits.

    Starting a backend's warm pool costs seconds; every visitor's runs share one per backend and
    pass their own limits with each run (the contract's per-run ``limits``). Keying pools by
    limits instead would let visitors start a pool per combination they pick. ``close()`` leaves
    the shared sandbox running: it outlives any one run.
    """

    def __init__(self, inner: Sandbox, limits: Limits) -> None:
        super().__init__(limits)
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # e.g. allowed_modules, read by the executor
        return getattr(self.inner, name)

    def run(
        self,
        code: str,
        *,
        files: dict[str, bytes] | None = None,
        session_id: str | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        return self.inner.run(code, files=files, session_id=session_id,
                              limits=limits or self.limits)

    def preflight(self, code: str) -> ErrorInfo | None:
        return self.inner.preflight(code)

    def close_session(self, session_id: str) -> None:
        self.inner.close_session(session_id)

    def close(self) -> None:
        """Nothing to release: the shared sandbox stays warm for the next run."""


def session_sandbox(backend: str, limits: Limits) -> SessionSandbox:
    """The shared sandbox for ``backend`` (started on first use) with these limits.

    Raises ``SandboxError`` when the backend cannot be used; a failed start is not cached.
    """
    with _sandbox_lock:
        inner = _sandboxes.get(backend)
        if inner is None:
            inner = _sandboxes[backend] = create_sandbox(backend)
            if len(_sandboxes) == 1:
                atexit.register(close_sandboxes)
    return SessionSandbox(inner, limits)


def close_sandboxes() -> None:
    with _sandbox_lock:
        boxes = list(_sandboxes.values())
        _sandboxes.clear()
    for box in boxes:
        try:
            box.close()
        except Exception:
            log.exception("closing the %s sandbox failed", box.name)


def trace_db_path() -> Path:
    return default_db_path()


def trace_store() -> TraceStore:
    """One reader for the Traces tab (thread-safe; it never learns any API key)."""
    global _reader
    with _store_lock:
        if _reader is None or _reader.path != trace_db_path():
            if _reader is not None:  # MISTRAL_EXECUTOR_HOME changed (tests do that)
                _reader.close()
            _reader = TraceStore(trace_db_path())
        return _reader


def session_documents_home(session_home: str | None) -> tuple[Path, str]:
    """Where this session's document library lives, and a fresh session home if one was needed."""
    if not private_mode():
        from plugins.connectors import executor_home

        return executor_home(), session_home or ""
    if not session_home:
        session_home = tempfile.mkdtemp(prefix="mistral-executor-session-")
    return Path(session_home), session_home


def connector_context(
    credentials: Credentials,
    documents_home: Path,
    client: Any = None,
    sandbox: Sandbox | None = None,
) -> Any:
    """What the plugins' connectors may use in this session: its key and server, the run's
    client (with its retries) and sandbox when there is a run, and its document library."""
    from plugins import ConnectorContext

    with_key = client is not None and credentials.has_key
    return ConnectorContext.from_env(
        api_key=credentials.api_key,
        server_url=credentials.server_url,
        home=documents_home,
        client=client.sdk if with_key else None,
        chat=(lambda messages: client.chat(messages, role="coder").content) if with_key else None,
        embed=client.embed if with_key else None,
        sandbox=sandbox,  # lent to the local fallbacks (code interpreter, drawing), never closed
    )


def loaded_plugins() -> Any | None:
    """The process's plugins; None if even loading them fails (the app runs without tools)."""
    try:
        from plugins import get_plugins

        return get_plugins()
    except Exception:
        log.exception("the plugins are unavailable; running without tools")
        return None


@dataclass
class SessionRun:
    """One run's executor and the client it shares with the plugins' connectors."""

    executor: Executor
    client: Any

    def close(self) -> None:
        self.executor.close()
        self.client.close()


def build_run(
    credentials: Credentials, settings: SessionSettings, documents_home: Path
) -> SessionRun:
    """A fresh executor for one run, with this session's key, models, sandbox and budget.

    One per run (not per process) because settings and keys differ per visitor, and so the key
    the executor holds for redaction is dropped with it when the run ends. Raises
    ``SandboxError`` when the chosen backend cannot be used.
    """
    sandbox = session_sandbox(settings.sandbox, settings.limits())
    client = mistral_client(credentials, settings)
    plugins = loaded_plugins()
    tools = None
    if plugins is not None:
        ctx = connector_context(credentials, documents_home, client, sandbox)
        tools = plugins.tool_registry(ctx)
    executor = Executor(
        api_key=credentials.api_key,
        server_url=credentials.server_url,
        sandbox=sandbox,
        max_iterations=settings.max_iterations,
        client=client,
        tool_provider=tools,
        store=trace_db_path(),
        observers=[plugins.emit] if plugins is not None else [],
    )
    return SessionRun(executor, client)


def mistral_client(credentials: Credentials, settings: SessionSettings) -> Any:
    from executor.mistral import MistralClient

    return MistralClient(
        api_key=credentials.api_key or "",
        server_url=credentials.server_url,
        models=dict(settings.models) or None,
    )
