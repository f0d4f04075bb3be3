"""The registry that runs the model's tool calls safely; the tool model is re-exported here.

A tool call comes from a model, so everything about it is untrusted input: the name may not exist,
the arguments may not be JSON or may not fit the schema, the tool may raise or hang. None of that is
allowed to escape into the loop. Every outcome becomes a :class:`ToolResult` whose ``content`` is
text the model can read and act on ("invalid arguments: ...", "timed out after 5s"), so the model can
correct itself on the next turn.

Calls run in daemon threads rather than a ``ThreadPoolExecutor``: a hung tool cannot be killed, and
a pool's non-daemon workers would keep the process alive at exit and starve later calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from plugins.schema import validate
from plugins.tool_model import (
    FunctionTool,
    Tool,
    ToolCall,
    ToolOutcomeLike,
    ToolOutput,
    ToolProvider,
    ToolResult,
    as_tool,
)

__all__ = [
    "FunctionTool",
    "SimpleToolProvider",
    "Tool",
    "ToolCall",
    "ToolOutcomeLike",
    "ToolOutput",
    "ToolProvider",
    "ToolRegistry",
    "ToolResult",
    "as_tool",
]

DEFAULT_TIMEOUT_S = 30.0
MAX_PARALLEL_CALLS = 16
MAX_RESULT_CHARS = 20_000


class ToolRegistry:
    """The tools on offer in one run: their definitions for the model, and safe execution."""

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_result_chars: int = MAX_RESULT_CHARS,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self.default_timeout_s = default_timeout_s
        self.max_result_chars = max_result_chars
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool | Callable[..., Any], **overrides: Any) -> Tool:
        tool = as_tool(tool, **overrides)
        if tool.name in self._tools:
            owner = self._tools[tool.name].plugin or "another plugin"
            raise ValueError(f"a tool named {tool.name!r} is already registered by {owner}")
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def definitions(self) -> list[dict[str, Any]]:
        return [tool.definition() for tool in self._tools.values()]

    def call(self, call: ToolCall) -> ToolResult:
        return self.call_many([call])[0]

    def call_many(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run the calls of one model reply in parallel; results come back in the same order."""
        runs = [_Run(self, call) for call in calls[:MAX_PARALLEL_CALLS]]
        for run in runs:
            run.start()
        results = [run.finish() for run in runs]
        for call in calls[MAX_PARALLEL_CALLS:]:
            results.append(
                _failure(
                    call,
                    call.arguments,
                    f"too many tool calls in one reply (at most "
                    f"{MAX_PARALLEL_CALLS}); call {call.name!r} again later",
                )
            )
        return results

    def _truncate(self, text: str) -> str:
        if len(text) <= self.max_result_chars:
            return text
        cut = len(text) - self.max_result_chars
        return f"{text[: self.max_result_chars]}\n[... {cut} more characters cut]"


class _Run:
    """One call from argument checking to its result, executed in its own daemon thread."""

    def __init__(self, registry: ToolRegistry, call: ToolCall) -> None:
        self.registry = registry
        self.call = call
        self.tool = registry.get(call.name)
        self.arguments: Any = call.arguments
        self.problem: str | None = self._check()
        self.done = threading.Event()
        self.value: Any = None
        self.exception: BaseException | None = None
        self.started = 0.0

    def _check(self) -> str | None:
        if self.tool is None:
            known = ", ".join(self.registry.names()) or "none"
            return f"unknown tool {self.call.name!r}; available tools: {known}"
        # The host's client may have parsed the arguments already and recorded why it could not.
        parse_error = getattr(self.call, "arguments_error", None)
        if parse_error:
            return f"invalid arguments for {self.call.name!r}: {parse_error}"
        raw = self.call.arguments
        if isinstance(raw, str):
            try:
                self.arguments = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                return f"the arguments are not valid JSON ({exc.msg} at position {exc.pos})"
        else:
            self.arguments = dict(raw)
        if not isinstance(self.arguments, dict):
            return "the arguments must be a JSON object"
        problems = validate(self.arguments, self.tool.parameters)
        if problems:
            return f"invalid arguments for {self.call.name!r}: " + "; ".join(problems)
        return None

    def start(self) -> None:
        self.started = time.perf_counter()
        if self.problem is None:
            threading.Thread(
                target=self._target, name=f"tool-{self.call.name}", daemon=True
            ).start()

    def _target(self) -> None:
        try:
            self.value = self.tool.function(**self.arguments)
        except BaseException as exc:  # noqa: BLE001 - a tool's failure is data for the model
            self.exception = exc
        finally:
            self.done.set()

    def finish(self) -> ToolResult:
        if self.problem is not None:
            return _failure(self.call, self.arguments, self.problem, self.tool)
        timeout = self.tool.timeout_s or self.registry.default_timeout_s
        remaining = timeout - (time.perf_counter() - self.started)
        if not self.done.wait(max(remaining, 0.0)):
            return _failure(
                self.call,
                self.arguments,
                f"tool {self.call.name!r} timed out after {timeout:g}s",
                self.tool,
                self._elapsed(),
            )
        if self.exception is not None:
            exc = self.exception
            return _failure(
                self.call,
                self.arguments,
                f"{type(exc).__name__}: {exc}",
                self.tool,
                self._elapsed(),
            )
        return self._success()

    def _elapsed(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def _success(self) -> ToolResult:
        value = self.value
        output = value if isinstance(value, ToolOutput) else None
        if output is not None:
            text = output.text
        elif isinstance(value, str):
            text = value
        else:
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                text = repr(value)
        ok = output.ok if output is not None else True
        return ToolResult(
            call_id=self.call.id,
            name=self.call.name,
            arguments=self.arguments,
            ok=ok,
            content=self.registry._truncate(text),
            error=None if ok else text,
            duration_ms=self._elapsed(),
            plugin=self.tool.plugin,
            connector=self.tool.connector,
            served_by=output.served_by if output else "",
            reason=output.reason if output else "",
            output=output,
        )


def _failure(
    call: ToolCall, arguments: Any, message: str, tool: Tool | None = None, duration_ms: float = 0.0
) -> ToolResult:
    return ToolResult(
        call_id=call.id,
        name=call.name,
        arguments=arguments,
        ok=False,
        content=f"Error: {message}",
        error=message,
        duration_ms=duration_ms,
        plugin=tool.plugin if tool else "",
        connector=tool.connector if tool else "",
    )


class SimpleToolProvider(ToolRegistry):
    """The executor's earlier name for a registry over explicit tools (``FunctionTool`` =
    ``Tool``): the same implementation, so embedding code gets validation, timeouts and the same
    error texts as plugin tools."""
