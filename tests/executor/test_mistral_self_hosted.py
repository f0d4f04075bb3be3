"""OpenAI-compatible self-hosted servers (vLLM, Ollama, llama.cpp): what works and how it degrades."""

from __future__ import annotations

import json

import pytest

from executor.mistral import MistralClient
from tests.fake_mistral import FakeMistral, raw, reply, tool_call

USER = [{"role": "user", "content": "hi"}]
TOOL = {"name": "search", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}


@pytest.fixture
def vllm():
    with FakeMistral(compat="openai") as fake:
        yield fake


def test_plain_chat_and_non_streaming_tool_calls(vllm):
    client = MistralClient(api_key="", server_url=vllm.url, max_retries=0)
    vllm.queue(
        reply("hello"),
        reply(tool_calls=[tool_call("search", {"q": "a"}), tool_call("search", {"q": "b"})]),
    )
    assert client.chat(USER, model="local").content == "hello"
    calls = client.chat(USER, model="local", tools=[TOOL]).tool_calls
    assert [c.arguments for c in calls] == [{"q": "a"}, {"q": "b"}]
    assert "authorization" not in vllm.last_chat.headers


def test_streamed_tool_call_fragments_are_assembled(vllm):
    client = MistralClient(api_key="", server_url=vllm.url, max_retries=0)
    vllm.queue(
        reply(
            "Let me look.",
            tool_calls=[
                tool_call("search", {"q": "mistral sdk"}),
                tool_call("search", {"q": "vllm"}),
            ],
        )
    )
    final = list(client.stream(USER, model="local", tools=[TOOL]))[-1]
    assert final.content == "Let me look."
    assert [(c.name, c.arguments) for c in final.tool_calls] == [
        ("search", {"q": "mistral sdk"}),
        ("search", {"q": "vllm"}),
    ]


def test_reply_the_sdk_rejects_is_read_tolerantly(vllm):
    """llama.cpp-style body: no ``usage``, extra fields; the SDK's strict model refuses it."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "llama",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": "tolerated",
                    "reasoning_content": "quietly",
                },
            }
        ],
    }
    vllm.queue(raw(json.dumps(body)))
    answer = MistralClient(api_key="", server_url=vllm.url).chat(USER, model="llama")
    assert (answer.content, answer.thinking, answer.model) == ("tolerated", "quietly", "llama")
    assert answer.usage.total_tokens == 0 and not answer.usage.priced
