"""Chat requests and replies: what we send, and how any reply (whole or streamed) becomes a ChatReply.

Replies are read from plain dicts (the SDK's parsed response dumped back, or the raw JSON when the
SDK's strict models reject an OpenAI-compatible server's answer), so one tolerant reader serves
Mistral's cloud and self-hosted servers alike: content as a string or as thinking + text chunks,
tool calls whole (Mistral) or in argument fragments (OpenAI-style streams).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from executor.mistral.usage import Usage


@dataclass
class ToolCall:
    """A tool call requested by the model. ``arguments`` is {} and ``arguments_error`` says why
    when the model produced arguments that are not a JSON object (the caller can tell the model)."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str
    arguments_error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The form the API expects when this call is echoed back in an assistant message."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw_arguments},
        }


@dataclass
class StreamDelta:
    """Text and/or thinking that just arrived while streaming."""

    text: str = ""
    thinking: str = ""


@dataclass
class ChatReply:
    """One model answer. ``content`` is the text only (thinking chunks are in ``thinking``)."""

    content: str
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    parsed: Any = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str = ""
    duration_ms: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation before sending tool results."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_wire() for call in self.tool_calls]
        return message


def tool_result_message(call: ToolCall, result: str) -> dict[str, Any]:
    """The ``tool`` message answering ``call``."""
    return {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result}


# ------------------------------------------------------------------ requests


def normalise_tools(tools: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Accept full ``{"type": "function", "function": {...}}`` specs or the bare function part."""
    if not tools:
        return None
    normalised = []
    for tool in tools:
        if "function" in tool:
            normalised.append({"type": tool.get("type", "function"), "function": tool["function"]})
        elif "name" in tool:
            function = {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("parameters", {"type": "object", "properties": {}}),
            }
            normalised.append({"type": "function", "function": function})
        else:
            raise ValueError(f"not a tool spec (needs 'function' or 'name'): {tool!r}")
    return normalised


def response_format_for(schema: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    if schema is None:
        return None
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def build_request(
    messages: list[dict[str, Any]],
    *,
    model: str,
    tools: Iterable[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    response_schema: dict[str, Any] | None = None,
    schema_name: str = "reply",
    temperature: float | None = None,
    max_tokens: int | None = None,
    parallel_tool_calls: bool | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``sdk.chat.complete`` / ``sdk.chat.stream`` (unset options omitted)."""
    request: dict[str, Any] = {"model": model, "messages": list(messages)}
    normalised_tools = normalise_tools(tools)
    if normalised_tools:
        request["tools"] = normalised_tools
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            request["parallel_tool_calls"] = parallel_tool_calls
    response_format = response_format_for(response_schema, schema_name)
    if response_format is not None:
        request["response_format"] = response_format
    if temperature is not None:
        request["temperature"] = temperature
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    return request


def messages_have_images(messages: Iterable[dict[str, Any]]) -> bool:
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(chunk, dict) and chunk.get("type") == "image_url" for chunk in content
        ):
            return True
    return False


# ------------------------------------------------------------------ replies


def split_content(content: Any) -> tuple[str, str]:
    """(text, thinking) from a string or a list of chunks; other chunk kinds are ignored."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    text_parts: list[str] = []
    thinking_parts: list[str] = []
    for chunk in content if isinstance(content, list) else [content]:
        if isinstance(chunk, str):
            text_parts.append(chunk)
        elif isinstance(chunk, dict):
            kind = chunk.get("type")
            if kind == "text":
                text_parts.append(str(chunk.get("text") or ""))
            elif kind == "thinking":
                inner = chunk.get("thinking")
                thinking_parts.append(
                    split_content(inner)[0] if not isinstance(inner, str) else inner
                )
    return "".join(text_parts), "".join(thinking_parts)


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments)


def make_tool_call(call_id: str, name: str, raw_arguments: str) -> ToolCall:
    text = raw_arguments.strip()
    if not text:
        return ToolCall(id=call_id, name=name, arguments={}, raw_arguments=raw_arguments)
    try:
        arguments = json.loads(text)
    except ValueError as exc:
        return ToolCall(call_id, name, {}, raw_arguments, f"arguments are not valid JSON: {exc}")
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, raw_arguments, "arguments are not a JSON object")
    return ToolCall(call_id, name, arguments, raw_arguments)


def parse_tool_calls(raw_calls: Any) -> list[ToolCall]:
    calls = []
    for raw in raw_calls or []:
        if not isinstance(raw, dict):
            continue
        function = raw.get("function") or {}
        calls.append(
            make_tool_call(
                str(raw.get("id") or ""),
                str(function.get("name") or ""),
                _arguments_text(function.get("arguments")),
            )
        )
    return calls


def usage_from(raw_usage: Any, model: str) -> Usage:
    raw_usage = raw_usage if isinstance(raw_usage, dict) else {}
    prompt = int(raw_usage.get("prompt_tokens") or 0)
    completion = int(raw_usage.get("completion_tokens") or 0)
    return Usage.for_model(model, prompt, completion, int(raw_usage.get("total_tokens") or 0))


def reply_from_completion(
    data: dict[str, Any], *, requested_model: str, duration_ms: float
) -> ChatReply:
    """A ChatReply from a non-streamed completion body. Raises ValueError if it has no choice."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the reply has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    text, thinking = split_content(message.get("content"))
    if not thinking and isinstance(message.get("reasoning_content"), str):  # vLLM reasoning parsers
        thinking = message["reasoning_content"]
    model = str(data.get("model") or requested_model)
    return ChatReply(
        content=text,
        thinking=thinking,
        tool_calls=parse_tool_calls(message.get("tool_calls")),
        usage=usage_from(data.get("usage"), model),
        model=model,
        finish_reason=str(choice.get("finish_reason") or ""),
        duration_ms=duration_ms,
        raw=data,
    )


@dataclass
class _PartialCall:
    id: str
    name: str
    index: int | None
    arguments: list[str] = field(default_factory=list)


class StreamAssembler:
    """Accumulates streamed chunks into deltas for the caller and, at the end, one ChatReply."""

    def __init__(self, requested_model: str) -> None:
        self.model = requested_model
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._calls: list[_PartialCall] = []
        self._usage: Any = None
        self.finish_reason = ""
        self.events = 0

    def feed(self, chunk: dict[str, Any]) -> StreamDelta | None:
        """Take one ``CompletionChunk`` dict; return what the caller should see now (or None)."""
        self.events += 1
        if chunk.get("model"):
            self.model = str(chunk["model"])
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        delta_text, delta_thinking = "", ""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text, thinking = split_content(delta.get("content"))
            if not thinking and isinstance(delta.get("reasoning_content"), str):
                thinking = delta["reasoning_content"]
            delta_text += text
            delta_thinking += thinking
            for raw_call in delta.get("tool_calls") or []:
                self._add_call_fragment(raw_call)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        self._text.append(delta_text)
        self._thinking.append(delta_thinking)
        if delta_text or delta_thinking:
            return StreamDelta(text=delta_text, thinking=delta_thinking)
        return None

    def _add_call_fragment(self, raw: dict[str, Any]) -> None:
        """Mistral sends each call whole; OpenAI-style servers send an id + name, then fragments
        of the arguments carrying only the index. Both end up as one _PartialCall per call."""
        if not isinstance(raw, dict):
            return
        function = raw.get("function") or {}
        call_id = raw.get("id") if raw.get("id") not in (None, "", "null") else None
        index = raw.get("index")
        target = None
        if call_id is not None:
            target = next((c for c in self._calls if c.id == call_id), None)
        elif index is not None:
            target = next((c for c in reversed(self._calls) if c.index == index), None)
        elif self._calls:
            target = self._calls[-1]
        if target is None:
            target = _PartialCall(id=call_id or f"call_{len(self._calls)}", name="", index=index)
            self._calls.append(target)
        if function.get("name"):
            target.name = str(function["name"])
        target.arguments.append(_arguments_text(function.get("arguments")))

    def finish(self, duration_ms: float) -> ChatReply:
        calls = [make_tool_call(c.id, c.name, "".join(c.arguments)) for c in self._calls]
        return ChatReply(
            content="".join(self._text),
            thinking="".join(self._thinking),
            tool_calls=calls,
            usage=usage_from(self._usage, self.model),
            model=self.model,
            finish_reason=self.finish_reason or ("tool_calls" if calls else ""),
            duration_ms=duration_ms,
        )
