"""The web app's public API: ``run_task``, ``run_code`` and ``list_models`` for ``gradio_client``.

The same rules as the UI apply, because the same code decides them: the visitor's key (the
``api_key`` parameter) or else the host's (``resolve_credentials``), the UI's caps on sizes and
limits, the UI's concurrency groups (an API run waits in the same queue as a Chat or Sandbox
run), and trace privacy (runs land in the trace store like a Chat run, and in private mode no
other visitor's Traces tab lists them; the API has no endpoint that lists runs).

With ``MISTRAL_EXECUTOR_MCP_SERVER=1`` the host also serves these endpoints as MCP tools
(Gradio's ``mcp_server``, at ``/gradio_api/mcp/``); see docs/mcp.md.

Usage::

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    client.predict("print(6 * 7)", api_name="/run_code")
    client.predict("Plot sin(x)", api_key="...", images=[handle_file("photo.png")],
                   api_name="/run_task")
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from app.mcp import service
from app.ui import services
from app.ui.chat_files import check_uploads
from app.ui.session import (
    MAX_ITERATIONS_CAP,
    MEMORY_CAP_MB,
    MIN_MEMORY_MB,
    TIMEOUT_CAP_S,
    SessionSettings,
    private_mode,
    resolve_credentials,
)
from executor.mistral import MistralError
from mistral_executor.settings import get_settings
from sandbox import SandboxError

log = logging.getLogger(__name__)

MCP_ENV = "MISTRAL_EXECUTOR_MCP_SERVER"
# One request's text files, read as context for the planner.
NO_KEY = (
    "No Mistral API key: pass your key as api_key (get one at "
    "https://console.mistral.ai/api-keys). run_code works without a key."
)


def _caps() -> service.Caps:
    from app.ui.chat import MAX_TASK_CHARS
    from app.ui.sandbox_tab import MAX_CODE_CHARS

    return service.Caps(
        max_code_chars=MAX_CODE_CHARS,
        max_task_chars=MAX_TASK_CHARS,
        max_timeout_s=TIMEOUT_CAP_S,
        max_memory_mb=MEMORY_CAP_MB,
        min_memory_mb=MIN_MEMORY_MB,
        max_attempts=MAX_ITERATIONS_CAP,
    )


def mcp_enabled() -> bool:
    """Whether the host turned on Gradio's MCP server for these endpoints."""
    return get_settings().mcp_server


def _uploaded_paths(items: list[Any] | None, what: str) -> list[Path]:
    """Paths of files the client uploaded. Gradio validated and cached every value marked as
    ``gradio.FileData`` before this runs; anything else (a bare path string, a dict without
    the marker) is refused, and each path must lie in Gradio's upload cache."""
    paths = []
    cache = Path(gr.utils.get_upload_folder()).resolve()
    for item in items or []:
        meta = item.get("meta") if isinstance(item, dict) else None
        path = item.get("path") if isinstance(item, dict) else None
        if not (isinstance(meta, dict) and meta.get("_type") == "gradio.FileData" and path):
            raise gr.Error(f"{what} must be uploaded files (gradio_client.handle_file(...))")
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(cache) or not resolved.is_file():
            raise gr.Error(f"{what}: {Path(path).name} is not an uploaded file")
        paths.append(resolved)
    return paths


def run_task(
    task: str,
    api_key: str = "",
    files: list[FileData] | None = None,
    images: list[FileData] | None = None,
    context: str = "",
    sandbox: str = "",
    max_attempts: int = 3,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
) -> dict[str, Any]:
    """Solve a task: plan, write, run, check and repair Python (the Chat tab's loop).

    Args:
        task: what to do, in plain words.
        api_key: your Mistral API key (else the host's, if the host set one).
        files: data files (CSV, TSV, XLSX, JSON, Parquet, TXT, PDF) put in the program's work
            dir under their names and profiled for the planner (at most
            MISTRAL_EXECUTOR_MAX_FILES files of MISTRAL_EXECUTOR_MAX_FILE_MB MB each).
        images: images for the vision model.
        context: extra information for the planner.
        sandbox: backend for the program: auto, restricted, jail, docker or a plugin's (blank: the host's default).
        max_attempts: programs that may be tried (1-10).
        timeout_s: wall-clock limit per program run, in seconds.
        memory_mb: memory limit per program run, in MB.

    Returns: JSON with success, output, code, artifacts and images (base64), plan, attempts,
    run_id, stop_reason and errors.
    """
    caps = _caps()
    try:
        image_paths = _uploaded_paths(images, "images")
        file_paths = _uploaded_paths(files, "files")
        text = service.check_task(task, image_paths, caps)
        backend = service.check_backend(sandbox)
    except service.RequestError as exc:
        raise gr.Error(str(exc)) from None
    refused = check_uploads([str(p) for p in file_paths])
    if refused:
        raise gr.Error(refused.replace("**", ""))
    settings = SessionSettings().with_changes(
        sandbox=backend,
        max_iterations=max_attempts,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
    )
    credentials = resolve_credentials(api_key, settings)
    if not credentials.ready:
        raise gr.Error(NO_KEY)
    # A request has no browser session: in private mode its documents live in a temporary
    # library of its own, dropped when the run ends.
    documents_home, created = services.session_documents_home(None)
    run = None
    try:
        run = services.build_run(credentials, settings, Path(documents_home))
        result = run.executor.execute(
            text or "Look at the attached image(s) and do what they call for.",
            context or "",
            images=image_paths,
            files=file_paths,
        )
    except (ValueError, MistralError, SandboxError) as exc:
        raise gr.Error(f"Cannot run the task: {exc}") from None
    finally:
        if run is not None:
            run.close()
        if private_mode() and created:
            shutil.rmtree(created, ignore_errors=True)
    return service.task_result_json(result)


def run_code(
    code: str, backend: str = "", timeout_s: float = 10.0, memory_mb: int = 512
) -> dict[str, Any]:
    """Run Python in the sandbox alone (no model, no key): the Sandbox tab.

    Args:
        code: the Python source.
        backend: auto, restricted, docker or a plugin's (blank: the host's default).
        timeout_s: wall-clock limit in seconds (0.5-120).
        memory_mb: memory limit in MB (64-2048).

    Returns: the RunResult as JSON (ok, stdout, stderr, error, limit_hit, images and files as
    base64, duration_ms, backend).
    """
    try:
        result = service.run_code(code, backend, timeout_s, memory_mb, caps=_caps())
    except service.RequestError as exc:
        raise gr.Error(str(exc)) from None
    except SandboxError as exc:
        raise gr.Error(f"The sandbox could not start: {exc}") from None
    return service.run_result_json(result)


def list_models(api_key: str = "") -> dict[str, Any]:
    """The models the server offers, with their capabilities, and which fit each role.

    Args:
        api_key: your Mistral API key (else the host's, if the host set one).

    Returns: JSON with models (id, capabilities, ...), roles (role -> model ids) and a message.
    """
    from app.ui.models import ROLES
    from executor.mistral import ROLE_NEEDS

    settings = SessionSettings()
    credentials = resolve_credentials(api_key, settings)
    if not credentials.ready:
        raise gr.Error(NO_KEY)
    try:
        with services.mistral_client(credentials, settings) as client:
            models = client.list_models(refresh=True)
            fallback = client.catalog.last_error
    except MistralError as exc:
        raise gr.Error(f"Could not list the models: {exc}") from None
    roles = {
        role: [m.id for m in models if all(m.has(need) for need in ROLE_NEEDS[role])]
        for role in ROLES
    }
    message = (
        f"the server's list is unavailable ({fallback}); this is the built-in list"
        if fallback is not None
        else f"{len(models)} models on the server"
    )
    return {
        "models": [m.to_dict() for m in models],
        "roles": roles,
        "message": message,
        "key_source": credentials.source,  # "session", "environment" or "none"
    }


def run_python(code: str, backend: str = "", timeout: float = 10.0) -> dict[str, Any]:
    """Run Python code in a locked-down sandbox and return what it printed (no model, no key).

    Args:
        code: the Python source to run.
        backend: auto, restricted, jail, docker or a plugin's (blank: the host's default).
        timeout: wall-clock limit in seconds (0.5-120).

    Returns: the RunResult as JSON (ok, stdout, stderr, error, limit_hit, images and files as
    base64, duration_ms, backend).
    """
    return run_code(code, backend, timeout)


def execute_task(
    task: str,
    api_key: str = "",
    context: str = "",
    backend: str = "",
    max_attempts: int = 3,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Plan, write, run, check and repair a Python program for a task (Mistral models).

    Args:
        task: what to do, in plain words.
        api_key: your Mistral API key (else the host's, if the host set one).
        context: optional extra information for the planner (data, constraints).
        backend: sandbox backend for the program (blank: the host's default).
        max_attempts: how many programs may be tried (1-10).
        timeout: wall-clock limit per program run, in seconds.

    Returns: JSON with success, output, code, artifacts, images, plan, attempts and run_id.
    """
    return run_task(
        task,
        api_key,
        context=context,
        sandbox=backend,
        max_attempts=max_attempts,
        timeout_s=timeout,
    )


def register_api() -> None:
    """Add the endpoints to the ``gr.Blocks`` being built, in the UI's concurrency groups."""
    from app.ui.chat import CHAT_CONCURRENCY
    from app.ui.sandbox_tab import SANDBOX_CONCURRENCY

    gr.api(
        run_task,
        api_name="run_task",
        concurrency_limit=CHAT_CONCURRENCY,
        concurrency_id="chat",
    )
    gr.api(
        run_code,
        api_name="run_code",
        concurrency_limit=SANDBOX_CONCURRENCY,
        concurrency_id="sandbox",
    )
    gr.api(list_models, api_name="list_models", concurrency_limit=4)
    if mcp_enabled():
        # Served over MCP, the app offers the same tool names as `mistral-executor mcp`.
        gr.api(
            run_python,
            api_name="run_python",
            concurrency_limit=SANDBOX_CONCURRENCY,
            concurrency_id="sandbox",
        )
        gr.api(
            execute_task,
            api_name="execute_task",
            concurrency_limit=CHAT_CONCURRENCY,
            concurrency_id="chat",
        )
