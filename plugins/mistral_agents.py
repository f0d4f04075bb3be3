"""Running one of Mistral's built-in connectors through the Agents and Conversations API.

Mistral runs its connectors (``web_search``, ``code_interpreter``, ``image_generation``,
``document_library``) inside a conversation: we create an agent that has the connector as a tool,
start a conversation with it, and read back ``tool.execution`` entries (what ran) and a
``message.output`` entry whose content mixes text with ``tool_reference`` chunks (citations) and
``tool_file`` chunks (generated files, downloaded through ``/v1/files/{id}/content``).

Agents are cached per server, model and tool configuration: creating one per call would double the
requests and litter the user's workspace with agents.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from plugins.connectors import ConnectorContext

_AGENTS: dict[tuple[str, str, str], str] = {}
_AGENTS_LOCK = threading.Lock()


@dataclass
class AgentReply:
    """What a connector-backed conversation produced, flattened for the connectors."""

    conversation_id: str
    text: str
    citations: list[dict[str, str]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)


class EmptyReplyError(RuntimeError):
    """The conversation finished without anything usable: treat it as a failed primary."""


def agent_id_for(ctx: ConnectorContext, tool: dict[str, Any], instructions: str) -> str:
    """The id of an agent that has ``tool``, created on first use."""
    key = (ctx.server_url or "", ctx.agent_model, json.dumps([tool, instructions], sort_keys=True))
    with _AGENTS_LOCK:
        if key in _AGENTS:
            return _AGENTS[key]
    agent = ctx.call_mistral(
        f"create a {tool['type']} agent",
        lambda sdk, timeout_ms: sdk.beta.agents.create(
            model=ctx.agent_model,
            name=f"mistral-executor {tool['type']}",
            description=f"mistral-executor's {tool['type']} connector",
            instructions=instructions,
            tools=[tool],
            timeout_ms=timeout_ms,
        ),
        retry=False,  # a retried creation could leave two agents
    )
    with _AGENTS_LOCK:
        _AGENTS[key] = agent.id
    return agent.id


def run_connector(
    ctx: ConnectorContext, tool: dict[str, Any], prompt: str, instructions: str
) -> AgentReply:
    """Ask an agent equipped with ``tool``; raises on HTTP errors and on empty replies."""
    agent_id = agent_id_for(ctx, tool, instructions)
    response = ctx.call_mistral(
        f"{tool['type']} conversation",
        lambda sdk, timeout_ms: sdk.beta.conversations.start(
            agent_id=agent_id, inputs=prompt, store=False, timeout_ms=timeout_ms
        ),
        model=ctx.agent_model,  # its usage counts in the run's totals
    )
    reply = parse_outputs(response.conversation_id, response.outputs)
    if not reply.text.strip() and not reply.files and not reply.citations:
        raise EmptyReplyError(f"the {tool['type']} conversation returned no output")
    return reply


def parse_outputs(conversation_id: str, outputs: list[Any]) -> AgentReply:
    reply = AgentReply(conversation_id=conversation_id, text="")
    texts: list[str] = []
    for entry in outputs:
        kind = getattr(entry, "type", None)
        if kind == "tool.execution":
            reply.executions.append(
                {"name": str(entry.name), "arguments": entry.arguments, "info": entry.info or {}}
            )
        elif kind == "message.output":
            content = entry.content
            if isinstance(content, str):
                texts.append(content)
                continue
            for chunk in content:
                _read_chunk(chunk, texts, reply)
    reply.text = "".join(texts).strip()
    return reply


def _read_chunk(chunk: Any, texts: list[str], reply: AgentReply) -> None:
    kind = getattr(chunk, "type", None)
    if kind == "text":
        texts.append(chunk.text)
    elif kind == "tool_reference":
        citation = {
            "title": chunk.title,
            "url": _value(chunk.url),
            "snippet": _value(chunk.description),
            "source": str(chunk.tool),
        }
        if citation not in reply.citations:
            reply.citations.append(citation)
    elif kind == "tool_file":
        reply.files.append(
            {
                "file_id": chunk.file_id,
                "file_name": _value(chunk.file_name),
                "file_type": _value(chunk.file_type),
                "tool": str(chunk.tool),
            }
        )


def _value(value: Any) -> str:
    """The SDK marks absent optional fields with an UNSET sentinel: read those as empty."""
    return value if isinstance(value, str) else ""


def download_file(ctx: ConnectorContext, file_id: str) -> bytes:
    def download(sdk: Any, timeout_ms: int) -> bytes:
        response = sdk.files.download(file_id=file_id, timeout_ms=timeout_ms)
        try:
            return response.read()
        finally:
            response.close()

    return ctx.call_mistral(f"download file {file_id}", download)
