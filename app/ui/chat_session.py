"""One visitor's chat: the conversation, the run under way and what Retry or Edit reuse.

Kept apart from the handlers (:mod:`app.ui.chat`, :mod:`app.ui.chat_turns`), which all take it
and change it: this is the state a ``gr.State`` holds per browser session, and how it ends.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from app.ui import services


@dataclass
class ChatSession:
    """One visitor's chat. Created per browser session by ``gr.State``; never shared."""

    conversation: Any = None  # executor.Conversation, created on the first task
    run_ids: list[str] = field(default_factory=list)
    documents_home: str = ""  # private mode: this session's own document library
    active: Any = None  # the RunStream under way, so the stop button can cancel it
    # The conversation as the browser keeps it (chat_history): its id, title, and where each turn
    # starts in the chat and how many conversation turns came before it (for rewinding).
    record_id: str = ""
    title: str = ""
    turns: list[dict[str, int]] = field(default_factory=list)
    # The last task and what came of it: Retry, Edit & resend and Open in Sandbox use them.
    last_task: dict[str, Any] | None = None
    last_code: str = ""
    # Stop pressed while the run was still being set up (no stream to cancel yet).
    stop_requested: bool = False
    # The run's review desk when "Review code before it runs" is on (chat_review.ReviewDesk).
    review_desk: Any = None

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
