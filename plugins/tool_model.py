"""The one tool model: what a tool is, what a call and its result are, and the provider seam.

A tool call comes from a model, so everything about it is untrusted input: the name may not exist,
the arguments may not be JSON or may not fit the schema, the tool may raise or hang. None of that is
allowed to escape into the loop. Every outcome becomes a :class:`ToolResult` whose ``content`` is
text the model can read and act on ("invalid arguments: ...", "timed out after 5s"), so the model can
correct itself on the next turn.

The executor's Scout depends only on :class:`ToolProvider` (tool definitions to offer, a way to
run a reply's calls); :class:`plugins.tools.ToolRegistry` is the implementation. ``FunctionTool``
and ``SimpleToolProvider`` (the executor's earlier names) are the same ``Tool`` and registry.
Running calls lives in :mod:`plugins.tools`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from plugins.schema import schema_from_function

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Tool:
    """A function the model may call, with the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    timeout_s: float | None = None
    # Filled in by the plugin manager: who offered it (shown by ``mistral-executor plugins``).
    plugin: str = ""
    connector: str = ""

    def __post_init__(self) -> None:
        if not _NAME_PATTERN.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_NAME_PATTERN.pattern}")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: the parameters schema must be of type 'object'")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"tool {self.name!r}: timeout_s must be positive")

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
    ) -> Tool:
        """Build a tool from a plain typed function (schema from type hints and docstring)."""
        summary, parameters = schema_from_function(fn)
        return cls(
            name=name or fn.__name__,
            description=description if description is not None else summary,
            parameters=parameters,
            function=fn,
            timeout_s=timeout_s,
        )

    def definition(self) -> dict[str, Any]:
        """The tool in Mistral's function-calling format (``tools=[...]`` of a chat request)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def as_tool(obj: Tool | Callable[..., Any], **overrides: Any) -> Tool:
    """Accept what ``register_tools`` hands over: a Tool, or a function to derive one from."""
    if isinstance(obj, Tool):
        if overrides:
            return Tool(**{**obj.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
        return obj
    if callable(obj):
        return Tool.from_function(obj, **overrides)
    raise TypeError(f"register() expects a Tool or a function, got {type(obj).__name__}")


@dataclass
class ToolOutput:
    """A rich tool result. A tool may return this instead of a plain string.

    Connectors use ``served_by`` / ``reason`` to record which implementation answered and why
    (e.g. ``"local"``, ``"Mistral web_search failed: 503 ..."``); the trace shows both.
    """

    text: str
    ok: bool = True
    served_by: str = ""
    reason: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolCall:
    """One call requested by the model. ``arguments`` is the raw JSON string or a parsed dict."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str = ""


@dataclass
class ToolResult:
    call_id: str
    name: str
    arguments: Any
    ok: bool
    content: str
    error: str | None = None
    duration_ms: float = 0.0
    plugin: str = ""
    connector: str = ""
    served_by: str = ""
    reason: str = ""
    output: ToolOutput | None = None

    def to_message(self) -> dict[str, Any]:
        """The ``role: tool`` message that answers the call in the conversation."""
        return {
            "role": "tool",
            "tool_call_id": self.call_id,
            "name": self.name,
            "content": self.content,
        }

    def to_event_payload(self) -> dict[str, Any]:
        """JSON-ready summary for a trace event (images and files reduced to counts/names)."""
        payload = {
            "tool": self.name,
            "call_id": self.call_id,
            "arguments": self.arguments,
            "ok": self.ok,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 1),
            "plugin": self.plugin,
            "connector": self.connector,
            "served_by": self.served_by,
            "reason": self.reason,
            "result": self.content,
        }
        if self.output is not None:
            payload["citations"] = self.output.citations
            payload["images"] = len(self.output.images)
            payload["files"] = sorted(self.output.files)
        return payload


#: The executor's name for a tool with an explicit schema: the same class.
FunctionTool = Tool


class ToolOutcomeLike(Protocol):
    """What the Scout reads from one call's outcome (:class:`ToolResult` is one). ``content`` is
    what the model reads (errors included: a failed call is reported to the model, never
    raised). An outcome may also offer ``to_event_payload() -> dict`` for a richer trace."""

    call_id: str
    name: str
    content: str
    ok: bool
    duration_ms: float


@runtime_checkable
class ToolProvider(Protocol):
    """All the Scout needs from a tool registry: keeping it this small lets the registry evolve
    without touching the loop."""

    def definitions(self) -> list[dict[str, Any]]:
        """Mistral function tools: ``{"type": "function", "function": {name, description,
        parameters}}``."""
        ...

    def call_many(self, calls: Sequence[Any]) -> Sequence[ToolOutcomeLike]:
        """Run one reply's calls (objects with ``id``, ``name``, ``arguments``), one outcome each,
        in the same order. Must not raise for a failing tool."""
        ...
