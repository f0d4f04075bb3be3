"""The one contract every sandbox backend honours.

Backends differ in how they isolate code (a RestrictedPython policy in a locked-down worker
process, or real CPython in a locked-down container) but callers -- the Inspector, the CLI, the
UI's Sandbox tab, plugins -- only ever see these types, so a backend can be swapped without them
noticing.
"""

from __future__ import annotations

import base64
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# ``Sandbox.run(on_output=...)``: called with the stream's name ("stdout" or "stderr") and a
# chunk of text as the program prints it.
OutputCallback = Callable[[str, str], None]

LimitKind = Literal["timeout", "memory", "output", "processes"]
LIMIT_KINDS: tuple[str, ...] = ("timeout", "memory", "output", "processes")

# What went wrong, in the terms the self-healer acts on. "cancelled": the caller stopped the run.
ErrorKind = Literal[
    "syntax", "policy", "import", "runtime", "limit", "crash", "internal", "cancelled"
]
ERROR_KINDS: tuple[str, ...] = (
    "syntax",
    "policy",
    "import",
    "runtime",
    "limit",
    "crash",
    "internal",
    "cancelled",
)


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run. Every backend enforces all of them."""

    timeout_s: float = 10.0
    memory_mb: int = 512
    max_output_bytes: int = 1_000_000
    max_processes: int = 64
    max_file_bytes: int = 32 * 1024 * 1024
    cpu_cores: float = 1.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.memory_mb < 32:
            raise ValueError(f"memory_mb must be at least 32, got {self.memory_mb}")
        if self.max_output_bytes < 1:
            raise ValueError(f"max_output_bytes must be positive, got {self.max_output_bytes}")
        if self.max_processes < 1:
            raise ValueError(f"max_processes must be positive, got {self.max_processes}")


@dataclass
class ErrorInfo:
    """A failure described precisely enough for a model to fix it.

    ``lineno`` is the line in the *user's* code (1-based), never a line of ours.
    """

    type: str
    message: str
    traceback: str = ""
    lineno: int | None = None
    kind: ErrorKind = "runtime"

    def __str__(self) -> str:
        where = f" (line {self.lineno})" if self.lineno else ""
        return f"{self.type}{where}: {self.message}"


@dataclass
class RunResult:
    ok: bool
    stdout: str = ""
    stderr: str = ""
    error: ErrorInfo | None = None
    limit_hit: LimitKind | None = None
    images: list[bytes] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    duration_ms: float = 0.0
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: bytes become base64 strings."""
        data = asdict(self)
        data["images"] = [base64.b64encode(png).decode("ascii") for png in self.images]
        data["files"] = {
            name: base64.b64encode(content).decode("ascii") for name, content in self.files.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        error = data.get("error")
        return cls(
            ok=bool(data["ok"]),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            error=ErrorInfo(**error) if error else None,
            limit_hit=data.get("limit_hit"),
            images=[base64.b64decode(s) for s in data.get("images", [])],
            files={k: base64.b64decode(v) for k, v in data.get("files", {}).items()},
            duration_ms=float(data.get("duration_ms", 0.0)),
            backend=data.get("backend", ""),
        )


def cancelled(backend: str = "", stdout: str = "", stderr: str = "") -> RunResult:
    """The result of a run the caller cancelled (``Sandbox.run(cancel=...)``)."""
    return RunResult(
        ok=False,
        stdout=stdout,
        stderr=stderr,
        error=ErrorInfo(type="Cancelled", message="the run was cancelled", kind="cancelled"),
        backend=backend,
    )


class SandboxError(RuntimeError):
    """A backend cannot be used at all (engine down, image missing...). The message names the fix."""


class Sandbox(ABC):
    """A place to run untrusted Python. Use as a context manager; ``close()`` leaves nothing behind."""

    name: str = "abstract"
    #: Whether code runs under the RestrictedPython policy (no ``open()``, no underscore names
    #: ...): the executor tells the model so. Real-CPython backends leave it False.
    restricted_python: bool = False
    #: The modules code may import here, sorted; None when anything installed may be imported
    #: (jail, docker). The executor tells the model this list, read off the backend rather than
    #: guessed from its name. A backend sets it as an attribute or overrides it with a property.
    allowed_imports: tuple[str, ...] | None = None

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    @abstractmethod
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
        """Run ``code``; with ``session_id`` the variables of earlier runs in that session persist.

        ``cancel``: when the caller sets this event during the run, the backend kills the program
        within a second and returns ``cancelled()`` (the sandbox stays ready for the next run).
        An event already set when ``run`` is called runs nothing. A cancelled session run ends
        the session's process: its variables are lost, and the session's next run starts fresh
        with a note on stderr saying so.

        ``on_output(stream, text)``: called on the calling thread while the program runs, with
        what it printed since the last call ("stdout" or "stderr"; a few calls a second at most,
        the last ones before ``run`` returns). The chunks of a stream add up to what the
        result holds for it, up to the output cap (notes the backend appends afterwards are
        not streamed). It changes nothing in the ``RunResult``; a callback that raises is
        logged and not called again, and the run goes on.
        """

    def preflight(self, code: str) -> ErrorInfo | None:
        """Refuse code that is certain to fail, before it runs (syntax, policy, blocked imports)."""
        try:
            compile(code, "<user>", "exec")
        except SyntaxError as exc:
            return ErrorInfo(
                type="SyntaxError",
                message=exc.msg or str(exc),
                lineno=exc.lineno,
                kind="syntax",
            )
        return None

    def close_session(self, session_id: str) -> None:  # noqa: B027 - optional for stateless backends
        """Forget a session's state."""

    @abstractmethod
    def close(self) -> None:
        """Release every process, container, temp dir and thread."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
