"""The loop end to end on the fake Mistral server: the happy path and what every phase sends."""

from __future__ import annotations

import pytest

from executor import ExecutionResult, TraceStore
from tests.executor.executor_script import (
    last_user_text,
    new_executor,
    plan,
    scripted,
    verdict,
)

FIB_CODE = """
fib = [0, 1]
while len(fib) < 11:
    fib.append(fib[-1] + fib[-2])
print("fibonacci up to n=10:", fib)
"""
FIB_OUTPUT = "fibonacci up to n=10: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]\n"


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_happy_path_plans_writes_runs_checks_and_accepts(fake_mistral, executor_home):
    model = scripted(
        fake_mistral,
        FIB_CODE,
        plan_=plan(checks=["assert fib[10] == 55", "assert '55' in program_output"], cover=True),
    )
    with new_executor() as ex:
        result = ex.execute("Calculate fibonacci sequence up to n=10")

    assert isinstance(result, ExecutionResult)
    assert result.success, result.errors
    assert result.final_output == FIB_OUTPUT
    assert result.explanation == "Here is the program.\n\nIt prints the result."
    assert result.total_attempts == 1 and result.errors == []
    assert result.plan is not None and result.plan.checks == [
        "assert fib[10] == 55",
        "assert '55' in program_output",
    ]
    assert [c.passed for c in result.iterations[0].checks] == [True, True]
    assert "fib.append" in result.code
    assert result.usage.model_calls == 2 and result.usage.total_tokens > 0
    assert result.run_id and result.total_duration_ms > 0
    # One plan, one program: the checks proved the criteria, so no verdict was asked for.
    assert [len(model.seen[k]) for k in ("plan", "code", "verdict")] == [1, 1, 0]
    assert result.iterations[0].verdict is None
    (skipped,) = [e for e in result.trace if e.step == "verdict"]
    assert skipped.status == "skipped" and "all 2 checks passed" in skipped.message
    # The Mechanic saw the plan and its checks.
    mechanic_prompt = last_user_text(model.seen["code"][0])
    assert "assert fib[10] == 55" in mechanic_prompt
    assert "Calculate fibonacci sequence up to n=10" in mechanic_prompt
    # The roles picked their models: the coder role for code.
    assert model.seen["code"][0]["model"] == "codestral-latest"
    phases = [e.phase for e in result.trace]
    assert phases[0] == "scout" and phases[-1] == "final"
    assert {"scout", "mechanic", "inspector", "final"} <= set(phases)
    assert "iterate" not in phases
    assert result.trace[-1].status == "success"
    with TraceStore() as store:
        stored = store.get_run(result.run_id)
    assert stored.summary.status == "success"
    assert [e.seq for e in stored.events] == [e.seq for e in result.trace]


def test_checks_that_do_not_prove_the_criteria_leave_the_verdict_to_the_model(fake_mistral):
    model = scripted(
        fake_mistral,
        FIB_CODE,
        plan_=plan(checks=["assert fib[10] == 55"], criteria=["prints the whole sequence"]),
        verdicts=[verdict(True, "prints it")],
    )
    with new_executor() as ex:
        result = ex.execute("Calculate fibonacci sequence up to n=10")
    assert result.success and result.usage.model_calls == 3
    assert [len(model.seen[k]) for k in ("plan", "code", "verdict")] == [1, 1, 1]
    # The verdict saw the real output and the criteria.
    judged = last_user_text(model.seen["verdict"][0])
    assert FIB_OUTPUT.strip() in judged and "prints the whole sequence" in judged
    assert result.iterations[0].verdict.complete


@pytest.mark.parametrize(
    ("checks", "code", "why"),
    [
        ([], "print(55)", "no checks at all"),
        (
            ["assert fib[10] ==", "assert '55' in program_output"],
            FIB_CODE,
            "a check could not run",
        ),
        (["assert fib[10] == 55"], FIB_CODE, "no check read the printed output"),
        (
            ["assert 'drawn' in program_output"],
            "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('drawn')",
            "a figure no check can see",
        ),
    ],
)
def test_the_checks_decide_only_when_they_prove_everything(fake_mistral, checks, code, why):
    model = scripted(fake_mistral, code, plan_=plan(checks=checks, cover=True))
    with new_executor() as ex:
        result = ex.execute("compute it")
    assert result.success, why
    assert len(model.seen["verdict"]) == 1, why


def test_plain_question_is_answered_without_code(fake_mistral):
    model = scripted(
        fake_mistral,
        plan_=plan(needs_code=False, answer="A closure is a function that captures variables."),
    )
    with new_executor() as ex:
        result = ex.execute("What is a closure in Python?")
    assert result.success
    assert result.final_output == "A closure is a function that captures variables."
    assert result.code == "" and result.total_attempts == 0
    assert model.seen["code"] == [] and model.seen["verdict"] == []
    assert result.stop_reason == "answered without code"


def test_without_validation_no_checks_and_no_verdict(fake_mistral):
    model = scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert False"]))
    with new_executor() as ex:
        result = ex.execute("multiply 6 by 7", validate_output=False)
    assert result.success and result.final_output == "42\n"
    assert model.seen["verdict"] == []
    assert result.iterations[0].checks == []


def test_context_reaches_scout_and_mechanic(fake_mistral):
    model = scripted(fake_mistral, "print(3)")
    with new_executor() as ex:
        ex.execute("count the items", context="the items are: apple, pear, fig")
    assert "apple, pear, fig" in last_user_text(model.seen["plan"][0])
    assert "apple, pear, fig" in last_user_text(model.seen["code"][0])


def test_stream_yields_live_events_then_the_result(fake_mistral):
    scripted(fake_mistral, "print('hi')")
    with new_executor() as ex:
        stream = ex.stream("say hi")
        events = list(stream)
        result = stream.result
    assert result is not None and result.success and result.final_output == "hi\n"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].phase == "scout" and events[0].status == "started"
    assert events[-1].phase == "final" and events[-1].payload["final_output"] == "hi\n"
    assert all(e.run_id == result.run_id for e in events)
    assert events == result.trace


def test_result_json_round_trip_keeps_every_field(fake_mistral):
    scripted(fake_mistral, "print('x')", plan_=plan(checks=["assert program_output == 'x\\n'"]))
    with new_executor() as ex:
        result = ex.execute("print x")
    data = result.to_dict()
    assert all("phase" in event for event in data["trace"])
    again = ExecutionResult.from_dict(data)
    assert again.to_dict() == data


def test_unsupported_language_and_empty_task_are_refused_up_front(fake_mistral):
    with new_executor() as ex:
        with pytest.raises(ValueError, match="Python"):
            ex.execute("hello", language="rust")
        with pytest.raises(ValueError, match="empty"):
            ex.execute("   ")
    assert fake_mistral.chat_requests == []


def test_model_verdict_sees_criteria(fake_mistral):
    model = scripted(
        fake_mistral,
        "print(10)",
        plan_=plan(criteria=["prints the number ten"]),
        verdicts=[verdict(True, "prints 10")],
    )
    with new_executor() as ex:
        result = ex.execute("print ten")
    assert result.success
    assert "prints the number ten" in last_user_text(model.seen["verdict"][0])


def test_executors_can_share_one_sandbox_per_backend():
    from executor.sandbox_access import shared_sandbox
    from sandbox import BackendSpec, Limits, RunResult, Sandbox, register_backend

    class CountingSandbox(Sandbox):
        name = "executor-test-counting"
        created = 0

        def __init__(self, limits=None, **options):
            super().__init__(limits)
            CountingSandbox.created += 1
            self.closed = False

        def run(self, code, *, files=None, session_id=None, limits=None):
            return RunResult(ok=True)

        def close(self):
            self.closed = True

    register_backend(BackendSpec(CountingSandbox.name, CountingSandbox))
    limits = Limits(timeout_s=3)
    with new_executor(sandbox=CountingSandbox.name, limits=limits, share_sandbox=True) as first:
        box = first.sandbox.inner
        assert first.sandbox.limits == limits
    with new_executor(sandbox=CountingSandbox.name, limits=limits, share_sandbox=True) as second:
        assert second.sandbox.inner is box and not box.closed  # closing left it running
    # Other limits still share the pool: a pool per combination would let callers multiply them.
    assert shared_sandbox(CountingSandbox.name, Limits(timeout_s=4)).inner is box
    with new_executor(sandbox=CountingSandbox.name, limits=limits) as own:
        assert own.sandbox is not box
        mine = own.sandbox
    assert mine.closed and CountingSandbox.created == 2
