"""Conversations: the memory that lets a follow-up build on earlier turns.

A follow-up ("now plot it", "do the same for n=20") only makes sense next to what came before,
so each turn keeps its task, the code that was accepted and what it printed, and the Scout and
Mechanic see them as a "conversation so far" section. Branching copies the turns up to a chosen
one into a new conversation, so an alternative can be explored without losing the original.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from executor.prompts import clip
from executor.results import ExecutionResult

# Older turns are summarised harder than recent ones: the prompt budget goes where it matters.
RECENT_TURNS_IN_FULL = 3
MAX_HISTORY_CHARS = 12000


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Turn:
    task: str
    run_id: str = ""
    success: bool = False
    code: str = ""
    final_output: str = ""
    explanation: str = ""
    created_at: float = field(default_factory=time.time)

    @classmethod
    def from_result(cls, task: str, result: ExecutionResult) -> Turn:
        return cls(
            task=task,
            run_id=result.run_id,
            success=result.success,
            code=result.code,
            final_output=result.final_output,
            explanation=result.explanation,
        )

    def describe(self, number: int, *, full: bool) -> str:
        status = "succeeded" if self.success else "did not succeed"
        lines = [f"Turn {number} ({status}). Task: {self.task}"]
        if self.code:
            code = self.code if full else clip(self.code, 600)
            lines.append(f"Code:\n```python\n{code}\n```")
        if self.final_output:
            lines.append(f"Output:\n```\n{clip(self.final_output, 2000 if full else 300)}\n```")
        if self.explanation and full:
            lines.append(f"Note: {clip(self.explanation, 500)}")
        return "\n".join(lines)


@dataclass
class Conversation:
    id: str = field(default_factory=new_id)
    title: str = ""
    turns: list[Turn] = field(default_factory=list)
    parent_id: str | None = None
    branched_at_turn: int | None = None
    created_at: float = field(default_factory=time.time)
    # The files uploaded in its turns (name -> bytes): every later turn has them in its work
    # dir. Kept in memory for the conversation's life, not written to the trace store.
    files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def history_text(self, max_chars: int = MAX_HISTORY_CHARS) -> str:
        """Earlier turns as prompt text; recent ones in full, older ones clipped."""
        if not self.turns:
            return ""
        first_full = max(0, len(self.turns) - RECENT_TURNS_IN_FULL)
        parts = [turn.describe(i + 1, full=i >= first_full) for i, turn in enumerate(self.turns)]
        if self.files:
            parts.append("Files uploaded so far (still in the work dir): " + ", ".join(self.files))
        return clip("\n\n".join(parts), max_chars)

    def add_turn(self, task: str, result: ExecutionResult) -> Turn:
        turn = Turn.from_result(task, result)
        self.turns.append(turn)
        if not self.title:
            self.title = task.strip().splitlines()[0][:80] if task.strip() else "conversation"
        return turn

    def branch(self, at_turn: int, title: str = "") -> Conversation:
        """A new conversation holding turns ``0..at_turn`` (0-based, inclusive) of this one."""
        if not 0 <= at_turn < len(self.turns):
            raise IndexError(f"no turn {at_turn}: the conversation has {len(self.turns)} turns")
        return Conversation(
            title=title or f"{self.title} (branch at turn {at_turn + 1})",
            turns=[Turn(**asdict(t)) for t in self.turns[: at_turn + 1]],
            parent_id=self.id,
            branched_at_turn=at_turn,
            files=dict(self.files),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, files={}))  # never deep-copy the files' bytes
        data.pop("files", None)
        data["file_names"] = sorted(self.files)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        return cls(
            id=data["id"],
            title=data.get("title", ""),
            turns=[Turn(**t) for t in data.get("turns", [])],
            parent_id=data.get("parent_id"),
            branched_at_turn=data.get("branched_at_turn"),
            created_at=float(data.get("created_at", time.time())),
        )
