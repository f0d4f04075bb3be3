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
from executor.sandbox_access import shared_sandbox
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
    sandbox = shared_sandbox(settings.sandbox, settings.limits())
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
