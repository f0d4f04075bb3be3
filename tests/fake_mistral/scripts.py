"""What a test tells the fake server to answer: scripted replies and how they become wire bytes.

A script is a small dataclass; the server turns it into exactly the JSON (or SSE) the real Mistral
API sends, so the real SDK parses it with its real pydantic models. Keeping the rendering here,
apart from the socket handling, lets a test read what a reply will look like on the wire.
"""

from __future__ import annotations

import itertools
import json as jsonlib
import time
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


@dataclass
class ToolCallSpec:
    """One tool call the fake model makes. ``arguments`` may be a dict or a raw (even broken) string."""

    name: str
    arguments: dict[str, Any] | str
    id: str = ""

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return jsonlib.dumps(self.arguments)

    def wire(self, index: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_text()},
            "index": index,
        }


@dataclass
class Reply:
    """A successful chat completion (rendered as JSON, or as SSE when the request streams)."""

    content: str | None = None
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    thinking: str | None = None
    usage: dict[str, int] | None = None
    finish_reason: str | None = None
    delay_s: float = 0.0
    model: str | None = None
    #: Streaming only: stop sending (drop the socket) after this many SSE events.
    drop_after_events: int | None = None
    #: Streaming only: pause between SSE events, to let tests observe deltas arriving.
    event_gap_s: float = 0.0
    #: Streaming only: after this many events send half of the next one, then end the body
    #: cleanly (a proxy closing politely mid-reply: no transport error, just a cut event).
    cut_after_events: int | None = None

    def resolved_finish_reason(self) -> str:
        if self.finish_reason:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def message_content(self) -> str | list[dict[str, Any]] | None:
        """String content, or a thinking + text chunk list the way Magistral models answer."""
        if self.thinking is None:
            return (
                self.content if self.content is not None else ("" if not self.tool_calls else None)
            )
        return [
            {"type": "thinking", "thinking": [{"type": "text", "text": self.thinking}]},
            {"type": "text", "text": self.content or ""},
        ]

    def usage_for(self, request_json: dict[str, Any] | None) -> dict[str, int]:
        if self.usage is not None:
            usage = dict(self.usage)
            usage.setdefault(
                "total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
            )
            return usage
        prompt = max(1, len(jsonlib.dumps((request_json or {}).get("messages", ""))) // 4)
        produced = (self.content or "") + (self.thinking or "")
        produced += "".join(call.arguments_text() for call in self.tool_calls)
        completion = max(1, len(produced) // 4)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


@dataclass
class ErrorReply:
    """An HTTP error with Mistral's error body; ``retry_after`` sets the ``Retry-After`` header."""

    status: int
    message: str = ""
    retry_after: float | None = None
    delay_s: float = 0.0
    #: Echo the request's Authorization header (the API key) in the message, as careless
    #: servers and proxies do: the client must not pass it on.
    echo_key: bool = False

    def body(self, authorization: str = "") -> dict[str, Any]:
        message = self.message or _DEFAULT_ERROR_MESSAGES.get(self.status, "error")
        if self.echo_key:
            message = f"{message}: the request sent 'Authorization: {authorization}'"
        if self.status == 422:
            return {"detail": [{"loc": ["body"], "msg": message, "type": "value_error"}]}
        if self.status == 401:
            return {"message": message, "request_id": _next_id("req")}
        return {
            "object": "error",
            "message": message,
            "type": _ERROR_TYPES.get(self.status, "api_error"),
            "param": None,
            "code": str(self.status),
        }


_DEFAULT_ERROR_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Invalid model: the model does not exist",
    422: "Input validation failed",
    429: "Requests rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}
_ERROR_TYPES = {400: "invalid_request_error", 404: "invalid_model", 429: "rate_limited"}


@dataclass
class RawReply:
    """Exact bytes to send: malformed JSON, a wrong content type, a body the SDK cannot parse."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: Replace ``{authorization}`` in the body by the request's Authorization header.
    echo_key: bool = False


@dataclass
class DropConnection:
    """Read the request, then close the socket without a reply (a crashed proxy, a reset)."""

    delay_s: float = 0.0


@dataclass
class Silent:
    """Read the request, then never answer (a hung server or a black-holing proxy): the
    connection stays open until the client gives up or the fake server is closed."""


@dataclass
class EmbeddingsReply:
    """Explicit vectors for an embeddings request (default: deterministic vectors per input)."""

    vectors: list[list[float]]


@dataclass
class OcrReply:
    """Pages of markdown for an OCR request."""

    pages: list[str]


Script = Reply | ErrorReply | RawReply | DropConnection | Silent | EmbeddingsReply | OcrReply


def reply(
    content: str | None = None,
    *,
    tool_calls: list[ToolCallSpec] | None = None,
    thinking: str | None = None,
    usage: dict[str, int] | None = None,
    finish_reason: str | None = None,
    json: Any = None,
    delay_s: float = 0.0,
    model: str | None = None,
    drop_after_events: int | None = None,
    event_gap_s: float = 0.0,
    cut_after_events: int | None = None,
) -> Reply:
    """A chat reply. ``json=`` serialises an object into the content (for structured output)."""
    if json is not None:
        if content is not None:
            raise ValueError("give content or json, not both")
        content = jsonlib.dumps(json)
    return Reply(
        content=content,
        tool_calls=list(tool_calls or []),
        thinking=thinking,
        usage=usage,
        finish_reason=finish_reason,
        delay_s=delay_s,
        model=model,
        drop_after_events=drop_after_events,
        event_gap_s=event_gap_s,
        cut_after_events=cut_after_events,
    )


def tool_call(
    name: str, arguments: dict[str, Any] | str | None = None, *, id: str | None = None
) -> ToolCallSpec:
    """A tool call; ids look like Mistral's 9-character ones unless given."""
    return ToolCallSpec(
        name=name,
        arguments=arguments if arguments is not None else {},
        id=id or _next_id("tc")[-9:].rjust(9, "0"),
    )


def error(
    status: int,
    message: str = "",
    *,
    retry_after: float | None = None,
    delay_s: float = 0.0,
    echo_key: bool = False,
) -> ErrorReply:
    """An HTTP error reply with Mistral's error body (``echo_key``: the key quoted in it)."""
    return ErrorReply(
        status=status,
        message=message,
        retry_after=retry_after,
        delay_s=delay_s,
        echo_key=echo_key,
    )


def malformed(
    body: str | bytes = '{"id": "cmpl-broken", "choices": [',
    *,
    status: int = 200,
    content_type: str = "application/json",
) -> RawReply:
    """A reply whose body is not what the SDK expects (default: truncated JSON)."""
    data = body.encode() if isinstance(body, str) else body
    return RawReply(body=data, status=status, content_type=content_type)


def raw(
    body: str | bytes,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
    echo_key: bool = False,
) -> RawReply:
    """Any bytes with any status (e.g. an OpenAI-style body for self-hosted tests);
    ``echo_key`` replaces ``{authorization}`` in the body by the request's Authorization."""
    data = body.encode() if isinstance(body, str) else body
    return RawReply(
        body=data,
        status=status,
        content_type=content_type,
        headers=dict(headers or {}),
        delay_s=delay_s,
        echo_key=echo_key,
    )


def html_page(status: int = 200) -> RawReply:
    """An HTML page where JSON was expected (a login portal, a proxy, a wrong URL)."""
    page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
    return raw(page, status=status, content_type="text/html; charset=utf-8")


def drop_connection(*, delay_s: float = 0.0) -> DropConnection:
    """Close the connection without answering."""
    return DropConnection(delay_s=delay_s)


def silent() -> Silent:
    """Never answer (until the fake server closes)."""
    return Silent()


def embeddings(vectors: list[list[float]]) -> EmbeddingsReply:
    return EmbeddingsReply(vectors=[list(v) for v in vectors])


def ocr_pages(*pages: str) -> OcrReply:
    return OcrReply(pages=list(pages))


# ---------------------------------------------------------------- wire rendering


def chat_completion_json(
    script: Reply, request_json: dict[str, Any], default_model: str
) -> dict[str, Any]:
    """The non-streaming ``ChatCompletionResponse`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": script.message_content()}
    if script.tool_calls:
        message["tool_calls"] = [call.wire(i) for i, call in enumerate(script.tool_calls)]
    return {
        "id": _next_id("cmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": script.model or request_json.get("model") or default_model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": script.resolved_finish_reason()}
        ],
        "usage": script.usage_for(request_json),
    }


def _text_pieces(text: str) -> list[str]:
    """Split into word-ish pieces so a streaming client sees several deltas, as with real tokens."""
    pieces, current = [], ""
    for char in text:
        current += char
        if char == " ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def chat_stream_events(
    script: Reply,
    request_json: dict[str, Any],
    default_model: str,
    openai_tool_deltas: bool = False,
) -> list[dict[str, Any]]:
    """The ``CompletionChunk`` payloads of a streamed reply, in order (without ``[DONE]``).

    Mistral streams each tool call whole in one delta; OpenAI-compatible servers stream the
    arguments in fragments where later fragments carry no name (``openai_tool_deltas``).
    """
    chunk_id = _next_id("cmpl-")
    created = int(time.time())
    model = script.model or request_json.get("model") or default_model

    def event(
        delta: dict[str, Any], finish_reason: str | None = None, usage: dict | None = None
    ) -> dict:
        payload: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if usage is not None:
            payload["usage"] = usage
        return payload

    events = [event({"role": "assistant", "content": ""})]
    if script.thinking:
        for piece in _text_pieces(script.thinking):
            events.append(
                event(
                    {
                        "content": [
                            {"type": "thinking", "thinking": [{"type": "text", "text": piece}]}
                        ]
                    }
                )
            )
    for piece in _text_pieces(script.content or ""):
        events.append(event({"content": piece}))
    for index, call in enumerate(script.tool_calls):
        if not openai_tool_deltas:
            events.append(event({"tool_calls": [call.wire(index)]}))
            continue
        text = call.arguments_text()
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(event({"tool_calls": [head]}))
        half = len(text) // 2
        for fragment in (text[:half], text[half:]):
            events.append(
                event({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            )
    events.append(
        event({"content": ""}, script.resolved_finish_reason(), script.usage_for(request_json))
    )
    return events
