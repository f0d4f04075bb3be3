"""Self-healing: each failure class is fed back precisely, and the loop knows when to stop."""

from __future__ import annotations

import pytest

from tests.executor.executor_script import (
    last_user_text,
    new_executor,
    plan,
    scripted,
    verdict,
)
from tests.fake_mistral import reply


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def iterate_events(result):
    return [e for e in result.trace if e.phase == "iterate"]


def test_heals_a_name_error_with_the_exact_traceback(fake_mistral):
    broken = "total = 0\nfor i in range(5):\n    total += i\nprint(totl)"
    fixed = "total = 0\nfor i in range(5):\n    total += i\nprint(total)"
    model = scripted(fake_mistral, broken, fixed)
    with new_executor() as ex:
        result = ex.execute("sum 0..4")

    assert result.success and result.final_output == "10\n"
    assert result.total_attempts == 2
    first = result.iterations[0]
    assert first.failure.kind == "runtime" and first.failure.lineno == 4
    assert "NameError" in first.failure.message and "totl" in first.failure.message
    retry = model.seen["code"][1].messages
    # The retry is a conversation: the previous program as the model's turn, then the failure.
    assert retry[-2]["role"] == "assistant" and "print(totl)" in retry[-2]["content"]
    repair = retry[-1]["content"]
    assert "NameError" in repair and "line 4" in repair
    heal = iterate_events(result)
    assert [e.status for e in heal] == ["retry"]
    assert heal[0].payload["failure"]["kind"] == "runtime"
    assert result.errors == ["attempt 1: runtime (line 4): NameError: name 'totl' is not defined"]


def test_heals_a_blocked_import_caught_before_running(fake_mistral):
    model = scripted(
        fake_mistral,
        "import os\nprint(os.getcwd())",
        "import math\nprint(math.factorial(5))",
    )
    with new_executor() as ex:
        result = ex.execute("factorial of 5")

    assert result.success and result.final_output == "120\n"
    first = result.iterations[0]
    assert first.failure.kind == "import" and first.preflight_error is not None
    # Pre-flight refused it: attempt 1 never reached the sandbox.
    assert not [
        e for e in result.trace if e.phase == "inspector" and e.step == "run" and e.attempt == 1
    ]
    repair = last_user_text(model.seen["code"][1])
    assert "Only these modules can be imported" in repair and "math" in repair


def test_heals_a_timeout_by_asking_for_a_faster_algorithm(fake_mistral):
    model = scripted(
        fake_mistral,
        "n = 0\nwhile True:\n    n += 1",
        "print(sum(range(10**6)))",
    )
    with new_executor() as ex:
        result = ex.execute("sum of the first million integers")

    assert result.success and result.final_output == "499999500000\n"
    assert result.iterations[0].failure.kind == "timeout"
    assert result.iterations[0].limit_hit == "timeout"
    assert "faster algorithm" in last_user_text(model.seen["code"][1])


def test_heals_wrong_output_caught_by_the_scouts_checks(fake_mistral):
    model = scripted(
        fake_mistral,
        "squares = [i * i for i in range(1, 5)]\nprint(squares)",
        "squares = [i * i for i in range(1, 6)]\nprint(squares)",
        plan_=plan(checks=["assert squares == [1, 4, 9, 16, 25]", "assert len(squares) == 5"]),
    )
    with new_executor() as ex:
        result = ex.execute("the squares of 1..5")

    assert result.success and result.final_output == "[1, 4, 9, 16, 25]\n"
    first = result.iterations[0]
    assert first.failure.kind == "failed_check"
    assert [c.passed for c in first.checks] == [False, False]
    assert first.checks[0].message.startswith("assertion failed")
    # Failed checks short-circuit the verdict; the accepted attempt got one.
    assert len(model.seen["verdict"]) == 1
    repair = last_user_text(model.seen["code"][1])
    assert "assert squares == [1, 4, 9, 16, 25]" in repair and "[1, 4, 9, 16]" in repair


def test_a_check_that_errors_is_a_failed_check_with_its_error(fake_mistral):
    scripted(
        fake_mistral,
        "value = 3\nprint(value)",
        "result = 3\nprint(result)",
        plan_=plan(checks=["assert result == 3"]),
    )
    with new_executor() as ex:
        result = ex.execute("three")
    assert result.success
    assert "NameError" in result.iterations[0].checks[0].message


def test_heals_a_not_complete_verdict(fake_mistral):
    model = scripted(
        fake_mistral,
        "nums = [3, 1, 2]\nprint(sorted(nums))",
        "nums = [3, 1, 2]\nprint(sorted(nums))\nprint('sum:', sum(nums))",
        verdicts=[verdict(False, "the sum is not printed"), verdict(True, "sorted and summed")],
    )
    with new_executor() as ex:
        result = ex.execute("sort the numbers 3, 1, 2 and print their sum")

    assert result.success and result.final_output == "[1, 2, 3]\nsum: 6\n"
    assert result.iterations[0].failure.kind == "incomplete"
    assert "the sum is not printed" in last_user_text(model.seen["code"][1])
    assert result.iterations[1].verdict.complete


def test_never_fixed_fails_at_the_budget_and_keeps_the_best_attempt(fake_mistral):
    model = scripted(
        fake_mistral,
        "print(1 / 0)",  # runtime error
        "answer = 41\nprint(answer)",  # runs, but fails the check: the best attempt
        "print('unclosed'",  # does not even parse
        plan_=plan(checks=["assert answer == 42"]),
    )
    with new_executor(max_iterations=3) as ex:
        result = ex.execute("the answer")

    assert not result.success
    assert result.total_attempts == 3 and len(model.seen["code"]) == 3
    assert [a.failure.kind for a in result.iterations] == ["runtime", "failed_check", "syntax"]
    assert result.best_attempt == 2
    assert result.code == "answer = 41\nprint(answer)\n" and result.final_output == "41\n"
    assert "budget of 3" in result.stop_reason
    assert len(result.errors) == 3 and result.errors[0].startswith("attempt 1: runtime")
    assert iterate_events(result)[-1].status == "stop"
    assert result.trace[-1].phase == "final" and result.trace[-1].status == "failed"
    # The last repair prompt still reminds the model of the earlier failures.
    assert "Earlier attempts failed with: attempt 1: runtime" in last_user_text(
        model.seen["code"][2]
    )


def test_the_same_failure_twice_stops_before_the_budget(fake_mistral):
    model = scripted(
        fake_mistral,
        "print(undefined_name)",
        "x = 1\nprint(undefined_name)",
        plan_=plan(),
    )
    with new_executor(max_iterations=5) as ex:
        result = ex.execute("print something")
    assert not result.success and result.total_attempts == 2
    assert len(model.seen["code"]) == 2
    assert "same failure repeated" in result.stop_reason


def test_the_same_code_again_is_not_rerun(fake_mistral):
    model = scripted(
        fake_mistral,
        "print('half done')",
        "print('half done')",
        verdicts=[verdict(False, "missing the second half")],
    )
    with new_executor(max_iterations=4) as ex:
        result = ex.execute("do it all")
    assert not result.success and result.total_attempts == 2
    assert len(model.seen["verdict"]) == 1  # the repeat was neither run nor judged again
    assert "same code again" in result.stop_reason
    skipped = [e for e in result.trace if e.status == "skipped"]
    assert skipped and skipped[0].attempt == 2


def test_a_reply_without_a_code_block_is_fed_back(fake_mistral):
    model = scripted(
        fake_mistral,
        reply("You could use a loop to add the numbers up."),
        "print(sum([1, 2, 3]))",
    )
    with new_executor() as ex:
        result = ex.execute("add 1, 2, 3")
    assert result.success and result.final_output == "6\n"
    first = result.iterations[0]
    assert first.failure.kind == "no_code" and first.code == ""
    assert "no ```python fenced block" in last_user_text(model.seen["code"][1])


def test_a_model_that_never_writes_code_is_a_clear_failure(fake_mistral):
    scripted(fake_mistral, reply("I cannot do that."), reply("Still no."))
    with new_executor(max_iterations=3) as ex:
        result = ex.execute("add 1, 2, 3")
    assert not result.success and result.total_attempts == 2
    assert all(a.failure.kind == "no_code" for a in result.iterations)
    assert result.code == "" and result.final_output == ""


def test_without_self_healing_one_attempt_only(fake_mistral):
    model = scripted(fake_mistral, "print(1 / 0)")
    with new_executor(use_self_healing=False, max_iterations=5) as ex:
        result = ex.execute("divide")
    assert not result.success and result.total_attempts == 1
    assert len(model.seen["code"]) == 1
    assert "ZeroDivisionError" in result.errors[0]


def test_invalid_plan_json_is_retried_once(fake_mistral):
    model = scripted(fake_mistral, "print(2)")
    model.plans.extend([reply("this is not json"), plan(checks=["assert True"])])
    with new_executor() as ex:
        result = ex.execute("two")
    assert result.success and len(model.seen["plan"]) == 2
    assert "not valid JSON" in last_user_text(model.seen["plan"][1])
    assert result.plan.checks == ["assert True"]


def test_invalid_plan_json_twice_goes_on_with_a_minimal_plan(fake_mistral):
    model = scripted(fake_mistral, "print(2)")
    model.plans.extend([reply("nope"), reply('{"needs_code": "maybe"}')])
    with new_executor() as ex:
        result = ex.execute("two")
    assert result.success and result.final_output == "2\n"
    assert any("plan was not valid JSON" in e for e in result.errors)
    assert result.plan.steps == ["two"] and result.plan.checks == []


def test_invalid_verdict_json_twice_accepts_on_the_checks(fake_mistral):
    scripted(
        fake_mistral,
        "print(5)",
        plan_=plan(checks=["assert program_output.strip() == '5'"]),
        verdicts=[reply("yes"), reply("{broken")],
    )
    with new_executor() as ex:
        result = ex.execute("five")
    assert result.success
    assert any("verdict was not valid JSON" in e for e in result.errors)


def test_invalid_checks_from_the_scout_are_dropped_not_blamed_on_the_code(fake_mistral):
    scripted(fake_mistral, "x = 2\nprint(x)", plan_=plan(checks=["assert x ==", "assert x == 2"]))
    with new_executor() as ex:
        result = ex.execute("two")
    assert result.success and result.plan.checks == ["assert x == 2"]
    assert any("dropped 1 check" in e for e in result.errors)


def test_a_plan_missing_fields_is_used_for_what_it_has(fake_mistral):
    model = scripted(fake_mistral, "x = 1\nprint(x)")
    model.plans.append(
        {"needs_code": True, "steps": ["set x", "print it"], "checks": ["assert x == 1"]}
    )
    with new_executor() as ex:
        result = ex.execute("one")
    assert result.success and len(model.seen["plan"]) == 1
    assert result.plan.steps == ["set x", "print it"] and result.plan.checks == ["assert x == 1"]
    assert [c.passed for c in result.iterations[0].checks] == [True]
    assert any("did not match the schema" in e for e in result.errors)


def test_a_verdict_missing_its_reason_still_counts(fake_mistral):
    model = scripted(
        fake_mistral, "print(1)", "print(1)\nprint(2)", verdicts=[{"complete": False}, verdict()]
    )
    with new_executor() as ex:
        result = ex.execute("print 1 and 2")
    assert result.success and result.total_attempts == 2
    assert result.iterations[0].failure.kind == "incomplete"
    assert len(model.seen["verdict"]) == 2
