"""Review before running: a human (or any callable) sees the Mechanic's code before it runs.

``Executor(review=callable)`` turns it on. After the Mechanic writes a program that passes the
sandbox's pre-flight check, the run pauses and calls ``review(ReviewRequest)`` on a helper
thread; the callable answers with a ``ReviewDecision``:

- ``ReviewDecision.run()``: run the code as written;
- ``ReviewDecision.edit(code)``: run this code instead (the edit is a trace event with its diff);
- ``ReviewDecision.reject(note)``: do not run it; the note goes to the Mechanic as the repair
  prompt of the next attempt (the rejected attempt counts against the budget, like any other).

The pause is bounded: past ``review_timeout_s`` (default ``$MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S``,
else 300 s) the run stops with ``stop_reason`` "review timeout" and the code never runs. The
run's deadline and cancel still work while it is paused: both end the wait at once. A reviewer
that blocks can wait on ``request.closed``, which is set as soon as the executor stops waiting.
"""

from __future__ import annotations

import difflib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from executor.results import Attempt, Failure, Plan
from executor.run_context import RunContext
from mistral_executor.settings import get_settings

DEFAULT_REVIEW_TIMEOUT_S = 300.0
REVIEW_TIMEOUT = "review timeout"
REVIEW_ERROR = "review error"

ReviewAction = Literal["run", "edit", "reject"]
REVIEW_ACTIONS: tuple[str, ...] = ("run", "edit", "reject")


@dataclass(frozen=True)
class ReviewRequest:
    """What the reviewer sees: the code about to run and why it was written.

    ``previous_failure`` says how the attempt before failed (None for the first attempt);
    ``timeout_s`` is how long the run waits for a decision; ``closed`` is set when it stops
    waiting (decision taken, timeout, cancel or the run's deadline)."""

    run_id: str
    task: str
    attempt: int
    code: str
    plan: Plan | None = None
    explanation: str = ""
    previous_failure: Failure | None = None
    timeout_s: float = DEFAULT_REVIEW_TIMEOUT_S
    closed: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


@dataclass(frozen=True)
class ReviewDecision:
    """The reviewer's answer. Build it with ``run()``, ``edit(code)`` or ``reject(note)``.

    ``note`` is required to reject (it is what the model is told) and optional otherwise (it is
    kept in the trace). Invalid combinations raise ValueError when the decision is made."""

    action: ReviewAction
    code: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.action not in REVIEW_ACTIONS:
            raise ValueError(
                f"a review action is one of {', '.join(REVIEW_ACTIONS)}, not {self.action!r}"
            )
        if not isinstance(self.code, str) or not isinstance(self.note, str):
            raise ValueError("a review decision's code and note are strings")
        if self.action == "edit" and not self.code.strip():
            raise ValueError("an edit needs the code to run instead (it is empty)")
        if self.action == "reject" and not self.note.strip():
            raise ValueError("a rejection needs a note telling the model what to change")

    @classmethod
    def run(cls, note: str = "") -> ReviewDecision:
        return cls("run", note=note)

    @classmethod
    def edit(cls, code: str, note: str = "") -> ReviewDecision:
        return cls("edit", code=code, note=note)

    @classmethod
    def reject(cls, note: str) -> ReviewDecision:
        return cls("reject", note=note)


Reviewer = Callable[[ReviewRequest], ReviewDecision]


class ReviewTimeout(Exception):
    """No decision came within the review timeout: the run stops (the code never ran)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"no review decision within {timeout_s:g} s; the code was not run")
        self.timeout_s = timeout_s


class ReviewError(Exception):
    """The reviewer raised or answered something that is not a ``ReviewDecision``."""


def resolve_review_timeout(value: float | None) -> float:
    """The review wait in seconds: ``value``, else the ``MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S``
    setting (default 300). Raises ValueError naming the setting when it is not a positive
    number of seconds."""
    if value is None:
        return get_settings().review_timeout_s  # checked (a positive number) by the settings
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"review_timeout_s must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"review_timeout_s must be a positive number of seconds, not {value!r}")
    return float(value)


def code_diff(before: str, after: str, attempt: int = 0) -> str:
    """A unified diff of a human edit (what the trace keeps and the Traces tab colours)."""
    label = f"attempt {attempt}" if attempt else "code"
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{label} (model)",
        tofile=f"{label} (reviewer)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def ask(ctx: RunContext, reviewer: Reviewer, request: ReviewRequest) -> ReviewDecision:
    """Call the reviewer on a helper thread and wait for its decision.

    Ends early on a cancel or the run's deadline (raising ``Cancelled``), and after
    ``request.timeout_s`` (raising ``ReviewTimeout``); the reviewer's thread is then abandoned
    and ``request.closed`` tells it so."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = reviewer(request)
        except BaseException as exc:  # handed to the run's thread
            outcome["error"] = exc
        finally:
            done.set()

    unsubscribe = ctx.token.subscribe(lambda _reason: done.set())
    try:
        threading.Thread(target=target, name="executor-review", daemon=True).start()
        finished = done.wait(request.timeout_s)
    finally:
        unsubscribe()
        request.closed.set()
    if "value" not in outcome and "error" not in outcome:
        ctx.token.raise_if_cancelled()
    if not finished:
        raise ReviewTimeout(request.timeout_s)
    if "error" in outcome:
        error = outcome["error"]
        raise ReviewError(f"the reviewer failed: {type(error).__name__}: {error}") from error
    decision = outcome["value"]
    if not isinstance(decision, ReviewDecision):
        raise ReviewError(f"the reviewer answered {decision!r}, not a ReviewDecision")
    ctx.token.raise_if_cancelled()  # a decision that came with the cancel changes nothing
    return decision


def review_attempt(
    ctx: RunContext,
    reviewer: Reviewer,
    attempt: Attempt,
    *,
    task: str,
    plan: Plan | None,
    previous: Attempt | None,
    timeout_s: float,
) -> None:
    """Pause for the reviewer and apply the decision to ``attempt``.

    Run: nothing changes. Edit: ``attempt.code`` becomes the reviewer's code, pre-flighted
    again. Reject: ``attempt.failure`` says so, with the note (the loop turns it into the next
    repair prompt). Emits the review step's events (started, then ok / edited / rejected)."""
    request = ReviewRequest(
        run_id=ctx.run_id,
        task=task,
        attempt=attempt.number,
        code=attempt.code,
        plan=plan,
        explanation=attempt.explanation,
        previous_failure=previous.failure if previous is not None else None,
        timeout_s=timeout_s,
    )
    ctx.emit(
        "mechanic",
        "review",
        "started",
        attempt=attempt.number,
        payload={"code": attempt.code, "review_timeout_s": timeout_s},
        message="waiting for review",
    )
    started = time.perf_counter()
    try:
        decision = ask(ctx, reviewer, request)
    except (ReviewTimeout, ReviewError) as exc:  # the run stops; this code never runs
        attempt.reviewed = "timeout" if isinstance(exc, ReviewTimeout) else ""
        attempt.failure = Failure("rejected", str(exc), f"rejected:{attempt.number}")
        raise
    waited_ms = (time.perf_counter() - started) * 1000
    payload: dict[str, Any] = {"action": decision.action, "note": decision.note}
    if decision.action == "edit" and decision.code.strip() != attempt.code.strip():
        original = attempt.code
        code = decision.code if decision.code.endswith("\n") else decision.code + "\n"
        attempt.code = code
        attempt.reviewed = "edit"
        attempt.preflight_error = ctx.preflight(code)
        payload.update(diff=code_diff(original, code, attempt.number), code=code, original=original)
        status = "edited"
        message = f"edited by the reviewer ({_changed_lines(original, code)})"
        if attempt.preflight_error is not None:
            error = attempt.preflight_error
            payload["preflight_error"] = {"type": error.type, "message": error.message}
            message += f"; pre-flight refused it: {error.type}: {error.message}"
    elif decision.action == "reject":
        attempt.reviewed = "reject"
        attempt.failure = Failure("rejected", decision.note.strip(), f"rejected:{attempt.number}")
        status, message = "rejected", f"rejected: {decision.note.strip()}"
    else:
        attempt.reviewed = "run"
        status, message = "ok", "approved" + (" (no change)" if decision.action == "edit" else "")
    ctx.emit(
        "mechanic",
        "review",
        status,
        attempt=attempt.number,
        duration_ms=waited_ms,
        payload=payload,
        message=message,
    )


def _changed_lines(before: str, after: str) -> str:
    added = removed = 0
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("+ "):
            added += 1
        elif line.startswith("- "):
            removed += 1
    return f"+{added} -{removed} lines"
