"""The plain functions behind the remote doors: run code, run a task, describe the backends.

The MCP server and the web app's public API both call these, so a request from an MCP client, a
``gradio_client`` script and the UI meet the same checks: bounded code and task sizes, limits
clamped to the host's caps, known backends only, and results turned into the same JSON.
Errors a caller can fix raise ``RequestError`` with a sentence saying what to change.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mistral_executor.settings import get_settings
from plugins.sandboxes import available_backends
from sandbox import Limits, RunResult, SandboxError
from sandbox.factory import backend_specs, resolve_auto
from sandbox.shared import running_shared, shared_sandbox

ENV_SANDBOX = "MISTRAL_EXECUTOR_SANDBOX"
NO_KEY = (
    "execute_task needs a Mistral API key: set MISTRAL_API_KEY in the environment of the "
    'mistral-executor process (for an MCP client, in the server\'s "env" block), or point '
    "MISTRAL_SERVER_URL at a self-hosted server. run_python works without a key."
)


class RequestError(ValueError):
    """A request that cannot run as given; the message says what to change."""


@dataclass(frozen=True)
class Caps:
    """The most a single request may ask for (the UI's sliders stop at the same numbers)."""

    max_code_chars: int = 100_000
    max_task_chars: int = 20_000
    max_timeout_s: float = 120.0
    min_timeout_s: float = 0.5
    max_memory_mb: int = 2048
    min_memory_mb: int = 64
    max_attempts: int = 10
    max_images: int = 8
    max_image_bytes: int = 10 * 1024 * 1024

    def limits(self, timeout_s: float | None, memory_mb: float | None) -> Limits:
        timeout = 10.0 if timeout_s is None else float(timeout_s)
        memory = 512 if memory_mb is None else int(memory_mb)
        return Limits(
            timeout_s=min(max(timeout, self.min_timeout_s), self.max_timeout_s),
            memory_mb=min(max(memory, self.min_memory_mb), self.max_memory_mb),
        )


DEFAULT_CAPS = Caps()


def default_backend() -> str:
    return get_settings().sandbox


def check_backend(backend: str | None) -> str:
    """A backend name the registry knows (the plugins' included), else ``RequestError``."""
    name = (backend or "").strip() or default_backend()
    known = available_backends()
    if name not in known:
        raise RequestError(f"unknown sandbox backend {name!r}; choose one of: {', '.join(known)}")
    return name


def run_code(
    code: str,
    backend: str | None = None,
    timeout_s: float | None = None,
    memory_mb: float | None = None,
    *,
    session_id: str | None = None,
    caps: Caps = DEFAULT_CAPS,
) -> RunResult:
    """Run ``code`` in the process's warm sandbox for ``backend`` under clamped limits.

    ``session_id`` keeps variables between calls with the same id; callers namespace it per
    client so one client can never reach another's session. Raises ``RequestError`` for bad
    input and ``SandboxError`` when the backend cannot be used here.
    """
    code = code or ""
    if not code.strip():
        raise RequestError("the code is empty: send the Python source to run")
    if len(code) > caps.max_code_chars:
        raise RequestError(
            f"the code is too long ({len(code):,} characters; at most {caps.max_code_chars:,})"
        )
    name = check_backend(backend)
    limits = caps.limits(timeout_s, memory_mb)
    return shared_sandbox(name, limits).run(code, session_id=session_id)


def run_result_json(result: RunResult) -> dict[str, Any]:
    """``RunResult.to_dict()``: images and files as base64 strings."""
    return result.to_dict()


def guess_mime(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# ---------------------------------------------------------------------------- the backends


def backends_report(*, probe: bool = False) -> dict[str, Any]:
    """Each backend: can it run here (and why not), what it is, and the isolation it got.

    Isolation is read off a running sandbox (what the kernel actually granted: namespaces,
    Landlock, dropped privileges); ``probe`` starts the available backends that are not running
    yet so their isolation can be reported.
    """
    try:
        auto = resolve_auto()
    except Exception as exc:  # a broken availability check must not hide the others
        auto = f"restricted ({exc})"
    available_backends()  # the plugins' backends are registered by now
    rows = []
    for name, spec in backend_specs().items():
        try:
            reason = spec.unavailable_reason() if name != "restricted" else None
        except Exception as exc:
            reason = f"its availability check failed: {exc}"
        row: dict[str, Any] = {
            "name": name,
            "available": reason is None,
            "unavailable_reason": reason,
            "description": spec.description,
        }
        if probe and reason is None and running_shared(name) is None:
            try:
                shared_sandbox(name)
            except SandboxError as exc:
                row.update(available=False, unavailable_reason=str(exc))
        box = running_shared(name)
        if box is not None:
            row["isolation"] = _jsonable(getattr(box, "isolation", None))
            degraded = getattr(box, "degraded", None)
            if degraded is not None:
                row["degraded"] = list(degraded)
        rows.append(row)
    return {"auto": auto, "default": default_backend(), "backends": rows}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# ---------------------------------------------------------------------------- tasks


@dataclass
class TaskSettings:
    """What a caller may choose for one task (clamped to ``Caps`` by ``checked``)."""

    backend: str | None = None
    max_attempts: int = 3
    timeout_s: float = 10.0
    memory_mb: int = 512

    def checked(self, caps: Caps = DEFAULT_CAPS) -> TaskSettings:
        try:
            attempts = int(self.max_attempts)
        except (TypeError, ValueError):
            raise RequestError(
                f"max_attempts must be a number, got {self.max_attempts!r}"
            ) from None
        limits = caps.limits(self.timeout_s, self.memory_mb)
        return TaskSettings(
            backend=check_backend(self.backend),
            max_attempts=min(max(attempts, 1), caps.max_attempts),
            timeout_s=limits.timeout_s,
            memory_mb=limits.memory_mb,
        )


def check_task(task: str, images: Sequence[bytes | str | Path], caps: Caps = DEFAULT_CAPS) -> str:
    text = (task or "").strip()
    if not text and not images:
        raise RequestError("the task is empty: say what to do")
    if len(text) > caps.max_task_chars:
        raise RequestError(
            f"the task is too long ({len(text):,} characters; at most {caps.max_task_chars:,})"
        )
    if len(images) > caps.max_images:
        raise RequestError(f"too many images ({len(images)}; at most {caps.max_images})")
    for image in images:
        size = len(image) if isinstance(image, bytes) else Path(image).stat().st_size
        if size > caps.max_image_bytes:
            raise RequestError(f"an image is larger than {caps.max_image_bytes // 2**20} MB")
    return text


def read_text_files(paths: Sequence[str | Path], max_chars: int) -> str:
    """Text files given with a task, as context the model reads (each under its name).

    Binary files are refused with a clear error rather than fed to the model as noise.
    """
    parts, used = [], 0
    for path in paths:
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(
                f"{path.name} is not a UTF-8 text file; attach images as images"
            ) from None
        used += len(text)
        if used > max_chars:
            raise RequestError(
                f"the attached files are too long (at most {max_chars:,} characters)"
            )
        parts.append(f"--- file: {path.name} ---\n{text}")
    return "\n\n".join(parts)


def task_result_json(result: Any) -> dict[str, Any]:
    """An ``ExecutionResult`` as the remote doors return it: output, code, artifacts and
    images (base64), plan, attempts (without binaries), run id, and why the run stopped."""
    return {
        "success": result.success,
        "output": result.final_output,
        "explanation": result.explanation,
        "code": result.code,
        "artifacts": {n: base64.b64encode(b).decode("ascii") for n, b in result.artifacts.items()},
        "images": [base64.b64encode(png).decode("ascii") for png in result.images],
        "plan": result.plan.to_dict() if result.plan else None,
        "attempts": [a.to_dict(include_binary=False) for a in result.iterations],
        "total_attempts": result.total_attempts,
        "run_id": result.run_id,
        "backend": result.backend,
        "stop_reason": result.stop_reason,
        "errors": list(result.errors),
        "usage": result.usage.to_dict(),
        "total_duration_ms": result.total_duration_ms,
    }


def env_credentials() -> tuple[str | None, str | None]:
    """The key and server of this process's environment; raises ``RequestError`` when model
    calls cannot work (no key, and no self-hosted server that may not need one)."""
    settings = get_settings()
    key, url = settings.api_key, settings.server_url
    cloud = not url or url.rstrip("/").removesuffix("/v1") == "https://api.mistral.ai"
    if key is None and cloud:
        raise RequestError(NO_KEY)
    return key, url


def execute_task(
    task: str,
    *,
    context: str = "",
    settings: TaskSettings | None = None,
    images: Sequence[bytes | str | Path] = (),
    on_event: Callable[[Any], None] | None = None,
    caps: Caps = DEFAULT_CAPS,
) -> Any:
    """The whole loop with this process's key and plugins; returns the ``ExecutionResult``.

    For the MCP server, whose caller is the user running it (the web app builds its runs per
    visitor instead, see ``app.ui.services.build_run``).
    """
    from executor.assembly import build_executor

    images = list(images)
    text = check_task(task, images, caps)
    chosen = (settings or TaskSettings()).checked(caps)
    key, url = env_credentials()
    limits = Limits(timeout_s=chosen.timeout_s, memory_mb=chosen.memory_mb)
    with build_executor(
        api_key=key or "",
        server_url=url,
        sandbox=chosen.backend or "auto",
        limits=limits,
        max_iterations=chosen.max_attempts,
        plugins=True,
        share_sandbox=True,
        start_sandbox=True,
        observers=[on_event] if on_event else [],
    ) as executor:
        return executor.execute(text or "Look at the attached image(s).", context, images=images)
