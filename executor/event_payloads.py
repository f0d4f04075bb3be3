"""What each trace event's ``payload`` holds: one ``TypedDict`` per payload type.

The event types that use them are defined in :mod:`executor.events`. Every key is optional
(``total=False``): a "started" event carries none, and a payload grows keys over versions while
stored runs keep the old ones.
"""

from __future__ import annotations

from typing import Any, TypedDict


class NoPayload(TypedDict, total=False):
    pass


# ``try`` (which try of a plan reply that was not valid JSON) is a keyword: functional form.
PlanPayload = TypedDict(
    "PlanPayload", {"plan": dict, "model": str, "error": str, "try": int}, total=False
)


class ProfilePayload(TypedDict, total=False):
    files: list[dict[str, Any]]
    text: str


class ToolRoundPayload(TypedDict, total=False):
    calls: list[dict[str, Any]]


class ToolCallPayload(TypedDict, total=False):
    tool: str
    arguments: dict[str, Any]
    result: str
    error: str
    images: list[str]
    connector: str
    source: str


class CodePayload(TypedDict, total=False):
    code: str  # with status "partial": the code so far
    explanation: str
    model: str
    finish_reason: str
    preflight_error: dict[str, Any]


class ReviewPayload(TypedDict, total=False):
    code: str
    review_timeout_s: float
    action: str  # "run", "edit" or "reject"
    note: str
    diff: str
    original: str
    preflight_error: dict[str, Any]
    error: str


class RunPayload(TypedDict, total=False):
    stdout: str
    stderr: str
    error: dict[str, Any] | None
    limit_hit: str | None
    images: list[str]
    files: list[str]
    tables: list[dict[str, Any]]
    backend: str


class ChecksPayload(TypedDict, total=False):
    checks: list[dict[str, Any]]


class VerdictPayload(TypedDict, total=False):
    complete: bool
    reason: str
    decided_by: str


class AttemptResultPayload(TypedDict, total=False):
    failure: dict[str, Any] | None


class HealPayload(TypedDict, total=False):
    failure: dict[str, Any]
    reason: str
    repair_prompt: str


class StopPayload(TypedDict, total=False):
    error: str
    type: str
    run_timeout_s: float


class FinalPayload(TypedDict, total=False):
    success: bool
    final_output: str
    explanation: str
    code: str
    stop_reason: str
    errors: list[str]
    total_attempts: int
    best_attempt: int | None
    images: int
    tables: int  # how many tables the program showed
    artifacts: list[str]
    usage: dict[str, Any]
    timings: dict[str, Any]
