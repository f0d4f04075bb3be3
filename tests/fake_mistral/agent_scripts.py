"""Scripted replies for the fake Conversations API (see ``tests.fake_mistral.agents``).

Each script renders to the exact wire entries of ``ConversationResponse.outputs``: connector
executions (``tool.execution``) and one ``message.output`` whose content mixes ``text``,
``tool_reference`` (citations) and ``tool_file`` (generated files) chunks.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):08x}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class PendingFile:
    """A file a scripted reply refers to; served by ``/v1/files/{id}/content`` once replied."""

    content: bytes
    name: str = "image.png"
    mime: str = "image/png"
    id: str = field(default_factory=lambda: new_id("file"))


@dataclass
class ConversationScript:
    """One conversation reply: connector executions, then a message with text and chunks."""

    text: str = ""
    executions: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    files: list[PendingFile] = field(default_factory=list)
    tool: str = "web_search"

    def outputs(self, agent_id: str | None, model: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for name, arguments, info in self.executions:
            entries.append(
                {
                    "object": "entry",
                    "type": "tool.execution",
                    "name": name,
                    "arguments": json.dumps(arguments),
                    "info": info,
                    "id": new_id("tool_exec"),
                    "created_at": now_iso(),
                    "completed_at": now_iso(),
                }
            )
        content: list[dict[str, Any]] = []
        if self.text:
            content.append({"type": "text", "text": self.text})
        for ref in self.references:
            content.append({"type": "tool_reference", "tool": self.tool, **ref})
        for item in self.files:
            content.append(
                {
                    "type": "tool_file",
                    "tool": self.tool,
                    "file_id": item.id,
                    "file_name": item.name,
                    "file_type": item.name.rsplit(".", 1)[-1],
                }
            )
        entries.append(
            {
                "object": "entry",
                "type": "message.output",
                "role": "assistant",
                "content": content,
                "id": new_id("msg"),
                "agent_id": agent_id,
                "model": model,
                "created_at": now_iso(),
                "completed_at": now_iso(),
            }
        )
        return entries


def conversation_reply(text: str = "", **options: Any) -> ConversationScript:
    return ConversationScript(text=text, **options)


def web_search_reply(
    text: str, results: list[tuple[str, str, str]], query: str = "query", premium: bool = False
) -> ConversationScript:
    tool = "web_search_premium" if premium else "web_search"
    return ConversationScript(
        text=text,
        tool=tool,
        executions=[(tool, {"query": query}, {})],
        references=[{"title": t, "url": u, "description": d} for t, u, d in results],
    )


def image_reply(
    content: bytes, text: str = "", name: str = "image_generated_0.png"
) -> ConversationScript:
    return ConversationScript(
        text=text,
        tool="image_generation",
        files=[PendingFile(content, name)],
        executions=[("image_generation", {"prompt": text or "image"}, {})],
    )


def code_interpreter_reply(code: str, output: str, text: str = "") -> ConversationScript:
    return ConversationScript(
        text=text or f"The code printed: {output.strip()}",
        tool="code_interpreter",
        executions=[("code_interpreter", {"code": code}, {"code": code, "code_output": output})],
    )


def library_reply(text: str, documents: list[str]) -> ConversationScript:
    return ConversationScript(
        text=text,
        tool="document_library",
        executions=[("document_library", {"query": text}, {})],
        references=[{"title": name, "description": None} for name in documents],
    )
