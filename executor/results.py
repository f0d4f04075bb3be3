"""The data that crosses the executor's boundary: plans, attempts, trace events, the result.

Everything here is a plain dataclass with a JSON form (``to_dict``/``from_dict``) because the
same records travel to the CLI's ``--json``, the SQLite trace store, exported runs and the UI.
Bytes (images, files) become base64 strings in the JSON form.
"""

from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from executor.events import PHASES, Phase  # noqa: F401 - re-exported: defined with the events
from sandbox.contract import ErrorInfo

# How an attempt failed, in the terms the repair prompts are written for.
FailureClass = Literal[
    "no_code",
    "syntax",
    "policy",
    "import",
    "runtime",
    "timeout",
    "memory",
    "output_limit",
    "processes",
    "crash",
    "failed_check",
    "incomplete",
    "rejected",  # a reviewer refused the code before it ran (``Executor(review=...)``)
]
FAILURE_CLASSES: tuple[str, ...] = FailureClass.__args__  # type: ignore[attr-defined]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass
class Plan:
    """The Scout's plan. ``checks`` are Python assertions run after the program, in its namespace."""

    needs_code: bool = True
    answer: str = ""
    summary: str = ""
    steps: list[str] = field(default_factory=list)
    edge_cases: list[str] = field(default_factory=list)
    success_criteria: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    observations: str = ""
    # The Scout's word that passing checks prove every success criterion: no verdict needed.
    checks_cover_criteria: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        """Dict-style reads (``plan["steps"]``) for callers that treat the plan as JSON."""
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.__dataclass_fields__ else default

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class CheckResult:
    check: str
    passed: bool
    message: str = ""


@dataclass
class Verdict:
    complete: bool
    reason: str = ""


@dataclass
class Failure:
    """A classified failure. ``signature`` is what "the same failure again" is compared on."""

    kind: FailureClass
    message: str
    signature: str = ""
    lineno: int | None = None


@dataclass
class Attempt:
    """One Mechanic -> Inspector cycle."""

    number: int
    code: str = ""
    explanation: str = ""
    stdout: str = ""
    stderr: str = ""
    error: ErrorInfo | None = None
    limit_hit: str | None = None
    preflight_error: ErrorInfo | None = None
    checks: list[CheckResult] = field(default_factory=list)
    verdict: Verdict | None = None
    failure: Failure | None = None
    images: list[bytes] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    run_ms: float = 0.0
    duration_ms: float = 0.0
    # What a reviewer did with the code (``Executor(review=...)``): "" (not reviewed), "run",
    # "edit" (``code`` is the reviewer's version), "reject" or "timeout" (never ran).
    reviewed: str = ""
    # DataFrames/Series the program displayed (executor.tables): columns, rows, totals.
    tables: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failure is None and bool(self.code)

    def rank(self) -> tuple[int, int, int]:
        """Higher is better: how far the attempt got, then fewer failed checks, then recency."""
        if self.passed:
            stage = 5
        elif self.failure and self.failure.kind == "incomplete":
            stage = 4
        elif self.failure and self.failure.kind == "failed_check":
            stage = 3
        elif self.failure and self.failure.kind == "rejected":
            stage = 1  # never ran: below any code that did
        elif self.code and self.preflight_error is None:
            stage = 2
        elif self.code:
            stage = 1
        else:
            stage = 0
        failed_checks = sum(1 for c in self.checks if not c.passed)
        return (stage, -failed_checks, self.number)

    def to_dict(self, *, include_binary: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        if include_binary:
            data["images"] = [_b64(png) for png in self.images]
            data["files"] = {name: _b64(content) for name, content in self.files.items()}
        else:
            data["images"] = len(self.images)
            data["files"] = sorted(self.files)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        def error(value: dict[str, Any] | None) -> ErrorInfo | None:
            return ErrorInfo(**value) if value else None

        images = data.get("images") or []
        files = data.get("files") or {}
        return cls(
            number=int(data["number"]),
            code=data.get("code", ""),
            explanation=data.get("explanation", ""),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            error=error(data.get("error")),
            limit_hit=data.get("limit_hit"),
            preflight_error=error(data.get("preflight_error")),
            checks=[CheckResult(**c) for c in data.get("checks", [])],
            verdict=Verdict(**data["verdict"]) if data.get("verdict") else None,
            failure=Failure(**data["failure"]) if data.get("failure") else None,
            images=[_unb64(s) for s in images] if isinstance(images, list) else [],
            files={k: _unb64(v) for k, v in files.items()} if isinstance(files, dict) else {},
            run_ms=float(data.get("run_ms", 0.0)),
            duration_ms=float(data.get("duration_ms", 0.0)),
            reviewed=str(data.get("reviewed", "")),
            tables=list(data.get("tables") or []),
        )


@dataclass
class TraceEvent:
    """One step of a run, emitted live. ``status`` is "started" while a step is under way.

    ``status == "partial"`` marks a transient event: output so far of a step still running
    (``payload["code"]``: the program the Mechanic is writing). Partial events reach the
    consumer of ``Executor.stream(..., partial=True)`` only: they are not stored, not in ``ExecutionResult.trace``,
    not passed to observers or plugins, and carry ``seq`` 0."""

    phase: Phase
    step: str
    status: str
    attempt: int = 0
    duration_ms: float = 0.0
    tokens: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    run_id: str = ""
    seq: int = 0
    timestamp: float = field(default_factory=time.time)

    @property
    def duration(self) -> float:
        """Seconds (``duration_ms`` / 1000)."""
        return self.duration_ms / 1000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceEvent:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class RunUsage:
    """Tokens and estimated cost of one run, summed over every model call it made."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)

    def add(self, usage: Any, phase: str) -> int:
        """Add a client ``Usage``; returns its total tokens (for the trace event)."""
        if usage is None:
            self.model_calls += 1
            return 0
        total = int(getattr(usage, "total_tokens", 0) or 0)
        self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        self.total_tokens += total
        self.cost_usd += float(getattr(usage, "cost_usd", 0.0) or 0.0)
        self.model_calls += 1
        self.by_phase[phase] = self.by_phase.get(phase, 0) + total
        return total

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunUsage:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class ExecutionResult:
    """What a run produced.

    ``final_output`` is the stdout of the accepted run -- the program's own output, never model
    prose (a plain question answered without code is the exception: the answer is the output).
    Model-written prose goes to ``explanation``. When no attempt was accepted, ``success`` is
    False and ``code``/``final_output``/``images`` come from the best attempt.
    """

    success: bool
    final_output: str = ""
    explanation: str = ""
    plan: Plan | None = None
    code: str = ""
    artifacts: dict[str, bytes] = field(default_factory=dict)
    images: list[bytes] = field(default_factory=list)
    # DataFrames/Series the accepted program displayed (see executor.tables).
    tables: list[dict[str, Any]] = field(default_factory=list)
    total_attempts: int = 0
    total_duration_ms: float = 0.0
    errors: list[str] = field(default_factory=list)
    iterations: list[Attempt] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)
    run_id: str = ""
    task: str = ""
    # Why the run ended: "accepted", "answered without code", the Iterate decision that gave up
    # (budget spent, same failure again...), "cancelled", "run deadline" (``run_timeout_s``
    # passed), "review timeout" (no review decision in time, see ``executor.review``), "review
    # error" (the reviewer failed), "model error", "sandbox error" or "configuration error".
    stop_reason: str = ""
    cancelled: bool = False
    best_attempt: int | None = None
    backend: str = ""
    backend_reason: str = ""  # why that backend ran (e.g. what ``auto`` found on this host)
    conversation_id: str | None = None
    trace: list[TraceEvent] = field(default_factory=list)
    # Where the wall time went: model calls, sandbox runs (and waiting for the sandbox to start),
    # tool calls, and the loop itself.
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self, *, include_binary: bool = True, include_trace: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "success": self.success,
            "final_output": self.final_output,
            "explanation": self.explanation,
            "plan": self.plan.to_dict() if self.plan else None,
            "code": self.code,
            "total_attempts": self.total_attempts,
            "total_duration_ms": self.total_duration_ms,
            "errors": list(self.errors),
            "iterations": [a.to_dict(include_binary=include_binary) for a in self.iterations],
            "usage": self.usage.to_dict(),
            "run_id": self.run_id,
            "task": self.task,
            "stop_reason": self.stop_reason,
            "cancelled": self.cancelled,
            "best_attempt": self.best_attempt,
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "conversation_id": self.conversation_id,
            "timings": dict(self.timings),
            "tables": list(self.tables),
        }
        if include_binary:
            data["images"] = [_b64(png) for png in self.images]
            data["artifacts"] = {k: _b64(v) for k, v in self.artifacts.items()}
        else:
            data["images"] = len(self.images)
            data["artifacts"] = sorted(self.artifacts)
        if include_trace:
            data["trace"] = [e.to_dict() for e in self.trace]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionResult:
        images = data.get("images") or []
        artifacts = data.get("artifacts") or {}
        return cls(
            success=bool(data["success"]),
            final_output=data.get("final_output", ""),
            explanation=data.get("explanation", ""),
            plan=Plan.from_dict(data["plan"]) if data.get("plan") else None,
            code=data.get("code", ""),
            artifacts=(
                {k: _unb64(v) for k, v in artifacts.items()} if isinstance(artifacts, dict) else {}
            ),
            images=[_unb64(s) for s in images] if isinstance(images, list) else [],
            total_attempts=int(data.get("total_attempts", 0)),
            total_duration_ms=float(data.get("total_duration_ms", 0.0)),
            errors=list(data.get("errors", [])),
            iterations=[Attempt.from_dict(a) for a in data.get("iterations", [])],
            usage=RunUsage.from_dict(data.get("usage") or {}),
            run_id=data.get("run_id", ""),
            task=data.get("task", ""),
            stop_reason=data.get("stop_reason", ""),
            cancelled=bool(data.get("cancelled", False)),
            best_attempt=data.get("best_attempt"),
            backend=data.get("backend", ""),
            backend_reason=str(data.get("backend_reason", "")),
            conversation_id=data.get("conversation_id"),
            trace=[TraceEvent.from_dict(e) for e in data.get("trace", [])],
            timings=dict(data.get("timings", {})),
            tables=list(data.get("tables") or []),
        )
