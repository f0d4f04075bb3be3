"""The markup every drawing of a run shares: clipped code blocks, outcome marks, refusal texts.

A leaf under the chat's steps (:mod:`app.ui.chat_render`), the answer after them
(:mod:`app.ui.chat_answer`) and the Traces tab, so each of them draws a block, a mark or a
refused key the same way without importing the others.
"""

from __future__ import annotations

from typing import Any

from executor import TraceEvent
from executor.events import CANCELLED, OUTCOME, PHASE_INFO, outcome

MAX_BLOCK_CHARS = 6000
PHASE_ICONS = {phase: info.icon for phase, info in PHASE_INFO.items()}
#: Statuses drawn as a failure (what each status means is ``executor.events.OUTCOME``).
FAILED = {status for status, meaning in OUTCOME.items() if meaning in ("bad", "stopped")} - {
    CANCELLED
}
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


def seconds(event: TraceEvent) -> float | None:
    """The event's duration as a step shows it (seconds, two decimals); None when unmeasured."""
    return round(event.duration_ms / 1000, 2) if event.duration_ms else None


_OUTCOME_MARKS = {"bad": "❌", "stopped": "❌", "warning": "⚠️", "skipped": "↪️", "retry": "↪️"}


def mark(status: str) -> str:
    """The icon a finished step's title starts with, from what its status means."""
    return _OUTCOME_MARKS.get(outcome(status), "✅")


def error_line(error: dict[str, Any]) -> str:
    """A program's error in one line, for when it came without a traceback."""
    where = f" (line {error['lineno']})" if error.get("lineno") else ""
    return f"{error.get('type', 'Error')}{where}: {error.get('message', '')}"
