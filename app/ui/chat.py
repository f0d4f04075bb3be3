"""The Chat tab: a task (text and images) in, the run streamed as steps, the answer out.

Handlers are plain functions over plain values so tests drive them without a browser. Each
visitor's conversation, run in progress and run ids live in their own :class:`ChatSession` (a
``gr.State``); the stop button reaches the run through it, from another request thread.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from app.ui import services
from app.ui.chat_render import StepRenderer, final_messages
from app.ui.session import (
    NO_KEY_MESSAGE,
    SessionSettings,
    resolve_credentials,
)
from executor.mistral import MistralError
from sandbox import SandboxError

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 4
MAX_TASK_CHARS = 20_000
IMAGE_ONLY_TASK = "Look at the attached image(s) and do what they call for; describe them if unclear."
EXAMPLES = [
    "Plot sin(x) and cos(x) for x from 0 to 2π and print the x where they first cross.",
    "Print the first 20 prime numbers.",
    "What is the sum of the digits of 2**100? Print it.",
]


@dataclass
class ChatSession:
    """One visitor's chat. Created per browser session by ``gr.State``; never shared."""

    conversation: Any = None  # executor.Conversation, created on the first task
    run_ids: list[str] = field(default_factory=list)
    documents_home: str = ""  # private mode: this session's own document library
    active: Any = None  # the RunStream under way, so the stop button can cancel it

    def stop(self) -> bool:
        stream = self.active
        if stream is None:
            return False
        stream.cancel()
        return True


def close_session(session: ChatSession) -> None:
    """``gr.State`` delete callback: stop a run left behind and drop private documents."""
    if not isinstance(session, ChatSession):
        return
    session.stop()
    if services.private_mode() and session.documents_home:
        shutil.rmtree(session.documents_home, ignore_errors=True)


def split_message(message: Any) -> tuple[str, list[str]]:
    """The MultimodalTextbox value -> (text, image paths)."""
    if isinstance(message, str):
        return message.strip(), []
    if not isinstance(message, dict):
        return "", []
    files = []
    for item in message.get("files") or []:
        path = item.get("path") if isinstance(item, dict) else item
        if path:
            files.append(str(path))
    return (message.get("text") or "").strip(), files


def user_messages(text: str, files: list[str]) -> list[gr.ChatMessage]:
    messages = [gr.ChatMessage(role="user", content=gr.Image(value=path)) for path in files]
    if text:
        messages.append(gr.ChatMessage(role="user", content=text))
    return messages


def submit(
    message: Any,
    history: list | None,
    session: ChatSession,
    settings: SessionSettings,
    api_key: str,
) -> Iterator[tuple[list, Any]]:
    """Run a task and stream its steps. Yields (chat history, update for the input box)."""
    text, files = split_message(message)
    history = list(history or [])
    if not text and not files:
        yield history, gr.update()
        return
    history += user_messages(text, files)
    credentials = resolve_credentials(api_key, settings)
    if not credentials.ready:
        yield [*history, gr.ChatMessage(content=NO_KEY_MESSAGE)], gr.update(value=None)
        return
    if session.active is not None:
        busy = "A run is already under way in this tab; stop it or wait for it to finish."
        yield [*history, gr.ChatMessage(content=busy)], gr.update()
        return
    if len(text) > MAX_TASK_CHARS:
        too_long = f"The task is too long ({len(text):,} characters; at most {MAX_TASK_CHARS:,})."
        yield [*history, gr.ChatMessage(content=too_long)], gr.update()
        return

    documents_home, session.documents_home = services.session_documents_home(
        session.documents_home
    )
    run = None
    try:
        run = services.build_run(credentials, settings, Path(documents_home))
        if session.conversation is None:
            session.conversation = run.executor.new_conversation(title=(text or "image task")[:80])
        stream = run.executor.stream(
            text or IMAGE_ONLY_TASK, images=files, conversation=session.conversation
        )
    except (ValueError, MistralError, SandboxError) as exc:
        if run is not None:
            run.close()
        yield [*history, gr.ChatMessage(content=f"**Cannot start the run:** {exc}")], gr.update()
        return

    session.active = stream
    renderer = StepRenderer()
    result = None
    failure = ""
    yield history, gr.update(value=None, interactive=False)
    try:
        for event in stream:
            renderer.add(event)
            yield [*history, *renderer.messages], gr.update()
        result = stream.result
    except Exception as exc:  # a bug below us: say so rather than leave the chat hanging
        log.exception("the run failed")
        failure = f"**The run failed unexpectedly:** {type(exc).__name__}. See the server log."
    finally:
        session.active = None
        run.close()
    renderer.close_pending("unfinished")
    if result is not None and result.run_id:
        session.run_ids.append(result.run_id)
    closing = [gr.ChatMessage(content=failure)] if failure else final_messages(result)
    yield [*history, *renderer.messages, *closing], gr.update(interactive=True)


def stop(session: ChatSession) -> None:
    """Cancel this session's run; the streaming handler then renders it as stopped."""
    if session.stop():
        gr.Info("Stopping the run…")


def new_conversation(session: ChatSession) -> tuple[list, Any]:
    """Forget the conversation (the next task starts fresh); runs stay in the Traces tab."""
    session.stop()
    session.conversation = None
    return [], gr.update(value=None, interactive=True)


def key_notice(api_key: str, settings: SessionSettings) -> Any:
    """The banner telling a visitor without a key how to add one; hidden once there is one."""
    ready = resolve_credentials(api_key, settings).ready
    return gr.update(value=NO_KEY_MESSAGE, visible=not ready)


def build_chat_tab(
    settings_state: gr.State, api_key: gr.Textbox, chat_state: gr.State
) -> None:
    """Lay out the tab and wire its events (inside an open ``gr.Tab``)."""
    notice = gr.Markdown(NO_KEY_MESSAGE, elem_id="chat-key-notice")
    chatbot = gr.Chatbot(
        label="Run",
        elem_id="chatbot",
        height="68vh",
        min_height=420,
        buttons=["copy_all"],
        feedback_options=None,
        placeholder=(
            "**Give me a task.** The Scout plans it, the Mechanic writes Python, the Inspector "
            "runs and checks it in the sandbox, and Iterate fixes it until it works. "
            "Attach images for the vision model."
        ),
    )
    box = gr.MultimodalTextbox(
        placeholder="Describe a task, or attach an image and ask about it…",
        file_types=["image"],
        file_count="multiple",
        sources=["upload"],
        show_label=False,
        elem_id="chat-input",
        autofocus=True,
    )
    with gr.Row():
        stop_button = gr.Button("■ Stop", variant="stop", elem_id="chat-stop", size="sm")
        reset = gr.Button("New conversation", elem_id="chat-new", size="sm")
    gr.Examples([[{"text": example}] for example in EXAMPLES], inputs=[box], label="Try")

    run_event = box.submit(
        submit,
        inputs=[box, chatbot, chat_state, settings_state, api_key],
        outputs=[chatbot, box],
        concurrency_limit=CHAT_CONCURRENCY,
        concurrency_id="chat",
        api_visibility="private",
        show_progress="minimal",
    )
    # Whatever happened to the run (even an error in the handler), the box must come back.
    run_event.then(lambda: gr.update(interactive=True), outputs=box, api_visibility="private",
                   show_progress="hidden")
    stop_button.click(stop, inputs=chat_state, queue=False, api_visibility="private")
    reset.click(new_conversation, inputs=chat_state, outputs=[chatbot, box], queue=False,
                api_visibility="private")
    gr.on(None, key_notice, inputs=[api_key, settings_state], outputs=notice,
          api_visibility="private", show_progress="hidden")
