"""What a chat handler takes from the page and gives back to it.

The task box's value split into text and files, the visitor's turn as chat messages, and the
one tuple of outputs every task handler returns (:data:`View`), shared by the handlers in
:mod:`app.ui.chat` and :mod:`app.ui.chat_turns` so they update the page the same way.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.ui import chat_files
from app.ui.session import NO_KEY_MESSAGE

BUSY = "A run is already under way in this tab; stop it or wait for it to finish."

# The outputs every task handler updates, in this order (see build_chat_tab):
# chatbot, input box, Stop, the failed-run actions row, Edit & resend.
View = tuple[list, Any, Any, Any, Any]


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
    """The visitor's turn as the chat shows it: each attachment, then the text."""
    messages = [
        gr.ChatMessage(role="user", content=gr.Image(value=path))
        if chat_files.is_image(path)
        else chat_files.attachment_message(path)
        for path in files
    ]
    if text:
        messages.append(gr.ChatMessage(role="user", content=text))
    return messages


def is_notice(message: Any) -> bool:
    """Whether ``message`` is a notice a new task clears (no key, a run already under way)."""
    content = (
        message.content
        if isinstance(message, gr.ChatMessage)
        else (message.get("content") if isinstance(message, dict) else None)
    )
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0].get("text")
    return content in (NO_KEY_MESSAGE, BUSY)


def box_value(text: str, files: list[str]) -> dict[str, Any]:
    """The task box's value for ``text`` and ``files`` (to give a task back to the visitor)."""
    return {"text": text, "files": list(files)}


def idle_view(history: list, box: Any, *, failed: bool = False) -> View:
    """The page with no run under way: Stop hidden, the failure actions shown if it failed."""
    return (
        history,
        box,
        gr.update(visible=False),
        gr.update(visible=failed),
        gr.update(visible=bool(history)),
    )
