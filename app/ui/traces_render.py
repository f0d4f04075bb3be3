"""How the Traces tab draws a stored run: its timeline, its chart, its summary, each attempt.

Pure functions from events and results to tables, Markdown and HTML, apart from the tab's store
access, privacy and layout (:mod:`app.ui.traces`), so every view of ``executor.events`` can be
checked to have a drawing here without a store or a browser.
"""

from __future__ import annotations

import difflib
import html
import time
from typing import Any

import pandas as pd

from app.ui.chat_files import result_extras
from app.ui.chat_markup import fenced
from executor import Attempt, ExecutionResult, TraceEvent
from executor.events import event_type, label_of, outcome

TIMELINE_COLUMNS = ["#", "phase", "step", "attempt", "status", "duration (ms)", "tokens", "message"]
#: Views whose events span others' (an attempt, the whole run): drawn as rows of the timeline,
#: left out of the chart, where their bar would count the same time twice.
SPANNING_VIEWS: frozenset[str] = frozenset({"attempt_result", "final"})


def when(timestamp: float | None) -> str:
    """A stored run's timestamp in local time; empty when it has none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else ""


def _finished(events: list[TraceEvent]) -> list[TraceEvent]:
    """The events that close a step (a step's "started" event is folded into its closing one)."""
    return [e for e in events if outcome(e.status) != "running"]


def _title(event: TraceEvent) -> str:
    definition = event_type(event.phase, event.step)
    return definition.title if definition else event.step.replace("_", " ")


def timeline_frame(events: list[TraceEvent]) -> pd.DataFrame:
    """Finished steps, numbered 1..n in order, named as ``executor.events`` defines them."""
    rows = [
        [
            number,
            e.phase,
            _title(e),
            e.attempt,
            e.status,
            round(e.duration_ms, 1),
            e.tokens,
            (e.message or "").splitlines()[0][:120] if e.message else "",
        ]
        for number, e in enumerate(_finished(events), 1)
    ]
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def chart_frame(events: list[TraceEvent]) -> pd.DataFrame:
    """One bar per finished step, labelled so alphabetical order is the order they happened."""
    rows = []
    for number, event in enumerate(_finished(events), 1):  # the timeline's row numbers
        definition = event_type(event.phase, event.step)
        if definition is not None and definition.view in SPANNING_VIEWS:
            continue
        attempt = f" #{event.attempt}" if event.attempt else ""
        rows.append(
            {
                "step": f"{number:02d} {label_of(event.phase, event.step)}{attempt}",
                "duration (ms)": round(event.duration_ms, 1),
                "phase": event.phase,
            }
        )
    return pd.DataFrame(rows, columns=["step", "duration (ms)", "phase"])


def summary_markdown(run: Any, result: ExecutionResult | None) -> str:
    """The run's heading: task, status, time, tokens, then its outcome when it has a result."""
    s = run.summary
    lines = [
        f"### {s.task.splitlines()[0][:120] if s.task else '(no task)'}",
        f"Run `{s.id}` · **{s.status}** · started {when(s.created_at)}"
        + (f" · {s.total_duration_ms / 1000:.2f} s" if s.total_duration_ms else "")
        + (f" · {s.total_tokens} tokens" if s.total_tokens else ""),
    ]
    if result is not None:
        lines.append(
            f"{result.total_attempts} attempt(s) · stop reason: {result.stop_reason or '—'}"
            + (f" · sandbox: {result.backend}" if result.backend else "")
            + (f" ({result.backend_reason})" if result.backend and result.backend_reason else "")
        )
        if result.final_output.strip():
            lines.append("**Final output**\n" + fenced(result.final_output))
        lines += result_extras(result)
    elif s.status == "running":
        lines.append("_Still running, or interrupted: the trace below is what was recorded._")
    return "\n\n".join(lines)


def attempt_label(number: int, result: ExecutionResult) -> str:
    attempt = result.iterations[number - 1]
    outcome = "passed" if attempt.passed else (attempt.failure.kind if attempt.failure else "?")
    return f"Attempt {number} ({outcome})"


def code_diff(previous: str, current: str, number: int) -> str:
    """The change from the previous attempt as HTML: labelled, removed lines red, added green."""
    if number <= 1:
        return "<p><em>Attempt 1: the first attempt, nothing to compare with.</em></p>"
    diff = list(
        difflib.unified_diff(
            previous.splitlines(),
            current.splitlines(),
            f"attempt {number - 1}",
            f"attempt {number}",
            lineterm="",
        )
    )
    heading = (
        f"<p><strong>Changes from attempt {number - 1} to attempt {number}</strong> "
        "<span class='del'>− removed</span> <span class='add'>+ added</span></p>"
    )
    if not diff:
        return heading + "<p><em>Same code as the previous attempt.</em></p>"
    lines = []
    for line in diff[2:]:  # the ---/+++ header is said by the heading
        kind = (
            "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "hunk"
            if line.startswith("@@")
            else "ctx"
        )
        lines.append(f"<span class='{kind}'>{html.escape(line) or ' '}</span>")
    return heading + "<pre>" + "\n".join(lines) + "</pre>"


def attempt_errors(attempt: Attempt) -> str:
    """Everything that went wrong in one attempt, in the order it happened: pre-flight, the
    program's error, a limit, failed checks, the verdict, then what the program wrote to stderr."""
    errors = []
    if attempt.preflight_error:
        errors.append(f"pre-flight: {attempt.preflight_error}")
    if attempt.error:
        errors.append(attempt.error.traceback.strip() or str(attempt.error))
    if attempt.limit_hit:
        errors.append(f"limit hit: {attempt.limit_hit}")
    failed_checks = [c for c in attempt.checks if not c.passed]
    errors += [f"check failed: {c.check} {c.message}".strip() for c in failed_checks]
    if attempt.verdict and not attempt.verdict.complete:
        errors.append(f"verdict: not complete — {attempt.verdict.reason}")
    if attempt.stderr.strip():
        errors.append(attempt.stderr.rstrip())
    return "\n\n".join(errors)
