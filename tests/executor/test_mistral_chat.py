"""Chat through the real SDK against the fake server: replies, tools, structured output, vision, streaming."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from executor.mistral import (
    ChatReply,
    MalformedReplyError,
    MistralClient,
    ServerUnreachableError,
    StreamDelta,
    image_chunk,
    tool_result_message,
)
from tests.fake_mistral import FakeMistral, malformed, reply, tool_call

USER = [{"role": "user", "content": "hi"}]
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}
PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"type": "string"}},
        "done": {"type": "boolean"},
    },
    "required": ["steps", "done"],
    "additionalProperties": False,
}


@pytest.fixture
def client(fake_mistral: FakeMistral) -> MistralClient:
    return MistralClient(retry_base_delay_s=0.01)


def test_complete_returns_text_model_and_usage(fake_mistral, client):
    fake_mistral.queue(reply("Hello there", usage={"prompt_tokens": 12, "completion_tokens": 3}))
    answer = client.chat(USER, role="planner")
    assert answer.content == "Hello there"
    assert answer.model == "mistral-medium-latest"
    assert answer.finish_reason == "stop"
    assert (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
        answer.usage.total_tokens,
    ) == (12, 3, 15)
    sent = fake_mistral.last_chat
    assert sent["model"] == "mistral-medium-latest"
    assert sent.messages == USER
    assert sent.headers["authorization"] == "Bearer test-key"


def test_parallel_tool_calls_are_parsed_and_round_trip(fake_mistral, client):
    fake_mistral.queue(
        reply(
            tool_calls=[tool_call("search", {"q": "mistral"}), tool_call("search", {"q": "sdk"})]
        ),
        reply("Found both."),
    )
    first = client.chat(USER, tools=[SEARCH_TOOL], tool_choice="auto")
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("search", {"q": "mistral"}),
        ("search", {"q": "sdk"}),
    ]
    assert first.finish_reason == "tool_calls"
    assert len({c.id for c in first.tool_calls}) == 2
    sent = fake_mistral.last_chat
    assert sent["tools"] == [SEARCH_TOOL]
    assert sent["tool_choice"] == "auto"

    history = [
        *USER,
        first.to_message(),
        *(tool_result_message(c, "result") for c in first.tool_calls),
    ]
    second = client.chat(history, tools=[SEARCH_TOOL])
    assert second.content == "Found both."
    echoed = fake_mistral.last_chat.messages
    assert echoed[1]["tool_calls"][1]["id"] == first.tool_calls[1].id
    assert [m["tool_call_id"] for m in echoed[2:]] == [c.id for c in first.tool_calls]


def test_tool_shorthand_spec_is_wrapped(fake_mistral, client):
    fake_mistral.queue(reply("ok"))
    client.chat(
        USER, tools=[{"name": "run", "description": "Run code", "parameters": {"type": "object"}}]
    )
    assert fake_mistral.last_chat["tools"][0] == {
        "type": "function",
        "function": {"name": "run", "description": "Run code", "parameters": {"type": "object"}},
    }


def test_tool_call_with_broken_arguments_is_reported_not_raised(fake_mistral, client):
    fake_mistral.queue(reply(tool_calls=[tool_call("search", '{"q": ')]))
    call = client.chat(USER, tools=[SEARCH_TOOL]).tool_calls[0]
    assert call.arguments == {}
    assert call.raw_arguments == '{"q": '
    assert "not valid JSON" in call.arguments_error


def test_json_schema_reply_is_parsed_and_request_carries_strict_schema(fake_mistral, client):
    fake_mistral.queue(reply(json={"steps": ["read", "write"], "done": False}))
    answer = client.chat(USER, response_schema=PLAN_SCHEMA, schema_name="plan")
    assert answer.parsed == {"steps": ["read", "write"], "done": False}
    assert fake_mistral.last_chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "plan", "schema": PLAN_SCHEMA, "strict": True},
    }


def test_json_in_a_code_fence_is_accepted(fake_mistral, client):
    fake_mistral.queue(reply('```json\n{"steps": [], "done": true}\n```'))
    assert client.chat(USER, response_schema=PLAN_SCHEMA).parsed == {"steps": [], "done": True}


def test_invalid_json_raises_malformed_with_the_reply(fake_mistral, client):
    fake_mistral.queue(reply("Sure! Here is the plan: step 1..."))
    with pytest.raises(MalformedReplyError) as caught:
        client.chat(USER, response_schema=PLAN_SCHEMA)
    assert "not valid JSON" in str(caught.value)
    assert isinstance(caught.value.reply, ChatReply)
    assert caught.value.reply.content.startswith("Sure!")


def test_schema_mismatch_raises_malformed_naming_the_problem(fake_mistral, client):
    fake_mistral.queue(reply(json={"steps": "not a list", "extra": 1}))
    with pytest.raises(MalformedReplyError) as caught:
        client.chat(USER, response_schema=PLAN_SCHEMA)
    message = str(caught.value)
    assert "done" in message and "steps" in message and "extra" in message


def test_malformed_body_raises_malformed_reply(fake_mistral, client):
    fake_mistral.queue(malformed())
    with pytest.raises(MalformedReplyError) as caught:
        client.chat(USER)
    assert fake_mistral.url in str(caught.value)


def test_thinking_chunks_are_separated_from_text(fake_mistral, client):
    fake_mistral.queue(reply("The answer is 4.", thinking="2 + 2 = 4, check: yes"))
    answer = client.chat(USER, model="magistral-medium-latest")
    assert answer.content == "The answer is 4."
    assert answer.thinking == "2 + 2 = 4, check: yes"


def _png(size: tuple[int, int], colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_vision_chunks_are_sent_as_data_urls(fake_mistral, client):
    fake_mistral.queue(reply("A red square."))
    picture = _png((32, 32))
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, image_chunk(picture)],
        }
    ]
    assert client.chat(messages, role="vision").content == "A red square."
    sent = fake_mistral.last_chat
    assert sent["model"] == "mistral-medium-latest"
    assert sent.messages[0]["content"][0] == {"type": "text", "text": "What is this?"}
    assert sent.images() == [image_chunk(picture)["image_url"]]
    assert sent.images()[0].startswith("data:image/png;base64,")


def test_stream_yields_deltas_then_the_complete_reply(fake_mistral, client):
    fake_mistral.queue(
        reply(
            "one two three", thinking="hmm ok", usage={"prompt_tokens": 5, "completion_tokens": 4}
        )
    )
    items = list(client.stream(USER, role="coder"))
    deltas, final = items[:-1], items[-1]
    assert all(isinstance(d, StreamDelta) for d in deltas)
    assert [d.text for d in deltas if d.text] == ["one ", "two ", "three"]
    assert "".join(d.thinking for d in deltas) == "hmm ok"
    assert isinstance(final, ChatReply)
    assert (final.content, final.thinking, final.model) == (
        "one two three",
        "hmm ok",
        "codestral-latest",
    )
    assert final.usage.total_tokens == 9
    assert fake_mistral.last_chat.stream


def test_stream_collects_parallel_tool_calls(fake_mistral, client):
    fake_mistral.queue(
        reply(tool_calls=[tool_call("search", {"q": "a"}), tool_call("search", {"q": "b"})])
    )
    final = list(client.stream(USER, tools=[SEARCH_TOOL]))[-1]
    assert [c.arguments for c in final.tool_calls] == [{"q": "a"}, {"q": "b"}]
    assert final.finish_reason == "tool_calls"


def test_stream_with_schema_parses_the_final_reply(fake_mistral, client):
    fake_mistral.queue(reply(json={"steps": ["x"], "done": True}))
    assert list(client.stream(USER, response_schema=PLAN_SCHEMA))[-1].parsed == {
        "steps": ["x"],
        "done": True,
    }


def test_stream_cut_midway_raises_unreachable_after_partial_text(fake_mistral, client):
    fake_mistral.queue(reply("alpha beta gamma delta", drop_after_events=3))
    received = []
    with pytest.raises(ServerUnreachableError):
        for item in client.stream(USER):
            received.append(item)
    assert [d.text for d in received] == ["alpha ", "beta "]
