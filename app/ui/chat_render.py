"""Trace events -> chat messages: one collapsible step per phase, then the final answer.

A step opens as ``status: "pending"`` (spinner, expanded) when its "started" event arrives and is
closed (``"done"``, collapsed, with its duration) by the event that finishes it, so the visitor
watches the run happen instead of waiting for a wall of text at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gradio as gr

from executor import TraceEvent
from executor.events import (
    CANCELLED,
    OUTCOME,
    PARTIAL,
    PHASE_INFO,
    event_type,
    label_of,
    outcome,
)

MAX_BLOCK_CHARS = 6000
PHASE_ICONS = {phase: info.icon for phase, info in PHASE_INFO.items()}
#: Statuses drawn as a failure (what each status means is ``executor.events.OUTCOME``).
FAILED = {status for status, meaning in OUTCOME.items() if meaning in ("bad", "stopped")} - {
    CANCELLED
}
STEP_KEY = tuple[str, str, int]
START_KEY: STEP_KEY = ("run", "start", 0)
# What a visitor reads when the model server refuses a key. The host's own advice (which env var
# to set) goes to the server log and the README, never to a visitor.
KEY_REJECTED = (
    "**The key you pasted was rejected** by the Mistral server. Check it in **Settings** "
    "(copy it again from https://console.mistral.ai/api-keys), then retry."
)
HOST_KEY_REJECTED = (
    "**The app's API key was rejected** by the Mistral server, so it cannot reach the model "
    "right now. Paste your own key in **Settings** to go on."
)


def fenced(text: str, language: str = "") -> str:
    """A fenced block that survives backticks in ``text`` and is clipped to a readable size."""
    text = text if len(text) <= MAX_BLOCK_CHARS else text[:MAX_BLOCK_CHARS] + "\n... (clipped)"
    fence = "````" if "```" in text else "```"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _seconds(event: TraceEvent) -> float | None:
    return round(event.duration_ms / 1000, 2) if event.duration_ms else None


_OUTCOME_MARKS = {"bad": "❌", "stopped": "❌", "warning": "⚠️", "skipped": "↪️", "retry": "↪️"}


def _mark(status: str) -> str:
    return _OUTCOME_MARKS.get(outcome(status), "✅")


@dataclass
class StepRenderer:
    """Accumulates the messages of one run; ``messages`` is what goes after the user's turn."""

    messages: list[gr.ChatMessage] = field(default_factory=list)
    # How many images the task carries: a run with images gets a "what the vision model read" step.
    images: int = 0
    # Whose key the run uses ("session", "environment", "none"): decides how a refusal is worded.
    key_source: str = "session"
    # Limits shown next to a running step's elapsed time: a model call's, a sandbox run's.
    model_limit_s: float | None = None
    run_limit_s: float | None = None
    key_rejected: bool = False
    _open: dict[STEP_KEY, gr.ChatMessage] = field(default_factory=dict)
    _started: dict[STEP_KEY, float] = field(default_factory=dict)
    _limits: dict[STEP_KEY, float] = field(default_factory=dict)  # a step's own limit

    # ------------------------------------------------------------------ steps

    def _step(self, key: STEP_KEY, title: str, content: str = "") -> gr.ChatMessage:
        message = gr.ChatMessage(content=content, metadata={"title": title, "status": "pending"})
        self.messages.append(message)
        self._open[key] = message
        self._started[key] = time.monotonic()
        return message

    def start(self) -> gr.ChatMessage:
        """The "Starting" step, shown the moment a task is sent (before any event arrives)."""
        return self._step(START_KEY, "🚀 Starting", "Preparing the sandbox and the model…")

    def _limit(self, key: STEP_KEY) -> float | None:
        if key in self._limits:
            return self._limits[key]
        if key[0] == "inspector" and key[1] == "run":
            return self.run_limit_s
        if key[0] in ("scout", "mechanic", "inspector"):
            return self.model_limit_s
        return None

    def tick(self, now: float | None = None) -> bool:
        """Show each running step's elapsed time against its limit; True if anything changed."""
        now = time.monotonic() if now is None else now
        changed = False
        for key, message in self._open.items():
            elapsed = now - self._started.get(key, now)
            limit = self._limit(key)
            log = f"{elapsed:.0f} s" + (f" / {limit:g} s limit" if limit else "")
            if message.metadata.get("log") != log:
                message.metadata = {**message.metadata, "log": log}  # type: ignore[assignment]
                changed = True
        return changed

    def update_running(self, key: STEP_KEY, content: str) -> bool:
        """Replace a running step's content (e.g. code or stdout streamed as it is produced).

        Returns False when no such step is open (it already finished, or never started)."""
        message = self._open.get(key)
        if message is None:
            return False
        message.content = content
        return True

    def _close(self, key: STEP_KEY, title: str, content: str, event: TraceEvent) -> gr.ChatMessage:
        self._started.pop(key, None)
        message = self._open.pop(key, None)
        if message is None:
            message = gr.ChatMessage(content="", metadata={})
            self.messages.append(message)
        message.content = content
        metadata: dict[str, Any] = {"title": title, "status": "done"}
        seconds = _seconds(event)
        if seconds is not None:
            metadata["duration"] = seconds
        if event.tokens:
            metadata["log"] = f"{event.tokens} tokens"
        message.metadata = metadata  # type: ignore[assignment]
        return message

    def close_pending(self, note: str) -> None:
        """Mark every step still under way as done (the run ended or was stopped)."""
        for message in self._open.values():
            message.metadata = {  # type: ignore[assignment]
                "title": f"{message.metadata.get('title', '')} ({note})",
                "status": "done",
            }
        self._open.clear()
        self._started.clear()

    def _close_start(self, event: TraceEvent) -> None:
        message = self._open.pop(START_KEY, None)
        started = self._started.pop(START_KEY, None)
        if message is None:
            return
        message.content = "Sandbox and model ready; the run is under way."
        metadata: dict[str, Any] = {"title": "🚀 Started", "status": "done"}
        if started is not None:
            metadata["duration"] = round(max(0.0, time.monotonic() - started), 2)
        message.metadata = metadata  # type: ignore[assignment]

    # ------------------------------------------------------------------ events

    #: How each view of ``executor.events`` is drawn: the method that draws it. The drawing is
    #: picked by the event's definition, never by its phase or step name, and a test fails when
    #: a view has none here.
    DRAWINGS: ClassVar[dict[str, str]] = {
        "profile": "_scout_profile",
        "plan": "_scout_plan",
        "tool_round": "_scout_tools",
        "tool_call": "_scout_tool_call",
        "code": "_mechanic_code",
        "review": "_mechanic_review",
        "run": "_inspector_run",
        "checks": "_inspector_checks",
        "verdict": "_inspector_verdict",
        # Whether the attempt was accepted: its run, checks and verdict steps already say it.
        "attempt_result": "_folded",
        "heal": "_iterate_heal",
        "stop": "_failure",
        "final": "_final_result",
    }

    def add(self, event: TraceEvent) -> None:
        self._close_start(event)
        definition = event_type(event.phase, event.step)
        if event.status == PARTIAL:
            self._partial(event)
        elif event.status == CANCELLED and (definition is None or definition.view != "final"):
            self._failure(event)
        elif definition is not None:
            getattr(self, self.DRAWINGS[definition.view])(event)
        elif outcome(event.status) == "bad":  # an event this version does not define
            self._failure(event)

    def _folded(self, event: TraceEvent) -> None:
        """Drawn by the other steps (see ``DRAWINGS``)."""

    def _partial(self, event: TraceEvent) -> None:
        """Output as it is produced, into the step still running: the code the Mechanic is
        writing (``payload["code"]``), what the program prints (``payload["stdout"]``). The
        payload holds the text so far; the step's closing event replaces it with the final."""
        key = (event.phase, event.step, event.attempt)
        payload = event.payload
        if "code" in payload:
            self.update_running(key, fenced(str(payload["code"]), "python"))
        elif "stdout" in payload:
            self.update_running(key, "**stdout (so far)**\n" + fenced(str(payload["stdout"])))

    def _scout_plan(self, event: TraceEvent) -> None:
        key = ("scout", "plan", 0)
        if event.status == "started":
            self._step(key, "🧭 Scout · planning")
            return
        if event.status == "failed":  # invalid JSON: the Scout asks again, the step stays open
            step = self._open.get(key) or self._step(key, "🧭 Scout · planning")
            step.content = (
                f"The plan was not valid JSON; asking again. ({event.payload.get('error', '')})"
            )
            return
        plan = event.payload.get("plan") or {}
        title = "🧭 Scout · plan" + (" (minimal)" if event.status == "degraded" else "")
        self._close(key, title, describe_plan(plan, event.message), event)
        if self.images:
            self.messages.append(vision_step(plan, self.images, event.payload.get("model", "")))

    def _scout_profile(self, event: TraceEvent) -> None:
        key = ("scout", "profile", 0)
        if event.status == "started":
            self._step(key, "📄 Scout · reading the files")
            return
        files = event.payload.get("files") or []
        unreadable = sum(1 for f in files if isinstance(f, dict) and f.get("problem"))
        title = f"📄 Scout · {len(files)} file(s) profiled" + (
            f" ({unreadable} unreadable)" if unreadable else ""
        )
        self._close(key, title, fenced(str(event.payload.get("text") or event.message)), event)

    def _scout_tools(self, event: TraceEvent) -> None:
        calls = event.payload.get("calls") or []
        if not calls:
            return  # "no tools needed" is not worth a step
        names = ", ".join(call.get("name", "?") for call in calls)
        self._close(("scout", "tools", 0), f"🔧 Scout · asks for {names}", "", event)

    def _scout_tool_call(self, event: TraceEvent) -> None:
        payload = event.payload
        tool = payload.get("tool") or event.message or "tool"
        lines = [f"**Arguments:** `{json.dumps(payload.get('arguments', {}), default=str)[:500]}`"]
        served = payload.get("served_by")
        if served:
            connector = payload.get("connector") or tool
            reason = payload.get("reason")
            lines.append(
                f"**Served by:** {served} ({connector})" + (f" — {reason}" if reason else "")
            )
        if payload.get("error"):
            lines.append(f"**Error:** {payload['error']}")
        result = str(payload.get("result", ""))
        if result:
            lines.append(fenced(result))
        title = f"{_mark(event.status)} Tool · {tool}"
        self._close(("scout", "tool_call", event.seq), title, "\n\n".join(lines), event)

    def _mechanic_code(self, event: TraceEvent) -> None:
        key = ("mechanic", "code", event.attempt)
        if event.status == "started":
            self._step(key, f"🛠️ Mechanic · writing attempt {event.attempt}")
            return
        payload = event.payload
        parts = []
        if payload.get("code"):
            parts.append(fenced(payload["code"], "python"))
        if payload.get("preflight_error"):
            parts.append(f"**Pre-flight refused it:** {event.message}")
        elif not payload.get("code"):
            parts.append(f"**No code:** {event.message}")
        # The model's prose about accepted code goes with the final answer, not here twice.
        title = f"🛠️ Mechanic · attempt {event.attempt} code"
        if event.status in FAILED:
            title = f"❌ Mechanic · attempt {event.attempt} code refused"
        self._close(key, title, "\n\n".join(parts), event)

    def _mechanic_review(self, event: TraceEvent) -> None:
        """The pause before a program runs (``Executor(review=...)``): waiting, then the
        visitor's decision -- run, their edit (as a diff), or a rejection with its note."""
        key = ("mechanic", "review", event.attempt)
        number = event.attempt
        payload = event.payload
        if event.status == "started":
            step = self._step(key, f"⏸️ Review · attempt {number} waits for you")
            step.content = (
                "The code is in the **review box under the chat**: run it, edit it and run "
                "your version, or reject it with a note for the model."
            )
            limit = payload.get("review_timeout_s")
            if isinstance(limit, int | float):
                self._limits[key] = float(limit)
            return
        self._limits.pop(key, None)
        note = str(payload.get("note") or "").strip()
        parts = []
        if event.status == "edited":
            title = f"✎ Review · attempt {number} edited by you"
            parts.append("**Your changes**\n" + fenced(str(payload.get("diff") or ""), "diff"))
            if payload.get("preflight_error"):
                parts.append(f"**The sandbox refused the edited code:** {event.message}")
            if note:
                parts.append(f"**Your note:** {note}")
        elif event.status == "rejected":
            title = f"✗ Review · attempt {number} rejected"
            parts.append(f"**Your note to the model:** {note}")
            parts.append("The code did not run; the Mechanic writes a new version.")
        elif event.status == "ok":
            title = f"✅ Review · attempt {number} approved"
            parts.append("Run as written." + (f" **Your note:** {note}" if note else ""))
        else:  # error: no decision in time, or the reviewer failed: the run stops
            title = f"❌ Review · attempt {number} not decided"
            parts.append(event.message or "No decision came; the code did not run.")
        self._close(key, title, "\n\n".join(parts), event)
        if event.status == "error":
            self.close_pending("interrupted")

    def _inspector_run(self, event: TraceEvent) -> None:
        key = ("inspector", "run", event.attempt)
        if event.status == "started":
            self._step(key, f"🔍 Inspector · running attempt {event.attempt}")
            return
        if event.status == "skipped":
            self._close(key, f"↪️ Inspector · attempt {event.attempt} not run", event.message, event)
            return
        payload = event.payload
        parts = []
        if payload.get("stdout"):
            parts.append("**stdout**\n" + fenced(payload["stdout"]))
        error = payload.get("error")
        if error:
            parts.append("**error**\n" + fenced(error.get("traceback") or _error_line(error)))
        elif payload.get("limit_hit"):
            parts.append(f"**limit hit:** {payload['limit_hit']}")
        if payload.get("stderr"):
            parts.append("**stderr**\n" + fenced(payload["stderr"]))
        images = payload.get("images") or []
        if images:
            parts.append(f"{len(images)} figure(s) produced (shown with the answer).")
        if not parts:
            parts.append("(no output)")
        backend = payload.get("backend")
        verb = "ran" if event.status == "ok" else "failed"
        title = f"{_mark(event.status)} Inspector · attempt {event.attempt} {verb}"
        if backend:
            title += f" on {backend}"
        self._close(key, title, "\n\n".join(parts), event)

    def _inspector_checks(self, event: TraceEvent) -> None:
        checks = event.payload.get("checks") or []
        lines = [
            f"- {'✅' if c.get('passed') else '❌'} `{c.get('check', '')}`"
            + (f" — {c['message']}" if c.get("message") and not c.get("passed") else "")
            for c in checks
        ]
        title = f"{_mark(event.status)} Inspector · checks: {event.message}"
        self._close(("inspector", "checks", event.seq), title, "\n".join(lines), event)

    def _inspector_verdict(self, event: TraceEvent) -> None:
        reason = event.payload.get("reason") or ""
        complete = event.payload.get("complete")
        title = f"{_mark(event.status)} Inspector · verdict: {'complete' if complete else 'not complete'}"
        self._close(("inspector", "verdict", event.seq), title, reason, event)

    def _iterate_heal(self, event: TraceEvent) -> None:
        failure = event.payload.get("failure") or {}
        lines = [f"**Failure:** {failure.get('kind', '?')}: {failure.get('message', '')}"]
        if event.status == "retry":
            lines.append(f"**Next:** {event.message or 'another attempt'}")
            prompt = event.payload.get("repair_prompt")
            if prompt:
                lines.append(
                    "<details><summary>Repair prompt</summary>\n\n"
                    + fenced(prompt)
                    + "\n\n</details>"
                )
            title = (
                f"♻️ Iterate · {failure.get('kind', 'failure')} in attempt {event.attempt}, retrying"
            )
        else:
            lines.append(f"**Stopped:** {event.message}")
            title = f"■ Iterate · stopped after attempt {event.attempt}"
        self._close(("iterate", "heal", event.seq), title, "\n\n".join(lines), event)

    def _failure(self, event: TraceEvent) -> None:
        if event.status == "cancelled":
            self.close_pending("stopped")
            return
        self.close_pending("interrupted")
        title = f"❌ {label_of(event.phase, event.step)}"
        message = event.message
        if event.payload.get("type") == "AuthenticationError":
            self.key_rejected = True
            title = "❌ The model server refused the API key"
            message = KEY_REJECTED if self.key_source == "session" else HOST_KEY_REJECTED
        self._close((event.phase, event.step, event.seq), title, message, event)

    def _final_result(self, event: TraceEvent) -> None:
        self.close_pending("stopped" if event.status == "cancelled" else "unfinished")


def _error_line(error: dict[str, Any]) -> str:
    where = f" (line {error['lineno']})" if error.get("lineno") else ""
    return f"{error.get('type', 'Error')}{where}: {error.get('message', '')}"


# The answer after the steps lives in chat_answer.py, the plan's and the vision model's text in
# chat_steps.py (re-exported for the tab).
from app.ui.chat_answer import (  # noqa: E402
    final_messages,
    key_rejected,
    program_file,
    program_messages,
)
from app.ui.chat_steps import describe_plan, vision_step  # noqa: E402

__all__ = [
    "HOST_KEY_REJECTED",
    "KEY_REJECTED",
    "START_KEY",
    "StepRenderer",
    "describe_plan",
    "fenced",
    "final_messages",
    "key_rejected",
    "program_file",
    "program_messages",
    "vision_step",
]
