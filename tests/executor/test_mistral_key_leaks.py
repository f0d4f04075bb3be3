"""No exception the client raises, nor anything chained to it, holds the API key.

Servers and proxies sometimes quote the request's Authorization header back in an error body.
The SDK's exceptions keep that body; had ours been chained to them (``raise ... from sdk_error``,
or raised inside its ``except`` block), any caller logging the traceback would print the key.
"""

from __future__ import annotations

import traceback

import pytest

from executor.mistral import MistralClient, MistralError
from tests.fake_mistral import FakeMistral, error, raw, reply

SECRET = "sk-echoed-secret-0123456789abcdef"
USER = [{"role": "user", "content": "hi"}]
MODEL = "mistral-small-latest"


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything reachable through __cause__ / __context__."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def texts_of(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc))]
    for linked in chain(exc):
        texts += [str(linked), repr(linked), repr(linked.args)]
        texts += [repr(value) for value in vars(linked).values()]
    return texts


def assert_no_key(exc: BaseException) -> None:
    for text in texts_of(exc):
        assert SECRET not in text


@pytest.fixture
def echoing_server():
    with FakeMistral() as fake:  # accepts any key, so the scripts decide the answer
        yield fake


def call(fake: FakeMistral, *, stream: bool = False, **settings) -> MistralError:
    client = MistralClient(api_key=SECRET, server_url=fake.url, retry_base_delay_s=0.01, **settings)
    with pytest.raises(MistralError) as caught:
        if stream:
            list(client.stream(USER, model=MODEL))
        else:
            client.chat(USER, model=MODEL)
    return caught.value


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500])
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_a_key_echoed_in_an_error_body_is_nowhere_in_the_exception(echoing_server, status, stream):
    echoing_server.queue(error(status, echo_key=True, retry_after=0 if status == 429 else None))
    caught = call(echoing_server, stream=stream, max_retries=0)
    assert caught.status == status
    assert len(chain(caught)) == 1  # nothing chained at all
    assert_no_key(caught)


def test_a_key_echoed_in_an_unreadable_200_is_nowhere_in_the_exception(echoing_server):
    echoing_server.queue(raw('{"choices": "your key is {authorization}"', echo_key=True))
    assert_no_key(call(echoing_server, max_retries=0))


def test_a_key_echoed_through_retries_is_nowhere_in_the_exception(echoing_server):
    echoing_server.queue(*[error(503, echo_key=True)] * 3)
    caught = call(echoing_server, max_retries=2)
    assert "3 attempts" in str(caught)
    assert_no_key(caught)


def test_the_echo_check_itself_sees_the_key(echoing_server):
    """Guard against a vacuous test: the SDK's own exception does hold the key."""
    from mistralai.client import Mistral
    from mistralai.client.errors import SDKError

    echoing_server.queue(error(403, echo_key=True))
    sdk = Mistral(api_key=SECRET, server_url=echoing_server.url)
    with pytest.raises(SDKError) as caught:
        sdk.chat.complete(model=MODEL, messages=USER)
    assert any(SECRET in text for text in texts_of(caught.value))


def test_the_server_still_gets_its_answer_after_an_echo(echoing_server):
    echoing_server.queue(error(500, echo_key=True), reply("fine"))
    client = MistralClient(api_key=SECRET, server_url=echoing_server.url, retry_base_delay_s=0.01)
    assert client.chat(USER, model=MODEL).content == "fine"
