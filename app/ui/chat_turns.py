"""Redoing and rewinding a chat: Retry, Edit & resend, editing an earlier message (a branch),
Open in Sandbox, and reopening the conversations kept in the visitor's browser.

A *turn* is one task and what came of it. ``ChatSession.turns`` records where each starts in the
chat and how many conversation turns came before it, so the chat on screen and the history the
model sees are always cut at the same place (``Conversation.branch``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.ui import chat_history
from app.ui.chat import EXTRA_ATTEMPTS, start
from app.ui.chat_session import ChatSession
from app.ui.chat_view import View, box_value, idle_view
from app.ui.session import SessionSettings
from executor.conversation import Conversation


def rewind(session: ChatSession, history: list | None, turn: int) -> list:
    """Drop turns ``turn..`` from the chat and the conversation; returns the shorter chat.

    The conversation is rebuilt with ``Conversation.branch`` (its turns before ``turn``), so
    the next task sees exactly the history that is on screen.
    """
    history = list(history or [])
    if not 0 <= turn < len(session.turns):
        return history
    mark = session.turns[turn]
    kept = mark["conv_before"]
    conversation = session.conversation
    if conversation is not None and kept > 0 and kept <= len(conversation.turns):
        branched = conversation.branch(kept - 1, title=conversation.title)
    else:
        branched = Conversation(title=getattr(conversation, "title", "") or session.title)
    session.conversation = branched
    session.turns = session.turns[:turn]
    return history[: mark["start"]]


def turn_of(session: ChatSession, index: int) -> int:
    """The turn a chat message (by index) belongs to; -1 if none."""
    number = -1
    for t, mark in enumerate(session.turns):
        if mark["start"] <= index:
            number = t
    return number


def retry(
    history: list | None,
    session: ChatSession,
    settings: SessionSettings,
    api_key: str,
    more: bool = False,
) -> tuple[list, Any, Any, Any, Any, dict | None]:
    """Run the last task again in place of its turn (with more attempts if asked)."""
    if session.last_task is None or not session.turns or session.active is not None:
        return (*idle_view(list(history or []), gr.update()), None)
    history = rewind(session, history, len(session.turns) - 1)
    return start(
        session.last_task,
        history,
        session,
        settings,
        api_key,
        extra_attempts=EXTRA_ATTEMPTS if more else 0,
    )


def retry_more(
    history: list | None, session: ChatSession, settings: SessionSettings, api_key: str
) -> tuple[list, Any, Any, Any, Any, dict | None]:
    return retry(history, session, settings, api_key, more=True)


def edit_last(history: list | None, session: ChatSession) -> View:
    """Edit & resend: the last task goes back into the box and its turn leaves the chat."""
    if not session.turns or session.active is not None:
        return idle_view(list(history or []), gr.update())
    last = len(session.turns) - 1
    task = session.last_task or {
        "text": _turn_text(history, session, last),
        "files": _turn_files(history, session, last),
    }
    history = rewind(session, history, last)
    return idle_view(
        history, gr.update(value=box_value(task["text"], task["files"]), interactive=True)
    )


def _edited_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("text") or value.get("content") or "")
    if isinstance(value, list):
        return " ".join(_edited_text(v) for v in value)
    return ""


def edit_message(
    history: list | None,
    session: ChatSession,
    settings: SessionSettings,
    api_key: str,
    edit: gr.EditData,
) -> tuple[list, Any, Any, Any, Any, dict | None]:
    """A user message edited in the chat: rerun from that turn.

    Editing the last turn replaces it; editing an earlier one *branches*: the conversation up to
    that turn becomes a new conversation, and the original stays in the recent list.
    """
    index = edit.index if isinstance(edit.index, int) else edit.index[0]
    turn = turn_of(session, index)
    text = _edited_text(edit.value).strip()
    if turn < 0 or session.active is not None or not text:
        return (*idle_view(list(history or []), gr.update()), None)
    files = [p for p in _turn_files(history, session, turn)]
    if turn < len(session.turns) - 1:
        session.record_id = chat_history.new_record_id()
        session.title = f"{session.title or 'conversation'} (branch at turn {turn + 1})"[:80]
    history = rewind(session, history, turn)
    return start(box_value(text, files), history, session, settings, api_key)


def _turn_files(history: list | None, session: ChatSession, turn: int) -> list[str]:
    """The images the visitor attached to one turn (paths in Gradio's cache)."""
    history = list(history or [])
    begin = session.turns[turn]["start"]
    end = session.turns[turn + 1]["start"] if turn + 1 < len(session.turns) else len(history)
    paths = []
    for message in history[begin:end]:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        for part in chat_history.storable_content(message.get("content")):
            # Only files Gradio cached from an upload are sent on (never a path from elsewhere).
            if part["type"] == "file" and chat_history.servable(part["path"]):
                paths.append(part["path"])
    return paths


def _turn_text(history: list | None, session: ChatSession, turn: int) -> str:
    """The text the visitor typed for one turn (after a reload ``last_task`` is unknown)."""
    history = list(history or [])
    begin = session.turns[turn]["start"]
    end = session.turns[turn + 1]["start"] if turn + 1 < len(session.turns) else len(history)
    texts = []
    for message in history[begin:end]:
        role = (
            message.role
            if isinstance(message, gr.ChatMessage)
            else (message.get("role") if isinstance(message, dict) else None)
        )
        content = (
            message.content
            if isinstance(message, gr.ChatMessage)
            else (message.get("content") if isinstance(message, dict) else None)
        )
        if role != "user":
            continue
        texts += [p["text"] for p in chat_history.storable_content(content) if p["type"] == "text"]
    return "\n".join(t for t in texts if t)


def open_in_sandbox(session: ChatSession) -> tuple[Any, Any]:
    """The last run's code into the Sandbox tab's editor, and that tab shown."""
    if not session.last_code:
        gr.Warning("There is no code from this conversation to open.")
        return gr.update(), gr.update()
    return gr.update(value=session.last_code), gr.Tabs(selected="sandbox")


# ------------------------------------------------------------------ conversations


def new_conversation(session: ChatSession) -> tuple[list, Any, Any, Any, Any, Any]:
    """Start afresh (the next task opens a new conversation); the old one stays in the recent
    list, runs stay in the Traces tab, and whatever is typed in the box stays there."""
    session.stop()
    session.conversation = None
    session.record_id = ""
    session.title = ""
    session.turns = []
    session.last_task = None
    session.last_code = ""
    return (*idle_view([], gr.update(interactive=True)), gr.update(value=chat_history.NO_CHOICE))


def save_conversation(history: list | None, session: ChatSession, store: Any) -> tuple[Any, Any]:
    """Write this conversation into the visitor's browser store (after each run)."""
    if not session.record_id or not session.turns:
        return gr.update(), gr.update()
    updated = chat_history.save(
        store, session.record_id, session.title, session.conversation, history, session.turns
    )
    return updated, gr.update(choices=chat_history.choices(updated), value=session.record_id)


def _open_record(record: dict | None, session: ChatSession) -> list:
    if record is None:
        return []
    conversation, messages, marks = chat_history.load(record)
    session.conversation = conversation
    session.record_id = record["id"]
    session.title = str(record.get("title") or "")[:200]
    session.turns = marks
    session.last_task = None
    session.last_code = ""
    return messages


def restore(store: Any, session: ChatSession, shown: Any = None) -> tuple[Any, Any, Any]:
    """On page load: reopen the conversation the visitor was in, and list the others.

    The load event can arrive after a quick visitor's first message (a slow server): what the
    chat already shows is then kept, never replaced by the stored conversation or emptied.
    """
    current = store.get("current") if isinstance(store, dict) else None
    record = chat_history.find(store, current) if isinstance(current, str) else None
    busy = session.active is not None or session.last_task is not None or bool(shown)
    if busy:  # keep what the chat shows
        return gr.update(), gr.update(choices=chat_history.choices(store)), gr.update()
    messages = _open_record(record, session) if record is not None else []
    return (
        messages,
        gr.update(
            choices=chat_history.choices(store),
            value=record["id"] if record else chat_history.NO_CHOICE,
        ),
        gr.update(visible=bool(messages)),
    )


def open_conversation(record_id: str | None, store: Any, session: ChatSession) -> View:
    """Reopen a recent conversation to continue it (a run under way is stopped first)."""
    record = chat_history.find(store, record_id or "")
    if record is None:  # the list's heading, or a conversation no longer stored: no change
        return (gr.update(), gr.update(), gr.update(), gr.update(), gr.update())
    session.stop()
    return idle_view(_open_record(record, session), gr.update())
