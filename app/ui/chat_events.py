"""The chat's side of a running stream: its events pumped to the handler's thread, with ticks.

Kept apart from :mod:`app.ui.chat` so the handler reads as the run's story. The handler's
thread waits on one queue (the inbox) that the pump thread, and a review desk, post to; a
quiet moment yields ``None`` so running steps can show their elapsed time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import gradio as gr

TICK_S = 1.0  # how often a running step's elapsed time is refreshed


def run_events(stream: Any, inbox: queue.Queue | None = None) -> Iterator[Any]:
    """The run's events, and ``None`` every ``TICK_S`` while none comes (to refresh timers).

    Others may post to ``inbox`` too: a review desk's ``("review", request)`` items are
    yielded as they are, so the handler shows (or hides) the review panel at once."""
    inbox = inbox if inbox is not None else queue.Queue()

    def pump() -> None:
        try:
            for event in stream:
                inbox.put(("event", event))
        except BaseException as exc:  # handed to the handler's thread
            inbox.put(("error", exc))
        finally:
            inbox.put(("done", None))

    threading.Thread(target=pump, name="chat-events", daemon=True).start()
    while True:
        try:
            kind, item = inbox.get(timeout=TICK_S)
        except queue.Empty:
            yield None
            continue
        if kind == "event":
            yield item
        elif kind in ("review", "review_done"):
            yield (kind, item)
        elif kind == "error":
            raise item
        else:
            return


def without_starting(history: list) -> list:
    """The chat as the browser sent it back, minus the "Starting" step :func:`start` added."""
    if history:
        last = history[-1]
        metadata = (
            last.metadata
            if isinstance(last, gr.ChatMessage)
            else (last.get("metadata") if isinstance(last, dict) else None)
        )
        if isinstance(metadata, dict) and str(metadata.get("title", "")).startswith("🚀"):
            return list(history[:-1])
    return list(history)
