"""The seam where a tool registry plugs into the Scout.

The plugins' registry (``plugins.tools.ToolRegistry``: typed functions, connectors with
fallbacks, parallel calls with timeouts) satisfies this Protocol as it is. The Scout only needs
two things from it -- the tool definitions to offer the model, and a way to run the calls the
model made -- so that is all the Protocol asks for. Keeping it this small lets the registry
evolve without touching the loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class ToolOutcomeLike(Protocol):
    """What the Scout reads from one call's outcome. ``content`` is what the model reads (errors
    included: a failed call is reported to the model, never raised). An outcome may also offer
    ``to_event_payload() -> dict`` for a richer trace (which connector served, and why)."""

    call_id: str
    name: str
    content: str
    ok: bool
    duration_ms: float


@runtime_checkable
class ToolProvider(Protocol):
    def definitions(self) -> list[dict[str, Any]]:
        """Mistral function tools: ``{"type": "function", "function": {name, description, parameters}}``."""
        ...

    def call_many(self, calls: Sequence[Any]) -> Sequence[ToolOutcomeLike]:
        """Run one reply's calls (objects with ``id``, ``name``, ``arguments``), one outcome each,
        in the same order. Must not raise for a failing tool."""
        ...


@dataclass
class ToolOutcome:
    """The plain outcome ``SimpleToolProvider`` returns."""

    call_id: str
    name: str
    content: str
    ok: bool = True
    duration_ms: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def to_event_payload(self) -> dict[str, Any]:
        return {"tool": self.name, "ok": self.ok, "result": self.content, **self.meta}


@dataclass
class FunctionTool:
    """A plain function with an explicit JSON schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]


class SimpleToolProvider:
    """A minimal provider over explicit ``FunctionTool``s, calls run one after another.

    Enough for tests and embedding; the plugins' registry replaces it with schema generation,
    validation, parallelism and timeouts.
    """

    def __init__(self, tools: Sequence[FunctionTool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def definitions(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in self._tools.values()
        ]

    def call_many(self, calls: Sequence[Any]) -> list[ToolOutcome]:
        outcomes = []
        for call in calls:
            started = time.perf_counter()
            tool = self._tools.get(call.name)
            if tool is None:
                content, ok = f"error: no tool named {call.name!r}", False
            else:
                try:
                    value = tool.function(**(call.arguments or {}))
                    content = value if isinstance(value, str) else json.dumps(value, default=str)
                    ok = True
                except Exception as exc:  # a tool's failure is the model's information
                    content, ok = f"error: {type(exc).__name__}: {exc}", False
            outcomes.append(
                ToolOutcome(
                    call_id=call.id,
                    name=call.name,
                    content=content,
                    ok=ok,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
            )
        return outcomes
