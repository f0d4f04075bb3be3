"""Trace events -> chat messages: what each step of a run says, drawn from its event's view.

The drawing of an event is picked by its definition in ``executor.events`` (its *view*), never by
its phase or step name, so a renamed step cannot silently vanish from the chat. Opening, timing
and closing the steps is :class:`app.ui.chat_progress.StepTracker`'s; the shared markup is in
:mod:`app.ui.chat_markup`, the answer after the steps in :mod:`app.ui.chat_answer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from app.ui.chat_answer import final_messages, key_rejected, program_file, program_messages
from app.ui.chat_markup import (
    FAILED,
    HOST_KEY_REJECTED,
    KEY_REJECTED,
    MAX_BLOCK_CHARS,
    PHASE_ICONS,
    error_line,
    fenced,
    mark,
)
from app.ui.chat_progress import START_KEY, STEP_KEY, StepTracker
from app.ui.chat_steps import describe_plan, vision_step
from executor import TraceEvent
from executor.events import CANCELLED, PARTIAL, event_type, label_of, outcome


@dataclass
class StepRenderer(StepTracker):
    """Accumulates the messages of one run; ``messages`` is what goes after the user's turn."""

    # How many images the task carries: a run with images gets a "what the vision model read" step.
    images: int = 0
    # Whose key the run uses ("session", "environment", "none"): decides how a refusal is worded.
    key_source: str = "session"
    key_rejected: bool = False

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
        """Draw ``event``: output so far into its running step, a stop or cancel by closing
        what is under way, anything else by its view's drawing (``DRAWINGS``)."""
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
        title = f"{mark(event.status)} Tool · {tool}"
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
            parts.append("**error**\n" + fenced(error.get("traceback") or error_line(error)))
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
        title = f"{mark(event.status)} Inspector · attempt {event.attempt} {verb}"
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
        title = f"{mark(event.status)} Inspector · checks: {event.message}"
        self._close(("inspector", "checks", event.seq), title, "\n".join(lines), event)

    def _inspector_verdict(self, event: TraceEvent) -> None:
        reason = event.payload.get("reason") or ""
        complete = event.payload.get("complete")
        title = f"{mark(event.status)} Inspector · verdict: {'complete' if complete else 'not complete'}"
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


# The answer after the steps (chat_answer.py), the plan's and the vision model's text
# (chat_steps.py), the markup and the step keys are re-exported: the tab and tests import them here.
__all__ = [
    "FAILED",
    "HOST_KEY_REJECTED",
    "KEY_REJECTED",
    "MAX_BLOCK_CHARS",
    "PHASE_ICONS",
    "START_KEY",
    "STEP_KEY",
    "StepRenderer",
    "describe_plan",
    "fenced",
    "final_messages",
    "key_rejected",
    "program_file",
    "program_messages",
    "vision_step",
]
