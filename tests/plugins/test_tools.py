"""The tool registry: validation, parallel calls, timeouts and failures fed back as results."""

from __future__ import annotations

import threading

from plugins import Tool, ToolCall, ToolOutput, ToolRegistry


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first.
        b: second.
    """
    return a + b


def test_definitions_are_mistral_function_tools() -> None:
    registry = ToolRegistry([Tool.from_function(add)])
    (definition,) = registry.definitions()
    assert definition["type"] == "function"
    assert definition["function"]["name"] == "add"
    assert definition["function"]["description"] == "Add two integers."
    assert definition["function"]["parameters"]["required"] == ["a", "b"]


def test_a_call_runs_with_json_arguments_and_returns_text() -> None:
    registry = ToolRegistry([Tool.from_function(add)])
    result = registry.call(ToolCall("add", '{"a": 2, "b": 3}', id="call_1"))
    assert result.ok and result.content == "5" and result.arguments == {"a": 2, "b": 3}
    assert result.to_message() == {
        "role": "tool",
        "tool_call_id": "call_1",
        "name": "add",
        "content": "5",
    }


def test_bad_calls_come_back_as_error_results_not_exceptions() -> None:
    registry = ToolRegistry([Tool.from_function(add)])
    results = registry.call_many(
        [
            ToolCall("add", '{"a": 2, "b": "three"}', id="1"),
            ToolCall("add", '{"a": 2', id="2"),
            ToolCall("nope", "{}", id="3"),
            ToolCall("add", '{"a": 1}', id="4"),
        ]
    )
    assert [r.ok for r in results] == [False, False, False, False]
    assert [r.call_id for r in results] == ["1", "2", "3", "4"]
    assert results[0].content == (
        "Error: invalid arguments for 'add': $.b: 'three' is not of type 'integer'"
    )
    assert results[1].content.startswith("Error: the arguments are not valid JSON")
    assert results[2].content == "Error: unknown tool 'nope'; available tools: add"
    assert "'b' is a required property" in results[3].content


def test_an_exception_in_a_tool_is_fed_back_to_the_model() -> None:
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    result = ToolRegistry([Tool.from_function(divide)]).call(ToolCall("divide", {"a": 1, "b": 0}))
    assert not result.ok
    assert result.content == "Error: ZeroDivisionError: division by zero"


def test_a_hanging_tool_times_out_and_the_others_still_answer() -> None:
    release = threading.Event()

    def hang() -> str:
        """Never finishes on its own."""
        release.wait(30)
        return "too late"

    registry = ToolRegistry([Tool.from_function(hang, timeout_s=0.2), Tool.from_function(add)])
    try:
        results = registry.call_many(
            [ToolCall("hang", "{}", "h"), ToolCall("add", {"a": 1, "b": 1})]
        )
    finally:
        release.set()
    assert results[0].content == "Error: tool 'hang' timed out after 0.2s"
    assert not results[0].ok
    assert results[1].ok and results[1].content == "2"


def test_calls_of_one_reply_run_in_parallel() -> None:
    # Each call waits until all three are inside their tool at the same time: run one after the
    # other, the first would wait alone and its barrier would break.
    barrier = threading.Barrier(3, timeout=10)

    def meet(who: str) -> str:
        """Wait for the others."""
        barrier.wait()
        return f"{who} met"

    registry = ToolRegistry([Tool.from_function(meet)])
    results = registry.call_many([ToolCall("meet", {"who": w}, w) for w in ("a", "b", "c")])
    assert [r.content for r in results] == ["a met", "b met", "c met"]


def test_rich_outputs_and_long_results() -> None:
    def picture() -> ToolOutput:
        """Make a picture."""
        return ToolOutput(text="drew it", images=[b"png"], served_by="local", reason="offline")

    def long() -> str:
        """A lot of text."""
        return "x" * 50

    registry = ToolRegistry(
        [Tool.from_function(picture), Tool.from_function(long)], max_result_chars=10
    )
    pic, text = registry.call_many([ToolCall("picture"), ToolCall("long")])
    assert pic.served_by == "local" and pic.reason == "offline" and pic.output.images == [b"png"]
    assert pic.to_event_payload()["images"] == 1
    assert text.content == "x" * 10 + "\n[... 40 more characters cut]"


def test_explicit_schema_tools_are_validated_too() -> None:
    tool = Tool(
        name="echo",
        description="Echo a word.",
        parameters={
            "type": "object",
            "properties": {"word": {"type": "string", "maxLength": 5}},
            "required": ["word"],
        },
        function=lambda word: word,
    )
    registry = ToolRegistry([tool])
    assert registry.call(ToolCall("echo", {"word": "hi"})).content == "hi"
    assert "'toolong' is too long" in registry.call(ToolCall("echo", {"word": "toolong"})).content
