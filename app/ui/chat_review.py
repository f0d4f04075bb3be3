"""Review before running, in the Chat tab: the run pauses and the visitor decides.

With "Review code before it runs" on (Settings, per visitor), each run gets a :class:`ReviewDesk`
as its executor's ``review`` callable. The executor calls it on its own review thread; the desk
puts the request in the run handler's inbox (so the handler, still streaming the run, shows the
review panel) and waits on a per-run queue for the visitor's decision, which the panel's buttons
post from another request. Nothing blocks the server: the wait is on the run's own threads, and
the executor's review timeout, the run's deadline and Stop all end it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from executor import ReviewDecision, ReviewRequest

POLL_S = 0.5
HIDDEN = False  # the panel's visibility when no review waits  # how often a waiting desk checks whether the executor stopped waiting
PANEL_HINT = (
    "**The run is paused: review the code before it runs.** **▶ Run** runs what is in the box "
    "(your changes included), **✎ Edit & run** runs your edited version, **✗ Reject** sends "
    "your note to the model, which writes a new version."
)


class ReviewClosed(Exception):
    """The executor stopped waiting (timeout, Stop, the run's deadline) before a decision."""


@dataclass
class ReviewDesk:
    """One run's review callable and the visitor's side of it (thread-safe)."""

    inbox: Any = None  # the run handler's queue: ("review", request) wakes it
    request: ReviewRequest | None = None  # the review waiting for the visitor, if any
    _decisions: queue.Queue = field(default_factory=queue.Queue)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: ReviewRequest) -> ReviewDecision:
        """Called by the executor (on its review thread): wait for the visitor's decision."""
        decisions: queue.Queue = queue.Queue()
        with self._lock:
            self.request = request
            self._decisions = decisions
        self._notify(("review", request))
        try:
            while True:
                try:
                    return decisions.get(timeout=POLL_S)
                except queue.Empty:
                    if request.closed.is_set():
                        raise ReviewClosed("the run stopped waiting for a review") from None
        finally:
            with self._lock:
                if self.request is request:
                    self.request = None
            self._notify(("review_done", request))

    def decide(self, decision: ReviewDecision) -> bool:
        """Post the visitor's decision; False when no review is waiting any more."""
        with self._lock:
            request = self.request
            if request is None or request.closed.is_set():
                return False
            self.request = None
            self._decisions.put(decision)
        return True

    def _notify(self, item: tuple[str, ReviewRequest]) -> None:
        if self.inbox is not None:
            self.inbox.put(item)


@dataclass
class ReviewPanel:
    """The components under the chat that show a paused run's code."""

    panel: gr.Column
    status: gr.Markdown
    feedback: gr.Markdown  # the buttons' own messages (no other event writes it)
    code: gr.Code
    note: gr.Textbox
    run: gr.Button
    edit: gr.Button
    reject: gr.Button

    @property
    def outputs(self) -> list[Any]:
        return [self.panel, self.status, self.code, self.note]


def build_review_panel() -> ReviewPanel:
    """Lay out the (hidden) review panel; wired by :func:`wire_review_panel`."""
    with gr.Column(visible=HIDDEN, elem_id="chat-review") as panel:
        status = gr.Markdown(PANEL_HINT, elem_id="chat-review-status")
        feedback = gr.Markdown("", elem_id="chat-review-feedback")
        code = gr.Code(
            language="python",
            interactive=True,
            label="Code about to run (editable)",
            elem_id="chat-review-code",
            lines=6,
            max_lines=24,
        )
        note = gr.Textbox(
            label="Note for the model (to reject)",
            placeholder="what should change, e.g. 'use integer arithmetic'",
            elem_id="chat-review-note",
            lines=1,
        )
        with gr.Row():
            run = gr.Button("▶ Run", variant="primary", elem_id="chat-review-run", size="sm")
            edit = gr.Button("✎ Edit & run", elem_id="chat-review-edit", size="sm")
            reject = gr.Button("✗ Reject", variant="stop", elem_id="chat-review-reject", size="sm")
    return ReviewPanel(panel, status, feedback, code, note, run, edit, reject)


def wire_review_panel(review: ReviewPanel, chat_state: gr.State) -> None:
    instant: dict[str, Any] = {
        "queue": False,
        "show_progress": "hidden",
        "api_visibility": "private",
    }
    # Only the buttons write ``feedback``: an update to a component that the streaming run
    # handler also writes may be dropped by the browser while that handler is pending.
    outputs = [review.panel, review.feedback]
    review.run.click(review_run, inputs=[chat_state, review.code], outputs=outputs, **instant)
    review.edit.click(review_edit, inputs=[chat_state, review.code], outputs=outputs, **instant)
    review.reject.click(review_reject, inputs=[chat_state, review.note], outputs=outputs, **instant)


# ------------------------------------------------------------------ the visitor's decisions


def _post(session: Any, decision: ReviewDecision) -> tuple[Any, Any]:
    """Hand the decision to the waiting run and hide the panel (also when the review ended in
    the meantime: the chat then says how the run stopped)."""
    desk = getattr(session, "review_desk", None)
    if desk is not None:
        desk.decide(decision)
    return gr.update(visible=HIDDEN), gr.update(value="")


def _waiting(session: Any) -> ReviewRequest | None:
    desk = getattr(session, "review_desk", None)
    return desk.request if desk is not None else None


def review_run(session: Any, code: str | None) -> tuple[Any, Any]:
    """▶ Run: the code in the box. Unchanged, it runs as written; changed, it is an edit (what
    the visitor typed is never thrown away)."""
    request = _waiting(session)
    if request is None:
        return gr.update(visible=HIDDEN), gr.update(value="")
    code = code or ""
    if code.strip() and code.strip() != request.code.strip():
        return _post(session, ReviewDecision.edit(code))
    return _post(session, ReviewDecision.run())


def review_edit(session: Any, code: str | None) -> tuple[Any, Any]:
    """✎ Edit & run: the visitor's version of the code (it must differ from the model's)."""
    request = _waiting(session)
    if request is None:
        return gr.update(visible=HIDDEN), gr.update(value="")
    code = code or ""
    if not code.strip():
        return gr.update(), gr.update(value="**The box is empty.** Put the code to run in it.")
    if code.strip() == request.code.strip():
        return gr.update(), gr.update(
            value="**The code is unchanged.** Edit it in the box first, or press ▶ Run."
        )
    return _post(session, ReviewDecision.edit(code))


def review_reject(session: Any, note: str | None) -> tuple[Any, Any]:
    """✗ Reject: the note goes to the model as the next attempt's repair prompt."""
    if _waiting(session) is None:
        return gr.update(visible=HIDDEN), gr.update(value="")
    note = (note or "").strip()
    if not note:
        return gr.update(), gr.update(
            value="**Write a note first:** it tells the model what to change."
        )
    return _post(session, ReviewDecision.reject(note))


# ------------------------------------------------------------------ the run, with the panel


def panel_updates(request: ReviewRequest | None, code: str = "") -> tuple[Any, Any, Any, Any]:
    """The panel's whole state: a waiting request's code (note cleared), or hidden.

    Always complete values, never a bare ``gr.update()``: Gradio streams a generator's outputs
    as diffs, and a bare update after a full one becomes a "delete" the browser may apply to
    the panel before it is even shown. Repeating the same state sends nothing at all."""
    if request is None:
        return (
            gr.update(visible=HIDDEN),
            gr.update(value=PANEL_HINT),
            gr.update(value=code),
            gr.update(value=""),
        )
    hint = (
        f"{PANEL_HINT}\n\nAttempt {request.attempt} · the run waits up to "
        f"{request.timeout_s:g} s, then stops."
    )
    return (
        gr.update(visible=True),
        gr.update(value=hint),
        gr.update(value=request.code),
        gr.update(value=""),
    )


def run(
    pending: dict | None, history: list | None, session: Any, settings: Any, api_key: str
) -> Iterator[tuple]:
    """:func:`app.ui.chat.run` with the review panel's outputs after its own: the panel shows
    when a review is waiting and hides when it is decided, timed out or stopped."""
    from app.ui import chat

    shown: ReviewRequest | None = None
    state = panel_updates(None)
    for view in chat.run(pending, history, session, settings, api_key):
        waiting = _waiting(session)
        if waiting is not shown:
            state = panel_updates(waiting, shown.code if shown is not None else "")
            shown = waiting
        # Fresh copies: Gradio pops "value" out of an update dict it sends, which would turn
        # the next (same) state into a "delete" diff.
        yield (*view, *(dict(update) for update in state))
