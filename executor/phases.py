"""The loop proper: Scout, then Mechanic -> Inspector -> Iterate until accepted or stopped.

``run_phases`` is a generator that yields the name of each phase it enters, so the run's
lifecycle (``executor.run_lifecycle``) can attribute a model or sandbox error to the phase it hit,
while this module only sequences the phases and records what each attempt showed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from executor import iterate, profiling
from executor.inspector import Inspector
from executor.mechanic import Mechanic, MechanicBrief
from executor.prompts import repair_prompt
from executor.results import Attempt, ExecutionResult
from executor.review import DEFAULT_REVIEW_TIMEOUT_S, Reviewer, review_attempt
from executor.run_context import RunContext
from executor.scout import Scout


@dataclass
class RunRequest:
    """What one run was asked to do."""

    task: str
    context: str = ""
    history: str = ""
    image_chunks: list[dict[str, Any]] = field(default_factory=list)
    validate_output: bool = True


@dataclass
class Crew:
    """The phase objects and the attempt budget a run works with; ``reviewer`` (optional) sees
    each program before it runs (see ``executor.review``)."""

    scout: Scout
    mechanic: Mechanic
    inspector: Inspector
    budget: int
    reviewer: Reviewer | None = None
    review_timeout_s: float = DEFAULT_REVIEW_TIMEOUT_S


def run_phases(
    ctx: RunContext,
    result: ExecutionResult,
    attempts: list[Attempt],
    request: RunRequest,
    crew: Crew,
) -> Iterator[str]:
    """The loop proper; yields the name of the phase it enters (for error attribution)."""
    yield "scout"
    context = profiling.with_profile(request.context, profiling.profile_inputs(ctx))
    ctx.emit("scout", "plan", "started", message="planning")
    report = crew.scout.run(
        ctx,
        request.task,
        context=context,
        history=request.history,
        image_chunks=request.image_chunks,
    )
    plan = result.plan = report.plan
    if not plan.needs_code:
        result.success = True
        result.final_output = plan.answer
        result.stop_reason = "answered without code"
        return
    brief = MechanicBrief(
        task=request.task,
        plan=plan,
        context=context,
        history=request.history,
        tool_context=report.tool_context,
    )
    previous: Attempt | None = None
    for number in range(1, crew.budget + 1):
        yield "mechanic"
        attempt_started = time.perf_counter()
        earlier = [iterate.failure_line(a) for a in attempts[:-1] if a.failure]
        attempt = crew.mechanic.write(ctx, brief, number, previous, earlier)
        attempts.append(attempt)
        duplicate = iterate.repeated_code(attempts[:-1], attempt.code) if attempt.code else None
        if (
            crew.reviewer is not None
            and duplicate is None
            and attempt.code
            and attempt.preflight_error is None
        ):
            # The run pauses here until the reviewer runs, edits or rejects the code.
            review_attempt(
                ctx,
                crew.reviewer,
                attempt,
                task=request.task,
                plan=plan,
                previous=previous,
                timeout_s=crew.review_timeout_s,
            )
        if duplicate is not None:
            _copy_outcome(duplicate, attempt)
            ctx.emit(
                "inspector",
                "run",
                "skipped",
                attempt=number,
                message=f"same code as attempt {duplicate.number}; not run again",
            )
        elif attempt.failure is None and attempt.code and attempt.preflight_error is None:
            yield "inspector"
            crew.inspector.inspect(
                ctx,
                attempt,
                task=request.task,
                plan=plan,
                validate_output=request.validate_output,
            )
        if attempt.failure is None:  # (a rejected attempt already says why it failed)
            attempt.failure = duplicate.failure if duplicate else iterate.classify(attempt)
        attempt.duration_ms = (time.perf_counter() - attempt_started) * 1000
        failure = attempt.failure
        ctx.emit(
            "inspector",
            "result",
            "passed" if failure is None else "failed",
            attempt=number,
            duration_ms=attempt.duration_ms,
            payload={"failure": vars(failure) if failure else None},
            message="accepted" if failure is None else f"{failure.kind}: {failure.message}",
        )
        if failure is None:
            result.success = True
            result.stop_reason = "accepted"
            return
        yield "iterate"
        decision = iterate.decide(attempts, crew.budget)
        if duplicate is not None:
            decision = iterate.Decision(False, "the model returned the same code again")
        payload: dict[str, Any] = {"failure": vars(failure), "reason": decision.reason}
        if decision.retry:
            payload["repair_prompt"] = repair_prompt(
                attempt, ctx.rules, [iterate.failure_line(a) for a in attempts[:-1]]
            ) + profiling.repair_note(ctx, attempt)
        ctx.emit(
            "iterate",
            "heal",
            "retry" if decision.retry else "stop",
            attempt=number,
            payload=payload,
            message=decision.reason,
        )
        if not decision.retry:
            result.stop_reason = decision.reason
            return
        previous = attempt


def _copy_outcome(source: Attempt, target: Attempt) -> None:
    for name in (
        "stdout",
        "stderr",
        "error",
        "limit_hit",
        "checks",
        "verdict",
        "images",
        "files",
        "tables",
    ):
        setattr(target, name, getattr(source, name))
