"""The visitor's conversations, kept in their own browser (``gr.BrowserState``, localStorage).

A reload must not lose the chat, and a visitor should be able to reopen an earlier conversation,
continue it, or branch from one of its turns. The server keeps nothing between sessions (a hosted
app serves strangers), so each browser carries its own conversations.

What comes back from the browser is untrusted: BrowserState encrypts with a secret the page itself
knows, so a visitor can write anything there. Restoring therefore validates every field, clips
texts, and only shows a stored file if it still lies in Gradio's own cache directory -- a forged
path to a host file is dropped, never served.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from executor.conversation import Conversation, Turn

STORE_KEY = "mistral-executor-conversations"
MAX_CONVERSATIONS = 12
MAX_MESSAGES = 400
MAX_TEXT_CHARS = 40_000
MAX_TURNS = 100
# The recent list's first entry, standing for "no conversation picked" (a heading).
NO_CHOICE = ""
NO_CHOICE_LABEL = "🕘 Recent conversations"
FILE_GONE = "_(a file from this conversation is no longer on the server)_"


def empty_store() -> dict[str, Any]:
    return {"version": 1, "current": "", "conversations": []}


def new_record_id() -> str:
    return uuid.uuid4().hex[:16]


# ------------------------------------------------------------------ chat messages <-> JSON


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT_CHARS] if value is not None else ""


def _file_part(value: Any, component: str | None = None) -> dict[str, Any] | None:
    path = value.get("path") if isinstance(value, dict) else None
    if not isinstance(path, str) or not path:
        return None
    part: dict[str, Any] = {"type": "file", "path": path}
    if component:
        part["component"] = component
    return part


def storable_content(content: Any) -> list[dict[str, Any]]:
    """One message's content (as the Chatbot hands it to a handler) as JSON parts."""
    items = content if isinstance(content, list) else [content]
    parts: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            parts.append({"type": "text", "text": _text(item)})
        elif isinstance(item, dict) and item.get("type") == "text":
            parts.append({"type": "text", "text": _text(item.get("text"))})
        elif isinstance(item, dict) and item.get("type") == "file":
            part = _file_part(item.get("file"))
            if part:
                parts.append(part)
        elif isinstance(item, dict) and item.get("type") == "component":
            part = _file_part(item.get("value"), str(item.get("component") or ""))
            if part:
                parts.append(part)
        elif isinstance(item, dict) and "path" in item:
            part = _file_part(item)
            if part:
                parts.append(part)
    return parts


def _turn_of(index: int, turns: list[dict[str, int]]) -> int:
    number = -1
    for t, mark in enumerate(turns):
        if mark["start"] <= index:
            number = t
    return number


def storable_messages(
    history: list | None, turns: list[dict[str, int]] | None = None
) -> list[dict[str, Any]]:
    """The Chatbot's value (a handler's input) as JSON the browser can keep; each message
    notes the turn it belongs to, so turn boundaries survive the round trip."""
    stored = []
    history = list(history or [])
    first = max(0, len(history) - MAX_MESSAGES)
    for index, message in enumerate(history[first:], first):
        if isinstance(message, gr.ChatMessage):
            role, metadata, content = message.role, message.metadata, message.content
        elif isinstance(message, dict):
            role, metadata, content = (
                message.get("role"),
                message.get("metadata"),
                message.get("content"),
            )
        else:
            continue
        parts = storable_content(content)
        if not parts:
            continue
        entry: dict[str, Any] = {
            "role": "user" if role == "user" else "assistant",
            "content": parts,
            "turn": _turn_of(index, turns or []),
        }
        if isinstance(metadata, dict) and metadata.get("title"):
            entry["metadata"] = {
                k: metadata[k] for k in ("title", "status", "duration", "log") if k in metadata
            }
        stored.append(entry)
    return stored


def servable(path: str) -> bool:
    """Only files Gradio itself cached may be shown again (a forged path is refused)."""
    try:
        resolved = Path(path).resolve()
        cache = Path(get_upload_folder()).resolve()
    except (OSError, ValueError):
        return False
    return resolved.is_relative_to(cache) and resolved.is_file()


def _restored_part(part: Any) -> Any:
    if not isinstance(part, dict):
        return None
    if part.get("type") == "text":
        return _text(part.get("text"))
    if part.get("type") == "file":
        path = part.get("path")
        if not isinstance(path, str) or not servable(path):
            return FILE_GONE
        if part.get("component") == "image":
            return gr.Image(value=path)
        return {"path": path}
    return None


def restore_messages(stored: Any) -> tuple[list[gr.ChatMessage], dict[int, int]]:
    """Stored JSON back to chat messages, validated field by field; also where each turn starts."""
    messages: list[gr.ChatMessage] = []
    starts: dict[int, int] = {}
    for entry in stored[-MAX_MESSAGES:] if isinstance(stored, list) else []:
        if not isinstance(entry, dict):
            continue
        parts = [p for p in map(_restored_part, entry.get("content") or []) if p is not None]
        if not parts:
            continue
        role = "user" if entry.get("role") == "user" else "assistant"
        metadata = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else None
        kwargs: dict[str, Any] = {}
        if metadata and isinstance(metadata.get("title"), str):
            clean: dict[str, Any] = {"title": metadata["title"][:300], "status": "done"}
            if isinstance(metadata.get("duration"), int | float):
                clean["duration"] = float(metadata["duration"])
            if isinstance(metadata.get("log"), str):
                clean["log"] = metadata["log"][:200]
            kwargs["metadata"] = clean
        turn = entry.get("turn")
        if isinstance(turn, int) and turn >= 0 and turn not in starts:
            starts[turn] = len(messages)
        for part in parts:  # one message per part: text and files render as they did
            messages.append(gr.ChatMessage(role=role, content=part, **kwargs))
    return messages, starts


# ------------------------------------------------------------------ conversations


def conversation_from(data: Any) -> Conversation | None:
    """A stored conversation, or None when the data is not one (forged or from an old app)."""
    if not isinstance(data, dict):
        return None
    turns = []
    for turn in (data.get("turns") or [])[-MAX_TURNS:]:
        if not isinstance(turn, dict):
            continue
        turns.append(
            Turn(
                task=_text(turn.get("task")),
                run_id=_text(turn.get("run_id"))[:64],
                success=bool(turn.get("success")),
                code=_text(turn.get("code")),
                final_output=_text(turn.get("final_output")),
                explanation=_text(turn.get("explanation")),
            )
        )
    conversation = Conversation(title=_text(data.get("title"))[:200], turns=turns)
    if isinstance(data.get("id"), str) and data["id"].isalnum():
        conversation.id = data["id"][:64]
    return conversation


def _turn_marks(value: Any) -> list[dict[str, int]]:
    marks = []
    for mark in (value if isinstance(value, list) else [])[:MAX_TURNS]:
        try:
            marks.append(
                {
                    "start": max(0, int(mark["start"])),
                    "conv_before": max(0, int(mark["conv_before"])),
                }
            )
        except (KeyError, TypeError, ValueError):
            continue
    return marks


def records(store: Any) -> list[dict[str, Any]]:
    if not isinstance(store, dict) or not isinstance(store.get("conversations"), list):
        return []
    return [
        r for r in store["conversations"] if isinstance(r, dict) and isinstance(r.get("id"), str)
    ]


def find(store: Any, record_id: str) -> dict[str, Any] | None:
    return next((r for r in records(store) if r["id"] == record_id), None)


def label(record: dict[str, Any]) -> str:
    title = _text(record.get("title")).strip() or "conversation"
    turns = len(_turn_marks(record.get("turns")))
    when = time.strftime("%d %b %H:%M", time.localtime(float(record.get("updated") or 0)))
    return f"{title[:60]} · {turns} turn{'s' if turns != 1 else ''} · {when}"


def choices(store: Any) -> list[tuple[str, str]]:
    ordered = sorted(records(store), key=lambda r: float(r.get("updated") or 0), reverse=True)
    return [(NO_CHOICE_LABEL, NO_CHOICE), *((label(r), r["id"]) for r in ordered)]


def with_current(store: Any, record_id: str) -> dict[str, Any]:
    """The store with another conversation marked current (the one a reload reopens)."""
    kept = records(store)
    current = record_id if any(r["id"] == record_id for r in kept) else ""
    return {"version": 1, "current": current, "conversations": kept}


def save(
    store: Any,
    record_id: str,
    title: str,
    conversation: Conversation | None,
    history: list | None,
    turns: list[dict[str, int]],
) -> dict[str, Any]:
    """A new store value with this conversation written (newest first, oldest dropped)."""
    kept = [r for r in records(store) if r["id"] != record_id]
    record = {
        "id": record_id,
        "title": title[:200],
        "updated": time.time(),
        "conversation": conversation.to_dict() if conversation is not None else None,
        "history": storable_messages(history, turns),
        "turns": [dict(t) for t in turns],
    }
    kept = sorted([record, *kept], key=lambda r: float(r.get("updated") or 0), reverse=True)
    return {"version": 1, "current": record_id, "conversations": kept[:MAX_CONVERSATIONS]}


def load(record: dict[str, Any]) -> tuple[Conversation | None, list[gr.ChatMessage], list]:
    """(conversation, chat messages, turn marks) of a stored record, validated."""
    messages, starts = restore_messages(record.get("history"))
    marks = []
    for number, mark in enumerate(_turn_marks(record.get("turns"))):
        if number in starts:  # a turn whose messages were all dropped is gone
            marks.append({"start": starts[number], "conv_before": mark["conv_before"]})
    conversation = conversation_from(record.get("conversation"))
    if conversation is not None:  # a turn mark can never point past the conversation
        for mark in marks:
            mark["conv_before"] = min(mark["conv_before"], len(conversation.turns))
    return conversation, messages, marks
