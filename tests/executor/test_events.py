"""Every trace event is defined once (``executor/events.py``), every emitted event is defined,
and each of the three renderers -- the CLI's progress, the chat, the Traces tab -- draws every
event type the definition lists."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from executor.events import (
    ANY_PHASE,
    EVENTS,
    OUTCOME,
    PHASE_INFO,
    PHASES,
    STATUSES,
    VIEWS,
    EventType,
    Step,
    UnknownEvent,
    check_event,
    event_type,
)
from executor.results import TraceEvent

REPO = Path(__file__).resolve().parents[2]
from typing import get_args  # noqa: E402


def test_the_definition_is_consistent() -> None:
    keys = [event.key for event in EVENTS]
    assert len(keys) == len(set(keys)), "an event is defined twice"
    assert {event.step for event in EVENTS} == set(get_args(Step))
    assert set(OUTCOME) == set(STATUSES) and set(PHASE_INFO) == set(PHASES)
    for event in EVENTS:
        assert set(event.statuses) <= set(STATUSES), event
        assert event.view in VIEWS and event.title and event.meaning, event
    assert {event.view for event in EVENTS} == set(VIEWS), "a view no event uses"


def test_check_event_refuses_what_is_not_defined() -> None:
    assert check_event("scout", "plan", "ok").view == "plan"
    assert check_event("mechanic", "deadline", "error").phase is ANY_PHASE
    with pytest.raises(UnknownEvent, match="no event scout/plans"):
        check_event("scout", "plans", "ok")
    with pytest.raises(UnknownEvent, match="has no status 'done'"):
        check_event("scout", "plan", "done")
    with pytest.raises(UnknownEvent, match="unknown phase"):
        check_event("planner", "plan", "ok")


def _emit_calls() -> list[tuple[str, int, ast.Call]]:
    calls = []
    for path in sorted((REPO / "executor").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("emit", "emit_partial")
                and len(node.args) >= 2
            ):
                calls.append((str(path.relative_to(REPO)), node.lineno, node))
    return calls


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def test_every_event_the_code_emits_is_defined() -> None:
    """A renamed or new step that is not added to executor/events.py fails here, not silently
    in a renderer."""
    calls = _emit_calls()
    assert len(calls) > 10, "the scan found no emit() calls: has emit moved?"
    for where, line, call in calls:
        phase, step = (_literal(arg) for arg in call.args[:2])
        assert step is not None, f"{where}:{line}: the step must be a literal"
        if phase is None:  # a stop: emitted by whichever phase the run was in
            definition = event_type("scout", step)
            assert definition is not None and definition.phase is ANY_PHASE, f"{where}:{line}"
        else:
            definition = event_type(phase, step)
            assert definition is not None, f"{where}:{line}: {phase}/{step} is not defined"
        partial = isinstance(call.func, ast.Attribute) and call.func.attr == "emit_partial"
        status = "partial" if partial else _literal(call.args[2]) if len(call.args) > 2 else None
        if status is not None:
            assert status in definition.statuses, f"{where}:{line}: {phase}/{step} {status}"
        for keyword in call.keywords:  # a literal payload: its keys are the declared ones
            if keyword.arg == "payload" and isinstance(keyword.value, ast.Dict):
                keys = {_literal(key) for key in keyword.value.keys if key is not None}
                declared = set(definition.payload.__annotations__)
                assert keys <= declared, f"{where}:{line}: {keys - declared} not in {definition}"


def samples() -> list[tuple[EventType, TraceEvent]]:
    """One event per (type, status), with the payload keys the renderers read."""
    payloads = {
        "plan": {"plan": {"summary": "s", "steps": ["a"], "checks": [], "needs_code": True}},
        "tool_round": {"calls": [{"name": "hello", "arguments": {}}]},
        "tool_call": {"tool": "hello", "arguments": {}, "result": "hi"},
        "code": {"code": "print(1)\n", "explanation": "e"},
        "review": {"code": "print(1)\n", "action": "run", "note": ""},
        "run": {"stdout": "1\n", "stderr": "", "error": None, "images": [], "files": []},
        "checks": {"checks": [{"expr": "True", "passed": True, "message": ""}]},
        "verdict": {"complete": True, "reason": "r"},
        "attempt_result": {"failure": None},
        "heal": {"failure": {"kind": "runtime", "message": "m"}, "reason": "r"},
        "stop": {"error": "boom", "type": "RuntimeError"},
        "final": {"success": True, "final_output": "1\n", "code": "print(1)\n"},
        "profile": {"files": [{"name": "a.csv", "size": 3, "type": "csv"}], "text": "a.csv"},
    }
    made = []
    for number, definition in enumerate(EVENTS, 1):
        phase = definition.phase or "inspector"
        for status in definition.statuses:
            event = TraceEvent(
                phase=phase,  # type: ignore[arg-type]
                step=definition.step,
                status=status,
                attempt=1 if phase in ("mechanic", "inspector", "iterate") else 0,
                payload=dict(payloads[definition.view]),
                message=f"{definition.title} {status}",
                seq=number,
            )
            made.append((definition, event))
    return made


def test_the_traces_tab_draws_every_event_type() -> None:
    from app.ui.traces import chart_frame, timeline_frame

    for definition, event in samples():
        frame = timeline_frame([event])
        if OUTCOME[event.status] == "running":
            assert frame.empty  # folded into the step's closing event
            continue
        assert list(frame["step"]) == [definition.title], (definition, event.status)
        chart_frame([event])  # drawn or deliberately left out, never an error


def test_the_cli_progress_draws_every_event_type() -> None:
    from rich.console import Console

    from app.commands.run_cmd import Progress

    for definition, event in samples():
        out = io.StringIO()
        progress = Progress(Console(file=out, width=200))
        progress.show(event)
        if OUTCOME[event.status] != "running":
            expected = f"{event.phase} · {definition.title}"
            assert expected in out.getvalue(), (definition, event.status)


def test_the_chat_draws_every_event_type() -> None:
    """Each view has a drawing, picked from the definition; every (type, status) is drawn
    without error, and every finished step but the folded ones leaves a message."""
    from app.ui.chat_render import StepRenderer

    assert set(StepRenderer.DRAWINGS) == set(VIEWS)
    for view, method in StepRenderer.DRAWINGS.items():
        assert callable(getattr(StepRenderer, method, None)), (view, method)
    folded = {view for view, method in StepRenderer.DRAWINGS.items() if method == "_folded"}
    assert folded == {"attempt_result"}  # the run, checks and verdict steps say it
    quiet = {("tool_round", "ok")}  # drawn only when the round made calls (see below)
    for definition, event in samples():
        renderer = StepRenderer()
        # A cancel and the final result are drawn by closing every step still under way (the
        # answer itself is chat_answer.py's, drawn from the ExecutionResult).
        if event.status == "cancelled" or definition.view == "final":
            step = renderer.start()
            renderer.add(event)
            assert step.metadata["status"] == "done", definition
            continue
        renderer.add(event)
        if definition.view in folded or OUTCOME[event.status] == "running":
            continue
        if (definition.view, event.status) in quiet:
            event.payload["calls"] = []
            empty = StepRenderer()
            empty.add(event)
            assert empty.messages == []
        assert renderer.messages, (definition, event.status)


def test_a_renamed_step_is_caught_not_silently_dropped() -> None:
    """What the issue saw: a step renamed in the code vanished from the chat. Now the emit is
    refused (``check_event``) and the chat has no name-based fallback to miss."""
    with pytest.raises(UnknownEvent):
        check_event("scout", "planning", "ok")
