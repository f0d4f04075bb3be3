"""The Chat tab's layout and wiring (the handlers are in :mod:`app.ui.chat`).

A submission is two events chained: ``start`` (unqueued: the message and a "Starting" step show
at once) then ``run`` (queued, streamed). Every way in -- Enter, an example, Retry, an edited
message -- goes through the same chain, so they all behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.ui import chat, chat_files, chat_history, chat_review
from app.ui.session import NO_KEY_MESSAGE, SessionSettings, resolve_credentials

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
EMPTY_STATE = (
    "**Give me a task.** The Scout plans it, the Mechanic writes Python, the Inspector "
    "runs and checks it in the sandbox, and Iterate fixes it until it works. "
    "Attach images for the vision model. Try one of these:"
)


@dataclass
class ChatTab:
    """What other tabs wire to: the button that opens the last code in the Sandbox tab."""

    open_sandbox: gr.Button
    chatbot: gr.Chatbot


def pick_example(
    history: list | None,
    session: chat.ChatSession,
    settings: SessionSettings,
    api_key: str,
    picked: gr.SelectData,
) -> tuple:
    value = picked.value if isinstance(picked.value, dict) else {"text": str(picked.value)}
    return chat.start(
        {"text": value.get("text", ""), "files": []}, history, session, settings, api_key
    )


def mark_current(store: Any, session: chat.ChatSession) -> dict[str, Any]:
    """Remember in the browser which conversation is open, for the next reload."""
    return chat_history.with_current(store, session.record_id)


def use_key(key: str) -> tuple[str, str]:
    """The key pasted in the chat's banner goes to the Settings key box (the one every handler
    reads); the banner's box is cleared so the key sits in one place only."""
    return (key or "").strip(), ""


def check_pasted_key(api_key: str, settings: SessionSettings) -> None:
    """Tell the visitor at once whether the key they pasted in the banner works (a toast)."""
    from app.ui.models import check_key

    credentials = resolve_credentials(api_key, settings)
    if credentials.source != "session":
        return
    result = check_key(credentials, settings)
    text = result.message.replace("**", "")
    if result.works is False:
        gr.Warning(text, duration=15)
    elif result.works:
        gr.Info(text)
    elif text:
        gr.Warning(text)


def build_chat_tab(
    settings_state: gr.State,
    api_key: gr.Textbox,
    chat_state: gr.State,
    demo: gr.Blocks | None = None,
) -> ChatTab:
    """Lay out the tab and wire its events (inside an open ``gr.Tab``)."""
    # Visible from the first paint only when the host has no key: never a flash of the banner.
    needs_key = not resolve_credentials("", SessionSettings()).ready
    with gr.Column(visible=needs_key, elem_id="chat-key-notice") as notice:
        gr.Markdown(NO_KEY_MESSAGE)
        with gr.Row(equal_height=True):
            inline_key = gr.Textbox(
                show_label=False,
                type="password",
                placeholder="paste your Mistral API key here",
                elem_id="chat-key-input",
                scale=4,
                min_width=160,
            )
            inline_use = gr.Button(
                "Use this key", elem_id="chat-key-use", scale=1, min_width=100, size="sm"
            )
    chatbot = gr.Chatbot(
        show_label=False,
        elem_id="chatbot",
        height="calc(100dvh - 320px)",
        min_height=300,
        buttons=["copy_all"],
        feedback_options=None,
        editable="user",
        placeholder=EMPTY_STATE,
        examples=[{"text": example} for example in chat.EXAMPLES],
    )
    review = chat_review.build_review_panel()  # shown while a run waits for the visitor
    box = gr.MultimodalTextbox(
        placeholder="Describe a task, or attach a data file (CSV, XLSX, JSON…) or an image…",
        file_types=chat_files.ACCEPTED_TYPES,
        file_count="multiple",
        sources=["upload"],
        show_label=False,
        elem_id="chat-input",
        autofocus=True,
    )
    with gr.Row(elem_id="chat-controls"):
        stop_button = gr.Button(
            "■ Stop",
            variant="stop",
            elem_id="chat-stop",
            size="sm",
            visible=False,
            scale=0,
            min_width=80,
        )
        edit = gr.Button(
            "✎ Edit & resend", elem_id="chat-edit", size="sm", visible=False, scale=0, min_width=120
        )
        reset = gr.Button("New conversation", elem_id="chat-new", size="sm", scale=0, min_width=140)
        recent = gr.Dropdown(
            choices=chat_history.choices(chat_history.empty_store()),
            value=chat_history.NO_CHOICE,
            label="Recent conversations",
            show_label=False,
            elem_id="chat-recent",
            scale=2,
            min_width=180,
            info=None,
            allow_custom_value=False,
            interactive=True,
            container=False,
        )
    with gr.Row(visible=False, elem_id="chat-actions") as actions:
        retry = gr.Button("↻ Retry", elem_id="chat-retry", size="sm", min_width=90)
        retry_more = gr.Button(
            f"↻ Retry with {chat.EXTRA_ATTEMPTS} more attempts",
            elem_id="chat-retry-more",
            size="sm",
            min_width=160,
        )
        open_sandbox = gr.Button(
            "Open in Sandbox", elem_id="chat-open-sandbox", size="sm", min_width=120
        )
    store = gr.BrowserState(chat_history.empty_store(), storage_key=chat_history.STORE_KEY)
    pending = gr.State(None)

    view = [chatbot, box, stop_button, actions, edit]
    task_inputs = [chatbot, chat_state, settings_state, api_key]

    def chain(started: Any) -> None:
        ran = started.then(
            chat_review.run,
            inputs=[pending, chatbot, chat_state, settings_state, api_key],
            outputs=[*view, *review.outputs],
            concurrency_limit=chat.CHAT_CONCURRENCY,
            concurrency_id="chat",
            show_progress="hidden",
            **PRIVATE,
        )
        # Whatever happened to the run (even an error in the handler), the box comes back and
        # Stop goes away; then the conversation is written to the visitor's browser.
        ran.then(
            lambda: (
                gr.update(interactive=True),
                gr.update(visible=False),
                gr.update(visible=chat_review.HIDDEN),
            ),
            outputs=[box, stop_button, review.panel],
            show_progress="hidden",
            queue=False,
            **PRIVATE,
        )
        ran.then(
            chat.save_conversation,
            inputs=[chatbot, chat_state, store],
            outputs=[store, recent],
            show_progress="hidden",
            **PRIVATE,
        )

    instant: dict[str, Any] = {"queue": False, "show_progress": "hidden", **PRIVATE}
    chain(box.submit(chat.start, inputs=[box, *task_inputs], outputs=[*view, pending], **instant))
    chain(
        chatbot.example_select(
            pick_example, inputs=task_inputs, outputs=[*view, pending], **instant
        )
    )
    chain(retry.click(chat.retry, inputs=task_inputs, outputs=[*view, pending], **instant))
    chain(
        retry_more.click(chat.retry_more, inputs=task_inputs, outputs=[*view, pending], **instant)
    )
    chain(chatbot.edit(chat.edit_message, inputs=task_inputs, outputs=[*view, pending], **instant))
    edit.click(chat.edit_last, inputs=[chatbot, chat_state], outputs=view, **instant)
    stop_button.click(chat.stop, inputs=chat_state, queue=False, **PRIVATE)
    chat_review.wire_review_panel(review, chat_state)
    # The chat's own trash button is the same as "New conversation" (never a half-cleared
    # state); either way a reload then opens the empty chat, not the conversation left.
    for trigger in (reset.click, chatbot.clear):
        trigger(chat.new_conversation, inputs=chat_state, outputs=[*view, recent], **instant).then(
            mark_current, inputs=[store, chat_state], outputs=store, **instant
        )
    recent.input(
        chat.open_conversation, inputs=[recent, store, chat_state], outputs=view, **instant
    ).then(mark_current, inputs=[store, chat_state], outputs=store, **instant)
    if demo is not None:
        demo.load(
            chat.restore,
            inputs=[store, chat_state, chatbot],
            outputs=[chatbot, recent, edit],
            show_progress="hidden",
            **PRIVATE,
        )
    gr.on(
        [inline_use.click, inline_key.submit],
        use_key,
        inputs=inline_key,
        outputs=[api_key, inline_key],
        **instant,
    ).then(
        check_pasted_key,
        inputs=[api_key, settings_state],
        concurrency_limit=4,
        concurrency_id="key-check",
        show_progress="hidden",
        **PRIVATE,
    )
    gr.on(
        [api_key.change, settings_state.change],
        chat.key_notice,
        inputs=[api_key, settings_state],
        outputs=notice,
        show_progress="hidden",
        **PRIVATE,
    )
    return ChatTab(open_sandbox=open_sandbox, chatbot=chatbot)
