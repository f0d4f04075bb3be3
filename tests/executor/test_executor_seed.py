"""The seed documents' names: ``MistralAutonomousExecutor(mistral_api_key=...)`` runs the loop."""

from __future__ import annotations

import dataclasses

import pytest

from executor import ExecutionResult, Executor, MistralAutonomousExecutor
from tests.conftest import FAKE_API_KEY
from tests.executor.executor_script import plan, scripted, shared_sandbox

CODE = "squares = [n * n for n in range(5)]\nprint(squares)"
SEED_FIELDS = (
    "success",
    "plan",
    "artifacts",
    "final_output",
    "total_attempts",
    "total_duration_ms",
    "errors",
    "iterations",
)


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("spelling", ["mistral_api_key", "api_key"])
def test_the_seed_executor_runs_with_either_key_spelling(fake_mistral, monkeypatch, spelling):
    # The environment has no key: only the argument can authenticate against the fake server.
    monkeypatch.delenv("MISTRAL_API_KEY")
    scripted(fake_mistral, CODE, plan_=plan(checks=["assert squares[4] == 16"]))
    with MistralAutonomousExecutor(
        **{spelling: FAKE_API_KEY}, sandbox=shared_sandbox(), max_retries=0, store=False
    ) as executor:
        assert isinstance(executor, Executor)
        result = executor.execute(
            "List the first five squares", context="", language="python", validate_output=True
        )

    assert isinstance(result, ExecutionResult)
    assert result.success, result.errors
    assert result.final_output == "[0, 1, 4, 9, 16]\n"
    assert result.total_attempts == 1 and len(result.iterations) == 1
    assert result.plan is not None and result.plan["checks"] == ["assert squares[4] == 16"]
    assert result.errors == [] and result.total_duration_ms > 0
    assert isinstance(result.artifacts, dict)
    names = {f.name for f in dataclasses.fields(ExecutionResult)}
    assert set(SEED_FIELDS) <= names


def test_a_wrong_key_under_the_seed_name_reaches_the_server_and_fails(fake_mistral, monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY")
    scripted(fake_mistral, CODE)
    with MistralAutonomousExecutor(
        mistral_api_key="not-the-key", sandbox=shared_sandbox(), max_retries=0, store=False
    ) as executor:
        result = executor.execute("List the first five squares")
    assert not result.success
    assert result.stop_reason == "model error"


def test_two_different_keys_are_refused():
    with pytest.raises(ValueError, match="disagree"):
        MistralAutonomousExecutor(mistral_api_key="a", api_key="b", store=False)
