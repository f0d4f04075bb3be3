"""Retries, Retry-After, timeouts, the circuit breaker and error mapping, over real HTTP."""

from __future__ import annotations

import socket
import time

import pytest

from executor.mistral import (
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    MistralClient,
    ModelNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServerUnreachableError,
)
from executor.mistral.retry import CircuitBreaker, RetryPolicy, call_with_retries
from tests.fake_mistral import FakeMistral, drop_connection, error, reply, silent

USER = [{"role": "user", "content": "hi"}]
MODEL = "mistral-small-latest"  # explicit model: no listing request in between


def make_client(**settings) -> MistralClient:
    settings.setdefault("retry_base_delay_s", 0.01)
    return MistralClient(**settings)


def test_429_is_retried_after_the_servers_retry_after(fake_mistral):
    fake_mistral.queue(error(429, retry_after=0.2), reply("finally"))
    assert make_client().chat(USER, model=MODEL).content == "finally"
    first, second = fake_mistral.chat_requests
    assert second.received_at - first.received_at >= 0.2


def test_retry_after_longer_than_the_cap_is_not_waited_for(fake_mistral):
    fake_mistral.queue(error(429, retry_after=3600))
    with pytest.raises(RateLimitError) as caught:
        make_client().chat(USER, model=MODEL)
    assert len(fake_mistral.chat_requests) == 1
    assert caught.value.retry_after_s == 3600
    assert "3600" in str(caught.value)


def test_rate_limit_that_persists_raises_after_all_retries(fake_mistral):
    fake_mistral.queue(*[error(429, retry_after=0)] * 3)
    with pytest.raises(RateLimitError) as caught:
        make_client(max_retries=2).chat(USER, model=MODEL)
    assert len(fake_mistral.chat_requests) == 3
    assert "429" in str(caught.value) and "3 attempts" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried(fake_mistral, status):
    fake_mistral.queue(error(status), reply("recovered"))
    assert make_client().chat(USER, model=MODEL).content == "recovered"
    assert len(fake_mistral.chat_requests) == 2


def test_persistent_5xx_becomes_server_error(fake_mistral):
    fake_mistral.queue(*[error(500)] * 2)
    with pytest.raises(ServerError) as caught:
        make_client(max_retries=1).chat(USER, model=MODEL)
    assert "500" in str(caught.value) and fake_mistral.url in str(caught.value)


def test_dropped_connection_is_retried(fake_mistral):
    fake_mistral.queue(drop_connection(), reply("second try"))
    assert make_client().chat(USER, model=MODEL).content == "second try"


def test_client_errors_are_not_retried(fake_mistral):
    fake_mistral.queue(error(422, "messages: field required"), reply("never sent"))
    with pytest.raises(BadRequestError) as caught:
        make_client().chat(USER, model=MODEL)
    assert "messages: field required" in str(caught.value)
    assert fake_mistral.pending() == 1


def test_timeout_raises_request_timeout(fake_mistral):
    fake_mistral.queue(reply("too late", delay_s=2))
    with pytest.raises(RequestTimeoutError) as caught:
        make_client(timeout_s=0.2, max_retries=0).chat(USER, model=MODEL)
    assert isinstance(caught.value, ServerUnreachableError)
    assert "0.2 s" in str(caught.value)


def test_unknown_model_404_is_model_not_found(fake_mistral):
    fake_mistral.queue(error(404, "Invalid model: mistral-huge"))
    with pytest.raises(ModelNotFoundError) as caught:
        make_client().chat(USER, model="mistral-huge")
    assert "mistral-huge" in str(caught.value)


def test_rejected_key_is_explained_and_never_leaked(fake_mistral):
    secret = "sk-very-secret-key-1234567890"
    client = make_client(api_key=secret)
    with pytest.raises(AuthenticationError) as caught:
        client.chat(USER, model=MODEL)
    assert "rejected (401)" in str(caught.value) and "MISTRAL_API_KEY" in str(caught.value)
    assert len(fake_mistral.chat_requests) == 1  # a wrong key is not retried
    for text in (str(caught.value), repr(caught.value), repr(client), repr(client.config)):
        assert secret not in text


def test_missing_key_says_so(fake_mistral, monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY")
    with pytest.raises(AuthenticationError, match="requires an API key"):
        make_client().chat(USER, model=MODEL)
    assert "authorization" not in fake_mistral.last_chat.headers


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_names_the_url():
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ServerUnreachableError) as caught:
        make_client(api_key="k", server_url=url, max_retries=1).chat(USER, model=MODEL)
    assert url in str(caught.value)


def test_circuit_opens_after_repeated_failures_and_recovers_after_cooldown(fake_mistral):
    client = make_client(max_retries=0, breaker_threshold=2, breaker_cooldown_s=0.3)
    fake_mistral.queue(error(503), error(503))
    for _ in range(2):
        with pytest.raises(ServerError):
            client.chat(USER, model=MODEL)
    assert client.breaker.state == "open"

    with pytest.raises(CircuitOpenError) as caught:
        client.chat(USER, model=MODEL)
    assert len(fake_mistral.chat_requests) == 2  # failed fast, nothing sent
    assert 0 < caught.value.retry_after_s <= 0.3

    time.sleep(0.35)
    fake_mistral.queue(reply("back"))
    assert client.chat(USER, model=MODEL).content == "back"
    assert client.breaker.state == "closed"


def test_failed_trial_after_cooldown_reopens_the_circuit(fake_mistral):
    client = make_client(max_retries=0, breaker_threshold=1, breaker_cooldown_s=0.2)
    fake_mistral.queue(error(500))
    with pytest.raises(ServerError):
        client.chat(USER, model=MODEL)
    time.sleep(0.25)
    fake_mistral.queue(error(500))
    with pytest.raises(ServerError):
        client.chat(USER, model=MODEL)
    with pytest.raises(CircuitOpenError):
        client.chat(USER, model=MODEL)
    assert len(fake_mistral.chat_requests) == 2


def test_breaker_stops_a_retry_loop_early(fake_mistral):
    fake_mistral.queue(*[error(500)] * 5)
    with pytest.raises(ServerError):
        make_client(max_retries=4, breaker_threshold=2, breaker_cooldown_s=60).chat(
            USER, model=MODEL
        )
    assert len(fake_mistral.chat_requests) == 2


def test_client_errors_do_not_open_the_circuit(fake_mistral):
    client = make_client(max_retries=0, breaker_threshold=1)
    fake_mistral.queue(error(422), error(422), reply("fine"))
    for _ in range(2):
        with pytest.raises(BadRequestError):
            client.chat(USER, model=MODEL)
    assert client.chat(USER, model=MODEL).content == "fine"


def test_backoff_grows_and_honours_retry_after():
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=3.0, max_retry_after_s=10)
    assert 0.5 <= policy.delay_for(0, ServerError("x")) <= 1.0
    assert 1.0 <= policy.delay_for(1, ServerError("x")) <= 2.0
    assert 1.5 <= policy.delay_for(5, ServerError("x")) <= 3.0
    assert policy.delay_for(0, RateLimitError("x", retry_after_s=7)) == 7
    assert policy.delay_for(0, RateLimitError("x", retry_after_s=11)) is None


def test_fixture_key_is_used_from_environment(fake_mistral: FakeMistral):
    fake_mistral.queue(reply("ok"))
    make_client().chat(USER, model=MODEL)
    assert fake_mistral.last_chat.headers["authorization"] == "Bearer test-key"


# ---------------------------------------------------------------- one time budget per call


def test_the_environment_timeout_applies_when_the_caller_passes_none(fake_mistral, monkeypatch):
    monkeypatch.setenv("MISTRAL_TIMEOUT_S", "0.5")
    fake_mistral.queue(silent())
    client = MistralClient(timeout_s=None, max_retries=3)
    assert client.config.timeout_s == 0.5
    with pytest.raises(RequestTimeoutError, match=r"within 0\.5 s"):
        client.chat(USER, model=MODEL)


def test_a_silent_server_fails_after_about_one_timeout_not_one_per_retry(fake_mistral):
    fake_mistral.queue(*[silent()] * 4)
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError) as caught:
        make_client(timeout_s=2, max_retries=3).chat(USER, model=MODEL)
    elapsed = time.monotonic() - started
    # One attempt used the whole budget: no further attempt was started (4 x 2 s before).
    assert len(fake_mistral.chat_requests) == 1
    assert elapsed < 7, elapsed  # generous: the old behaviour took at least 8 s
    assert "time budget of 2 s" in str(caught.value) and "MISTRAL_TIMEOUT_S" in str(caught.value)


def test_a_retry_after_beyond_the_budget_is_not_waited_for(fake_mistral):
    fake_mistral.queue(error(429, retry_after=30), reply("never sent"))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        make_client(timeout_s=2, max_retries=3).chat(USER, model=MODEL)
    assert time.monotonic() - started < 20
    assert len(fake_mistral.chat_requests) == 1
    assert "wait 30 s" in str(caught.value)


def test_quick_failures_keep_their_retries_within_the_budget(fake_mistral):
    fake_mistral.queue(error(503), drop_connection(), reply("third time"))
    assert make_client(timeout_s=5, max_retries=3).chat(USER, model=MODEL).content == "third time"


def test_each_attempt_gets_what_remains_of_the_budget():
    now = [0.0]
    given: list[float | None] = []

    def attempt(remaining_s):
        given.append(remaining_s)
        now[0] += 3.0  # each attempt fails after 3 s
        raise ServerError("down")

    with pytest.raises(ServerError, match="budget of 10 s"):
        call_with_retries(
            attempt,
            translate=lambda exc: exc,
            policy=RetryPolicy(max_retries=5, base_delay_s=0.5, max_delay_s=0.5),
            breaker=CircuitBreaker(threshold=100),
            server_url="http://x",
            budget_s=10.0,
            sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
            clock=lambda: now[0],
        )
    assert given[0] == 10.0
    assert all(a > b for a, b in zip(given, given[1:], strict=False))  # shrinking timeouts
    assert len(given) == 3 and now[0] <= 10.0  # never past the budget
