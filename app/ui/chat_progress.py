"""The chat's steps as they run: opened, timed against their limit, closed with a duration.

A step opens as ``status: "pending"`` (spinner, expanded) when its "started" event arrives and is
closed (``"done"``, collapsed, with its duration) by the event that finishes it, so the visitor
watches the run happen instead of waiting for a wall of text at the end.

This is the bookkeeping only, apart from what each event says (:mod:`app.ui.chat_render` draws
that): which steps are open, since when, and the limit each one's elapsed time is shown against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from app.ui.chat_markup import seconds
from executor import TraceEvent

STEP_KEY = tuple[str, str, int]
START_KEY: STEP_KEY = ("run", "start", 0)


@dataclass
class StepTracker:
    """The messages of one run and the steps among them still under way."""

    messages: list[gr.ChatMessage] = field(default_factory=list)
    # Limits shown next to a running step's elapsed time: a model call's, a sandbox run's.
    model_limit_s: float | None = None
    run_limit_s: float | None = None
    _open: dict[STEP_KEY, gr.ChatMessage] = field(default_factory=dict)
    _started: dict[STEP_KEY, float] = field(default_factory=dict)
    _limits: dict[STEP_KEY, float] = field(default_factory=dict)  # a step's own limit

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
        duration = seconds(event)
        if duration is not None:
            metadata["duration"] = duration
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
