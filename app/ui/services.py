"""The app's wiring to the executor, the plugins and the trace store.

Kept apart from the tab modules so the handlers stay plain functions over plain data, and so the
one decision that matters for hosting lives in one place: in *private mode* (on a Hugging Face
Space, or with ``MISTRAL_EXECUTOR_UI_PRIVATE=1``; see :func:`app.ui.session.private_mode`)
visitors are strangers, so each session only sees its own runs and its own uploaded documents. Locally the app shows the whole store (CLI runs
included) and uses the shared document library under ``MISTRAL_EXECUTOR_HOME``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ui.session import Credentials, SessionSettings, private_mode
from executor import Executor, TraceStore, plugin_tools
from executor.assembly import build_executor
from executor.trace_store import default_db_path
from sandbox import Sandbox

log = logging.getLogger(__name__)

_store_lock = threading.Lock()
_reader: TraceStore | None = None


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
    return plugin_tools.connector_context(
        api_key=credentials.api_key,
        server_url=credentials.server_url,
        client=client,
        sandbox=sandbox,
        home=documents_home,
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
    """One run's executor and the client it shares with the plugins' connectors (the executor
    owns both: closing it closes the client)."""

    executor: Executor
    client: Any

    def close(self) -> None:
        self.executor.close()


def build_run(
    credentials: Credentials, settings: SessionSettings, documents_home: Path
) -> SessionRun:
    """A fresh executor for one run, with this session's key, models, sandbox and budget
    (built by ``executor.assembly.build_executor``, as every entry point's are).

    One per run (not per process) because settings and keys differ per visitor, and so the key
    the executor holds for redaction is dropped with it when the run ends. The sandbox is the
    process's warm one for the chosen backend, started now: raises ``SandboxError`` when the
    chosen backend cannot be used.
    """
    plugins = loaded_plugins()
    executor = build_executor(
        api_key=credentials.api_key or "",  # no key: never the host's, unless resolved to it
        server_url=credentials.server_url,
        sandbox=settings.sandbox,
        limits=settings.limits(),
        models=dict(settings.models) or None,
        max_iterations=settings.max_iterations,
        plugins=plugins if plugins is not None else False,
        documents_home=documents_home,
        store=trace_db_path(),
        share_sandbox=True,
        start_sandbox=True,
    )
    return SessionRun(executor, executor.client)


def mistral_client(credentials: Credentials, settings: SessionSettings) -> Any:
    from executor.mistral import MistralClient

    return MistralClient(
        api_key=credentials.api_key or "",
        server_url=credentials.server_url,
        models=dict(settings.models) or None,
    )
