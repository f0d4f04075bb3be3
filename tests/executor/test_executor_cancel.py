"""Cancellation from another thread, and a stream consumer that walks away."""

from __future__ import annotations

import threading

import pytest

from executor import CancelToken, TraceStore
from tests.executor.executor_script import code_reply, kind_of, new_executor, plan
from tests.fake_mistral import reply


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def test_cancel_from_another_thread_while_the_model_is_thinking(fake_mistral):
    """The stop button: the model is slow to answer; cancel returns a cancelled result."""
    requests = []
    ex = new_executor()
    mechanic_asked = threading.Event()

    def model(request):
        requests.append(kind_of(request))
        if kind_of(request) == "plan":
            return reply(json=plan())
        mechanic_asked.set()
        return reply(code_reply("print('too late')"), delay_s=3.0)

    fake_mistral.on_chat(model)
    canceller = threading.Thread(target=lambda: mechanic_asked.wait(5) and ex.cancel())
    canceller.start()
    with ex:
        result = ex.execute("anything")
    canceller.join()

    assert result.cancelled and not result.success
    assert result.stop_reason == "cancelled" and "the run was cancelled" in result.errors
    assert requests == ["plan", "code"]  # nothing was asked after the cancel
    cancelled = [e for e in result.trace if e.status == "cancelled"]
    assert [e.phase for e in cancelled] == ["mechanic", "final"]
    with TraceStore() as store:
        assert store.get_run(result.run_id).summary.status == "cancelled"


def test_cancel_while_the_code_runs(fake_mistral):
    fake_mistral.on_chat(
        lambda request: (
            reply(json=plan())
            if kind_of(request) == "plan"
            else reply(code_reply("while True:\n    pass"))
        )
    )
    token = CancelToken()
    with new_executor() as ex:
        stream = ex.stream("spin", cancel=token)
        for event in stream:
            if event.phase == "inspector" and event.step == "run" and event.status == "started":
                token.cancel()
        result = stream.result
    assert result.cancelled and result.total_attempts == 1
    assert result.trace[-1].phase == "final" and result.trace[-1].status == "cancelled"
    assert not [e for e in result.trace if e.step == "verdict"]


def test_a_stream_consumer_that_stops_early_cancels_the_run(fake_mistral):
    asked = []

    def model(request):
        asked.append(kind_of(request))
        return reply(json=plan()) if kind_of(request) == "plan" else reply(code_reply("print(1)"))

    fake_mistral.on_chat(model)
    with new_executor() as ex:
        stream = ex.stream("one")
        for event in stream:
            if event.phase == "scout" and event.status == "ok":
                break
        stream.close()
        result = stream.result
    assert result.cancelled
    assert "verdict" not in asked


def test_a_cancel_token_set_before_the_run_asks_nothing(fake_mistral):
    token = CancelToken()
    token.cancel()
    with new_executor() as ex:
        result = ex.execute("anything", cancel=token)
    assert result.cancelled and fake_mistral.chat_requests == []
