"""Which backend ran a task, and why, travels with the result (the chat and Traces show it)."""

from __future__ import annotations

import pytest

from executor import ExecutionResult
from sandbox.factory import explain_backend
from tests.executor.executor_script import new_executor, plan, scripted


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def test_a_named_backend_says_it_was_asked_for(fake_mistral):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '42' in program_output"]))
    with new_executor(sandbox="restricted") as ex:
        result = ex.execute("Print 6 times 7")
    assert result.success, result.errors
    assert (result.backend, result.backend_reason) == ("restricted", "asked for by name")
    again = ExecutionResult.from_dict(result.to_dict())  # what the store and exports keep
    assert again.backend_reason == "asked for by name"


def test_auto_says_what_it_found_on_this_host(fake_mistral):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '42' in program_output"]))
    with new_executor(sandbox="auto") as ex:
        result = ex.execute("Print 6 times 7")
    assert result.success, result.errors
    choice = explain_backend("auto")
    assert result.backend == choice.backend
    assert result.backend_reason == choice.reason and result.backend_reason


def test_a_sandbox_object_is_the_callers_choice(fake_mistral):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '42' in program_output"]))
    with new_executor() as ex:  # the shared restricted sandbox object
        result = ex.execute("Print 6 times 7")
    assert result.backend == "restricted"
    assert result.backend_reason == "a sandbox the caller gave"


def test_the_chat_and_the_traces_tab_say_which_backend_ran_and_why():
    from types import SimpleNamespace

    from app.ui.chat_render import final_messages
    from app.ui.traces import summary_markdown

    why = "no Docker engine; every jail layer is here"
    result = ExecutionResult(success=True, final_output="42\n", backend="jail", backend_reason=why)
    assert f"sandbox: jail ({why})" in final_messages(result)[0].content
    summary = SimpleNamespace(
        task="Print 6 times 7", id="r1", status="success", created_at=0.0,
        total_duration_ms=0, total_tokens=0,
    )  # fmt: skip
    assert f"sandbox: jail ({why})" in summary_markdown(SimpleNamespace(summary=summary), result)
