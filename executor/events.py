"""Every trace event a run emits, defined once: its phase, step, statuses, payload and view.

A run reports itself as a stream of ``TraceEvent`` objects (``executor.results``): stored by the
trace store, passed to the plugins' ``on_trace_event`` observers, and drawn by three renderers --
the CLI's progress lines (``app/commands/run_cmd.py``), the chat's steps
(``app/ui/chat_render.py``) and the Traces tab (``app/ui/traces_render.py``). They all read this
module, so a new or renamed step is one change here, and ``tests/executor/test_events.py`` fails when an event type has no rendering in
one of them. ``RunContext.emit`` refuses an event that is not defined here.

Words used by renderers -- a phase's label and icon, what a status means (done, failed, a warning,
a stop) -- live here too, so no renderer spells out the phase or status names itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from executor.event_payloads import (
    AttemptResultPayload,
    ChecksPayload,
    CodePayload,
    FinalPayload,
    HealPayload,
    NoPayload,
    PlanPayload,
    ProfilePayload,
    ReviewPayload,
    RunPayload,
    StopPayload,
    ToolCallPayload,
    ToolRoundPayload,
    VerdictPayload,
)

# -- phases ---------------------------------------------------------------------------------------

Phase = Literal["scout", "mechanic", "inspector", "iterate", "final"]
PHASES: tuple[Phase, ...] = get_args(Phase)


@dataclass(frozen=True)
class PhaseInfo:
    """How a phase is named to people."""

    label: str
    icon: str


PHASE_INFO: dict[Phase, PhaseInfo] = {
    "scout": PhaseInfo("Scout", "🧭"),
    "mechanic": PhaseInfo("Mechanic", "🛠️"),
    "inspector": PhaseInfo("Inspector", "🔍"),
    "iterate": PhaseInfo("Iterate", "♻️"),
    "final": PhaseInfo("Final", "🏁"),
}

# -- statuses -------------------------------------------------------------------------------------

Status = Literal[
    "started",  # the step is under way (its closing event follows)
    "partial",  # output so far of a step still running (streamed, never stored)
    "ok",
    "passed",
    "success",
    "edited",
    "degraded",
    "skipped",
    "retry",
    "failed",
    "rejected",
    "error",
    "stop",
    "cancelled",
]
STATUSES: tuple[Status, ...] = get_args(Status)

#: What a status means, whatever the step: the renderers draw outcomes, not status words.
Outcome = Literal["running", "good", "warning", "skipped", "retry", "bad", "stopped"]
OUTCOME: dict[Status, Outcome] = {
    "started": "running",
    "partial": "running",
    "ok": "good",
    "passed": "good",
    "success": "good",
    "edited": "warning",
    "degraded": "warning",
    "skipped": "skipped",
    "retry": "retry",
    "failed": "bad",
    "rejected": "bad",
    "error": "bad",
    "stop": "stopped",
    "cancelled": "stopped",
}

STARTED: Status = "started"
PARTIAL: Status = "partial"
ERROR: Status = "error"
CANCELLED: Status = "cancelled"


def outcome(status: str) -> Outcome:
    """What ``status`` means (an unknown word from an old stored run counts as good)."""
    return OUTCOME.get(status, "good")  # type: ignore[arg-type]


# -- the events -----------------------------------------------------------------------------------

#: Every step name (a type checker holds ``emit`` to these).
Step = Literal[
    "profile",
    "plan",
    "tools",
    "tool_call",
    "code",
    "review",
    "run",
    "checks",
    "verdict",
    "result",
    "heal",
    "deadline",
    "cancelled",
    "model_error",
    "config_error",
    "sandbox_error",
]

#: Views: how an event is drawn. Each renderer has one drawing per view (the chat picks its
#: drawing by an event's view, never by its phase or step name).
View = Literal[
    "profile",
    "plan",
    "tool_round",
    "tool_call",
    "code",
    "review",
    "run",
    "checks",
    "verdict",
    "attempt_result",
    "heal",
    "stop",
    "final",
]
VIEWS: tuple[View, ...] = get_args(View)

ANY_PHASE = None  # a stop event is emitted by whichever phase the run was in


@dataclass(frozen=True)
class EventType:
    """One kind of trace event. ``phase`` None: any phase (the events that end a run)."""

    phase: Phase | None
    step: Step
    statuses: tuple[Status, ...]
    payload: type
    view: View
    title: str  # how people call it ("plan", "tool call", ...)
    meaning: str

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.phase, self.step)

    def label(self, phase: str | None = None) -> str:
        """ "Scout · plan": the phase's label and the step's title."""
        named = self.phase or phase
        info = PHASE_INFO.get(named) if named else None  # type: ignore[arg-type]
        return f"{info.label if info else (named or '?')} · {self.title}"


EVENTS: tuple[EventType, ...] = (
    EventType(
        "scout",
        "profile",
        ("started", "ok", "failed"),
        ProfilePayload,
        "profile",
        "data files",
        "The attached data files were opened in the sandbox and described for the model.",
    ),
    EventType(
        "scout",
        "plan",
        ("started", "ok", "degraded", "failed"),
        PlanPayload,
        "plan",
        "plan",
        "The Scout's plan (failed: a reply that was not valid JSON; the Scout asks again).",
    ),
    EventType(
        "scout",
        "tools",
        ("ok",),
        ToolRoundPayload,
        "tool_round",
        "tools",
        "One round of tool calls the model asked for while planning (maybe none).",
    ),
    EventType(
        "scout",
        "tool_call",
        ("ok", "failed"),
        ToolCallPayload,
        "tool_call",
        "tool call",
        "One tool call and what it returned.",
    ),
    EventType(
        "mechanic",
        "code",
        ("started", "partial", "ok", "failed"),
        CodePayload,
        "code",
        "code",
        "The Mechanic's program for an attempt (failed: no code block, or pre-flight refused it).",
    ),
    EventType(
        "mechanic",
        "review",
        ("started", "ok", "edited", "rejected", "error"),
        ReviewPayload,
        "review",
        "review",
        "A person reviewed the code before it ran: approved, edited, rejected or timed out.",
    ),
    EventType(
        "inspector",
        "run",
        ("started", "partial", "ok", "failed", "skipped"),
        RunPayload,
        "run",
        "run",
        "The program ran in the sandbox (skipped: the same code as an earlier attempt).",
    ),
    EventType(
        "inspector",
        "checks",
        ("ok", "failed"),
        ChecksPayload,
        "checks",
        "checks",
        "The plan's checks, run against the program's output.",
    ),
    EventType(
        "inspector",
        "verdict",
        ("ok", "failed", "skipped"),
        VerdictPayload,
        "verdict",
        "verdict",
        "The model's judgement whether the output completes the task (skipped: checks decided).",
    ),
    EventType(
        "inspector",
        "result",
        ("passed", "failed"),
        AttemptResultPayload,
        "attempt_result",
        "attempt",
        "Whether the attempt was accepted, and its failure if not.",
    ),
    EventType(
        "iterate",
        "heal",
        ("retry", "stop"),
        HealPayload,
        "heal",
        "heal",
        "Whether to try again after a failed attempt, and the repair prompt if so.",
    ),
    EventType(
        ANY_PHASE,
        "deadline",
        ("error",),
        StopPayload,
        "stop",
        "deadline",
        "The run passed its deadline and stopped.",
    ),
    EventType(
        ANY_PHASE,
        "cancelled",
        ("cancelled",),
        NoPayload,
        "stop",
        "cancelled",
        "The run was cancelled.",
    ),
    EventType(
        ANY_PHASE,
        "model_error",
        ("error",),
        StopPayload,
        "stop",
        "model error",
        "A model call failed for good (after its retries) and ended the run.",
    ),
    EventType(
        ANY_PHASE,
        "config_error",
        ("error",),
        StopPayload,
        "stop",
        "configuration error",
        "The run could not be set up (a bad server URL, models mapping...).",
    ),
    EventType(
        ANY_PHASE,
        "sandbox_error",
        ("error",),
        StopPayload,
        "stop",
        "sandbox error",
        "The sandbox could not be used and the run ended.",
    ),
    EventType(
        "final",
        "result",
        ("success", "failed", "cancelled"),
        FinalPayload,
        "final",
        "result",
        "The run's result: its output, code, attempts, usage and timings.",
    ),
)

_BY_KEY: dict[tuple[str | None, str], EventType] = {event.key: event for event in EVENTS}


class UnknownEvent(ValueError):
    """An event that ``executor.events`` does not define (a typo, or a step not added here)."""


def event_type(phase: str, step: str) -> EventType | None:
    """The definition of the event ``phase``/``step``, or None (e.g. a run stored by an older
    version)."""
    return _BY_KEY.get((phase, step)) or _BY_KEY.get((ANY_PHASE, step))


def check_event(phase: str, step: str, status: str) -> EventType:
    """The definition of an event about to be emitted; ``UnknownEvent`` if it has none or the
    status is not one of its statuses."""
    if phase not in PHASES:
        raise UnknownEvent(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
    definition = event_type(phase, step)
    if definition is None:
        raise UnknownEvent(f"no event {phase}/{step} is defined in executor/events.py")
    if status not in definition.statuses:
        raise UnknownEvent(
            f"event {phase}/{step} has no status {status!r}; "
            f"its statuses: {', '.join(definition.statuses)}"
        )
    return definition


def label_of(phase: str, step: str) -> str:
    """ "Scout · plan" for a defined event; the raw words for one stored by an older version."""
    definition = event_type(phase, step)
    if definition is None:
        return f"{phase} · {step.replace('_', ' ')}"
    return definition.label(phase)
