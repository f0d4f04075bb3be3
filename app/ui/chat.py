"""The Chat tab: a task (text and images) in, the run streamed as steps, the answer out.

Handlers are plain functions over plain values so tests drive them without a browser. Each
visitor's conversation, run in progress and run ids live in their own :class:`ChatSession` (a
``gr.State``); the stop button reaches the run through it, from another request thread.

A task goes through two handlers: :func:`start`, unqueued, echoes the visitor's message and a
"Starting" step at once; :func:`run` (queued) does the work and streams it. Nothing typed is
thrown away: a refused task stays in the box, a stopped one comes back to it, and the
conversation is kept in the visitor's browser (:mod:`app.ui.chat_history`).

The session itself is :mod:`app.ui.chat_session`'s, the page's inputs and outputs
:mod:`app.ui.chat_view`'s; both are re-exported here, the tab's one namespace.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from app.ui import chat_files, chat_history, services
from app.ui.chat_events import run_events, without_starting
from app.ui.chat_render import START_KEY, StepRenderer, final_messages, key_rejected
from app.ui.chat_review import ReviewDesk
from app.ui.chat_session import ChatSession, close_session
from app.ui.chat_view import (
    BUSY,
    View,
    box_value,
    idle_view,
    is_notice,
    split_message,
    user_messages,
)
from app.ui.session import (
    MAX_ITERATIONS_CAP,
    NO_KEY_MESSAGE,
    SessionSettings,
    resolve_credentials,
)
from executor.conversation import Conversation
from executor.mistral import MistralError
from sandbox import SandboxError

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 4
MAX_TASK_CHARS = 20_000
EXTRA_ATTEMPTS = 2  # "Retry with more attempts" adds this many to the session's budget
IMAGE_ONLY_TASK = (
    "Look at the attached image(s) and do what they call for; describe them if unclear."
)
DATA_ONLY_TASK = "Look at the attached file(s) and summarise what they hold."
EXAMPLES = [
    "Plot sin(x) and cos(x) for x from 0 to 2π and print the x where they first cross.",
    "Print the first 20 prime numbers.",
    "What is the sum of the digits of 2**100? Print it.",
]


def start(
    message: Any,
    history: list | None,
    session: ChatSession,
    settings: SessionSettings,
    api_key: str,
    extra_attempts: int = 0,
) -> tuple[list, Any, Any, Any, Any, dict | None]:
    """Echo the task and a "Starting" step at once; returns the view and the pending task.

    Unqueued and cheap, so the visitor sees their message within a frame of pressing Enter. A
    task that cannot run (no key, too long, a run under way) stays in the box.
    """
    text, files = split_message(message)
    history = [m for m in (history or []) if not is_notice(m)]
    if not text and not files:
        return (*idle_view(history, gr.update()), None)
    if not resolve_credentials(api_key, settings).ready:
        return (*idle_view([*history, gr.ChatMessage(content=NO_KEY_MESSAGE)], gr.update()), None)
    if session.active is not None:
        return (*idle_view([*history, gr.ChatMessage(content=BUSY)], gr.update()), None)
    if len(text) > MAX_TASK_CHARS:
        too_long = f"The task is too long ({len(text):,} characters; at most {MAX_TASK_CHARS:,})."
        return (*idle_view([*history, gr.ChatMessage(content=too_long)], gr.update()), None)
    refused = chat_files.check_uploads(files)
    if refused:
        return (*idle_view([*history, gr.ChatMessage(content=refused)], gr.update()), None)
    pending = {
        "text": text,
        "files": files,
        "extra": int(extra_attempts),
        "start": len(history),
        "t0": time.monotonic(),
    }
    starting = StepRenderer().start()
    view = [*history, *user_messages(text, files), starting]
    return (
        view,
        gr.update(value=None, interactive=False),
        gr.update(visible=True),
        gr.update(visible=False),
        gr.update(visible=False),
        pending,
    )


def run(
    pending: dict | None,
    history: list | None,
    session: ChatSession,
    settings: SessionSettings,
    api_key: str,
) -> Iterator[View]:
    """Run the pending task and stream its steps (the second half of a submission)."""
    history = list(history or [])
    if not pending:
        yield idle_view(history, gr.update())
        return
    text, files = pending.get("text", ""), list(pending.get("files") or [])
    history = without_starting(history)
    restore_box = gr.update(value=box_value(text, files), interactive=True)
    if session.active is not None:
        yield idle_view([*history, gr.ChatMessage(content=BUSY)], restore_box)
        return
    credentials = resolve_credentials(api_key, settings)
    extra = int(pending.get("extra") or 0)
    if extra:
        settings = settings.with_changes(
            max_iterations=min(MAX_ITERATIONS_CAP, settings.max_iterations + extra)
        )
    renderer = StepRenderer(
        images=len(files), key_source=credentials.source, run_limit_s=settings.timeout_s
    )
    renderer.start()
    renderer._started[START_KEY] = float(pending.get("t0") or time.monotonic())
    yield (
        *idle_view([*history, *renderer.messages], gr.update(interactive=False))[:2],
        gr.update(visible=True),
        gr.update(visible=False),
        gr.update(visible=False),
    )

    documents_home, session.documents_home = services.session_documents_home(session.documents_home)
    session_run = None
    inbox: queue.Queue = queue.Queue()
    try:
        session_run = services.build_run(credentials, settings, Path(documents_home))
        renderer.model_limit_s = getattr(
            getattr(session_run.client, "config", None), "timeout_s", None
        )
        if session.conversation is None:
            session.conversation = Conversation(title=(text or "image task")[:80])
        conversation_before = len(session.conversation.turns)
        images, data_files = chat_files.split_attachments(files)
        if settings.review:  # the run pauses for the visitor before each program runs
            session.review_desk = session_run.executor.review = ReviewDesk(inbox)
        stream = session_run.executor.stream(
            text or (IMAGE_ONLY_TASK if images else DATA_ONLY_TASK),
            images=images,
            conversation=session.conversation,
            files=data_files,
            partial=True,  # the Mechanic's code shows in its step as it is written
        )
    except (ValueError, MistralError, SandboxError) as exc:
        session.review_desk = None
        if session_run is not None:
            session_run.close()
        renderer.close_pending("not started")
        failed = gr.ChatMessage(content=f"**Cannot start the run:** {exc}")
        yield idle_view([*history, *renderer.messages, failed], restore_box)
        return

    session.active = stream
    if session.stop_requested:  # Stop was pressed while the run was being set up
        stream.cancel()
    result = None
    failure = ""
    try:
        for event in run_events(stream, inbox):
            if isinstance(event, tuple):  # a review is waiting (or over): show it at once
                yield (
                    *idle_view([*history, *renderer.messages], gr.update())[:2],
                    gr.update(visible=True),
                    gr.update(),
                    gr.update(),
                )
                continue
            if event is None:
                if renderer.tick():
                    yield (
                        *idle_view([*history, *renderer.messages], gr.update())[:2],
                        gr.update(visible=True),
                        gr.update(),
                        gr.update(),
                    )
                continue
            renderer.add(event)
            renderer.tick()
            yield (
                *idle_view([*history, *renderer.messages], gr.update())[:2],
                gr.update(visible=True),
                gr.update(),
                gr.update(),
            )
        result = stream.result
    except Exception as exc:  # a bug below us: say so rather than leave the chat hanging
        log.exception("the run failed")
        failure = f"**The run failed unexpectedly:** {type(exc).__name__}. See the server log."
    finally:
        session.active = None
        session.review_desk = None
        session.stop_requested = False
        if result is None:
            stream.cancel()  # the visitor left mid-run: do not let it burn tokens
        session_run.close()
    renderer.close_pending("unfinished")
    if result is not None and result.run_id:
        session.run_ids.append(result.run_id)
    if result is not None and key_rejected(result) and credentials.source == "environment":
        log.error(
            "the host's MISTRAL_API_KEY was rejected by %s; set a valid key "
            "(https://console.mistral.ai/api-keys) or check MISTRAL_SERVER_URL",
            credentials.server_url or "Mistral's cloud",
        )
    closing = (
        [gr.ChatMessage(content=failure)]
        if failure
        else [
            *final_messages(result, key_source=credentials.source),
            *chat_files.output_messages(result),
        ]
    )
    session.turns.append(
        {"start": int(pending.get("start", len(history))), "conv_before": conversation_before}
    )
    session.last_task = {"text": text, "files": files}
    session.last_code = result.code if result is not None else ""
    if not session.title:
        session.title = (text or "image task").splitlines()[0][:80]
    if not session.record_id:
        session.record_id = chat_history.new_record_id()
    succeeded = result is not None and result.success
    # A stopped or broken run gives its task back to the box; a finished one leaves it clear.
    stopped = result is None or result.cancelled or key_rejected(result)
    box = restore_box if stopped else gr.update(value=None, interactive=True)
    yield idle_view([*history, *renderer.messages, *closing], box, failed=not succeeded)


def submit(
    message: Any,
    history: list | None,
    session: ChatSession,
    settings: SessionSettings,
    api_key: str,
) -> Iterator[tuple[list, Any]]:
    """:func:`start` then :func:`run`, as one generator of (chat history, input box update)."""
    history, box, _stop, _actions, _edit, pending = start(
        message, history, session, settings, api_key
    )
    yield history, box
    if pending is None:
        return
    for view in run(pending, history, session, settings, api_key):
        yield view[0], view[1]


def stop(session: ChatSession) -> None:
    """Cancel this session's run; the streaming handler then renders it as stopped.

    Stop can be pressed the instant a task is sent, before the run has a stream to cancel: then
    the request is remembered and the run is cancelled as soon as it starts."""
    if session.stop():
        gr.Info("Stopping the run…")
    else:
        session.stop_requested = True


def key_notice(api_key: str, settings: SessionSettings) -> Any:
    """The banner telling a visitor without a key how to add one; hidden once there is one."""
    ready = resolve_credentials(api_key, settings).ready
    return gr.update(visible=not ready)


# Redoing, rewinding and reopening live in chat_turns.py, the layout in chat_layout.py (kept
# apart so each module stays readable); re-exported here as the tab's one namespace.
from app.ui.chat_layout import build_chat_tab  # noqa: E402
from app.ui.chat_turns import (  # noqa: E402
    edit_last,
    edit_message,
    new_conversation,
    open_conversation,
    open_in_sandbox,
    restore,
    retry,
    retry_more,
    rewind,
    save_conversation,
    turn_of,
)

__all__ = [
    "ChatSession",
    "build_chat_tab",
    "close_session",
    "edit_last",
    "edit_message",
    "new_conversation",
    "open_conversation",
    "open_in_sandbox",
    "restore",
    "retry",
    "retry_more",
    "rewind",
    "run",
    "save_conversation",
    "split_message",
    "start",
    "stop",
    "submit",
    "turn_of",
]
