"""The fake server itself: the real SDK must parse what it sends, and scripting must behave."""

from __future__ import annotations

import httpx2
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import ResponseValidationError, SDKError

from tests.fake_mistral import (
    NO_REPLY_SCRIPTED,
    FakeMistral,
    drop_connection,
    error,
    malformed,
    reply,
    tool_call,
)

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def sdk(fake_mistral: FakeMistral) -> Mistral:
    return Mistral(api_key="test-key", server_url=fake_mistral.url)


def test_queued_replies_are_parsed_by_the_real_sdk_in_order(fake_mistral, sdk):
    fake_mistral.queue(reply("first"), reply(tool_calls=[tool_call("search", {"q": "x"})]))
    first = sdk.chat.complete(model="mistral-small-latest", messages=USER)
    second = sdk.chat.complete(model="mistral-small-latest", messages=USER)
    assert first.choices[0].message.content == "first"
    call = second.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("search", '{"q": "x"}')
    assert second.choices[0].finish_reason == "tool_calls"
    assert fake_mistral.pending() == 0
    assert fake_mistral.last_chat.messages == USER


def test_streaming_sends_word_deltas_and_usage(fake_mistral, sdk):
    fake_mistral.queue(reply("one two three"))
    events = list(sdk.chat.stream(model="mistral-small-latest", messages=USER))
    text = "".join(
        e.data.choices[0].delta.content or ""
        for e in events
        if isinstance(e.data.choices[0].delta.content, str)
    )
    assert text == "one two three"
    assert len(events) >= 4
    assert events[-1].data.usage.total_tokens > 0
    assert fake_mistral.last_chat.stream


def test_handler_decides_from_request_when_queue_is_empty(fake_mistral, sdk):
    fake_mistral.on_chat(lambda request: request.messages[-1]["content"].upper())
    out = sdk.chat.complete(model="m", messages=USER)
    assert out.choices[0].message.content == "HI"


def test_unscripted_chat_fails_loudly(fake_mistral, sdk):
    with pytest.raises(SDKError) as caught:
        sdk.chat.complete(model="m", messages=USER)
    assert caught.value.status_code == 500
    assert NO_REPLY_SCRIPTED in caught.value.body


def test_error_replies_carry_status_and_retry_after(fake_mistral, sdk):
    fake_mistral.queue(error(429, retry_after=3))
    with pytest.raises(SDKError) as caught:
        sdk.chat.complete(model="m", messages=USER)
    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "3"


def test_wrong_key_gets_401(fake_mistral):
    with pytest.raises(SDKError) as caught:
        Mistral(api_key="nope", server_url=fake_mistral.url).models.list()
    assert caught.value.status_code == 401


def test_dropped_connection_and_malformed_json(fake_mistral, sdk):
    fake_mistral.queue(drop_connection(), malformed())
    with pytest.raises(httpx2.TransportError):
        sdk.chat.complete(model="m", messages=USER)
    with pytest.raises(ResponseValidationError):
        sdk.chat.complete(model="m", messages=USER)


def test_models_embeddings_and_ocr_defaults(fake_mistral, sdk):
    ids = [card.id for card in sdk.models.list().data]
    assert "mistral-embed" in ids and "codestral-latest" in ids
    vectors = sdk.embeddings.create(model="mistral-embed", inputs=["a", "b", "a"]).data
    assert vectors[0].embedding == vectors[2].embedding != vectors[1].embedding
    page = sdk.ocr.process(
        model="mistral-ocr-latest",
        document={"type": "document_url", "document_url": "data:application/pdf;base64,JVBERi0="},
    ).pages[0]
    assert page.markdown.startswith("# Fake OCR")
    assert [r.endpoint for r in fake_mistral.requests] == ["models", "embeddings", "ocr"]


def test_close_leaves_no_server_thread():
    fake = FakeMistral().start()
    url = fake.url
    fake.close()
    with pytest.raises(httpx2.TransportError):
        httpx2.get(url + "/v1/models", timeout=1)
