"""Model errors mid-run: retried by the client, else a clear failure result (never an exception)."""

from __future__ import annotations

import logging
import socket

import pytest

from executor import TraceStore
from executor.mistral import MistralClient
from tests.executor.executor_script import code_reply, new_executor, plan, scripted
from tests.fake_mistral import error, reply


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def fast_retrying_client(retries: int) -> MistralClient:
    return MistralClient(max_retries=retries, retry_base_delay_s=0.01, retry_max_delay_s=0.05)


def test_rate_limit_and_server_error_mid_run_are_retried(fake_mistral):
    fake_mistral.queue(
        reply(json=plan()),
        error(429, retry_after=0),
        error(503),
        reply(code_reply("print('ok')")),
        reply(json={"complete": True, "reason": "fine"}),
    )
    with new_executor(client=fast_retrying_client(3)) as ex:
        result = ex.execute("say ok")
    assert result.success and result.final_output == "ok\n"
    assert len(fake_mistral.chat_requests) == 5 and fake_mistral.pending() == 0
    assert result.errors == []


def test_persistent_server_errors_end_in_a_clear_failure(fake_mistral):
    fake_mistral.queue(reply(json=plan()), error(500), error(500))
    with new_executor(client=fast_retrying_client(1)) as ex:
        result = ex.execute("say ok")
    assert not result.success and not result.cancelled
    assert result.stop_reason == "model error"
    assert result.errors and result.errors[-1].startswith("model error during mechanic:")
    failure = [e for e in result.trace if e.status == "error"]
    assert (
        failure and failure[0].phase == "mechanic" and failure[0].payload["type"] == "ServerError"
    )
    assert result.trace[-1].phase == "final"
    with TraceStore() as store:
        assert store.get_run(result.run_id).summary.status == "failed"


def test_a_model_error_after_a_failed_attempt_keeps_that_attempt(fake_mistral):
    fake_mistral.queue(
        reply(json=plan()),
        reply(code_reply("print('partial')\nprint(1 / 0)")),
        error(500),
    )
    with new_executor(client=fast_retrying_client(0)) as ex:
        result = ex.execute("do it")
    assert not result.success and result.total_attempts == 1
    assert result.final_output == "partial\n" and "1 / 0" in result.code
    assert result.errors[0].startswith("attempt 1: runtime")
    assert result.errors[-1].startswith("model error during mechanic")


def test_a_wrong_api_key_is_a_clear_failure(fake_mistral):
    with new_executor(api_key="not-the-right-key") as ex:
        result = ex.execute("say ok")
    assert not result.success
    assert "model error during scout" in result.errors[-1]
    assert "key" in result.errors[-1].lower()


def test_an_unreachable_server_is_a_clear_failure(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    with new_executor(server_url=f"http://127.0.0.1:{port}", max_retries=0) as ex:
        result = ex.execute("say ok")
    assert not result.success and result.stop_reason == "model error"
    assert result.trace[-1].phase == "final"


def test_the_api_key_never_reaches_store_trace_export_or_log(fake_mistral, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "test-key"  # the key the fake server accepts
    # A model that (absurdly) echoes the key into the code and output must still not leak it.
    scripted(fake_mistral, f"print('key is {secret}')", plan_=plan(observations=f"k={secret}"))
    with new_executor() as ex:
        result = ex.execute(f"print the word {secret}")
        store = ex.store
        exported = store.export_run(result.run_id)
        db_path = store.path
    import json

    assert secret not in json.dumps(exported)
    assert "[REDACTED]" in json.dumps(exported)
    for path in db_path.parent.iterdir():
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text
