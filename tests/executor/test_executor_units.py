"""The pure parts of the phases: code extraction, failure classes, decisions, repair prompts."""

from __future__ import annotations

import pytest

from executor.conversation import Conversation, Turn
from executor.inspector import checks_program, parse_check_report
from executor.iterate import best_attempt, classify, decide
from executor.mechanic import extract_code
from executor.prompts import SandboxRules, repair_prompt
from executor.results import Attempt, CheckResult, Failure, Verdict
from sandbox import ErrorInfo

RULES = SandboxRules(
    backend="restricted",
    timeout_s=5,
    memory_mb=256,
    max_output_bytes=1000,
    allowed_modules=("math", "json"),
    restricted=True,
)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("Sure:\n```python\nprint(1)\n```\nDone.", "print(1)\n"),
        ("```py\nx = 1\n```", "x = 1\n"),
        ("```Python3 title=main.py\nx = 2\n```", "x = 2\n"),
        ("```\nprint('untagged')\n```", "print('untagged')\n"),
        ("~~~python\nprint('tilde')\n~~~", "print('tilde')\n"),
        (
            "1. Code:\n   ```python\n   if True:\n       print(3)\n   ```",
            "if True:\n    print(3)\n",
        ),
        ("```python\nprint('cut off by max tokens')", "print('cut off by max tokens')\n"),
        ("```python\r\nprint(1)\r\n```", "print(1)\n"),
    ],
)
def test_extract_code_accepts_the_fences_models_write(reply, code):
    assert extract_code(reply)[0] == code


def test_extract_code_prefers_the_longest_python_block_and_ignores_other_languages():
    reply = (
        "```bash\npip install nothing-at-all-here\n```\n"
        "```python\ndef area(r):\n    return 3.14159 * r * r\n\nprint(area(2))\n```\n"
        "Usage:\n```python\narea(1)\n```"
    )
    code, prose = extract_code(reply)
    assert code.startswith("def area(r):") and "pip" not in code
    assert "Usage:" in prose and "```" not in prose


@pytest.mark.parametrize(
    "reply", ["No code here, just words.", "```bash\nls\n```", "```python\n\n```", ""]
)
def test_extract_code_never_guesses_code_out_of_prose(reply):
    assert extract_code(reply)[0] is None


def attempt(**fields) -> Attempt:
    return Attempt(number=fields.pop("number", 1), code=fields.pop("code", "x = 1\n"), **fields)


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"code": ""}, "no_code"),
        ({"preflight_error": ErrorInfo("SyntaxError", "bad", lineno=2, kind="syntax")}, "syntax"),
        ({"preflight_error": ErrorInfo("ImportError", "no os", kind="import")}, "import"),
        ({"preflight_error": ErrorInfo("PolicyError", "no eval", kind="policy")}, "policy"),
        ({"limit_hit": "timeout"}, "timeout"),
        ({"limit_hit": "memory"}, "memory"),
        ({"limit_hit": "output"}, "output_limit"),
        ({"limit_hit": "processes"}, "processes"),
        ({"error": ErrorInfo("ModuleNotFoundError", "no module named x")}, "import"),
        ({"error": ErrorInfo("KeyError", "'a'", lineno=3)}, "runtime"),
        ({"error": ErrorInfo("WorkerCrash", "died", kind="crash")}, "crash"),
        ({"checks": [CheckResult("assert x == 2", False, "assertion failed")]}, "failed_check"),
        ({"verdict": Verdict(False, "missing the plot")}, "incomplete"),
    ],
)
def test_classify_names_every_failure_class(fields, kind):
    failure = classify(attempt(**fields))
    assert failure is not None and failure.kind == kind


def test_classify_passes_a_clean_attempt():
    clean = attempt(checks=[CheckResult("assert True", True)], verdict=Verdict(True))
    assert classify(clean) is None


def failed(number: int, kind: str, signature: str) -> Attempt:
    return attempt(number=number, failure=Failure(kind, "m", signature))  # type: ignore[arg-type]


def test_decide_retries_until_the_budget_or_a_repeat():
    one = [failed(1, "runtime", "runtime:a")]
    assert decide(one, budget=3).retry
    assert not decide(one, budget=1).retry
    different = [failed(1, "runtime", "runtime:a"), failed(2, "runtime", "runtime:b")]
    assert decide(different, budget=3).retry
    same = [failed(1, "runtime", "runtime:a"), failed(2, "runtime", "runtime:a")]
    decision = decide(same, budget=5)
    assert not decision.retry and "same failure" in decision.reason


def test_best_attempt_prefers_progress_then_fewer_failed_checks():
    crashed = failed(1, "runtime", "r")
    two_bad = attempt(number=2, checks=[CheckResult("a", False), CheckResult("b", False)])
    two_bad.failure = Failure("failed_check", "m", "f")
    one_bad = attempt(number=3, checks=[CheckResult("a", True), CheckResult("b", False)])
    one_bad.failure = Failure("failed_check", "m", "g")
    unparsable = attempt(number=4, preflight_error=ErrorInfo("SyntaxError", "x", kind="syntax"))
    unparsable.failure = Failure("syntax", "m", "s")
    assert best_attempt([crashed, two_bad, one_bad, unparsable]).number == 3
    assert best_attempt([]) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"limit_hit": "timeout"}, "faster algorithm"),
        ({"limit_hit": "memory"}, "256 MB"),
        ({"limit_hit": "output"}, "1000 bytes"),
        (
            {"preflight_error": ErrorInfo("ImportError", "import of 'os'", kind="import")},
            "math, json",
        ),
        ({"preflight_error": ErrorInfo("PolicyError", "eval", kind="policy")}, "no open()"),
        ({"code": ""}, "```python"),
    ],
)
def test_repair_prompts_aim_at_the_failure_class(fields, expected):
    broken = attempt(**fields)
    broken.failure = classify(broken)
    assert expected in repair_prompt(broken, RULES, [])


def test_checks_program_reports_each_check_separately():
    program = checks_program(["assert 1 == 1", "assert 1 == 2, 'nope'", "undefined_name"], "out\n")
    namespace: dict = {}
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(program, "<checks>", "exec"), namespace)
    assert namespace["program_output"] == "out\n"
    results = parse_check_report(["a", "b", "c"], printed.getvalue(), "no report")
    assert [r.passed for r in results] == [True, False, False]
    assert results[1].message == "assertion failed: nope"
    assert "NameError" in results[2].message


def test_a_missing_check_report_fails_every_check_with_the_reason():
    results = parse_check_report(["a", "b"], "some output\n", "the checks hit the timeout limit")
    assert [(r.passed, r.message) for r in results] == [
        (False, "the checks hit the timeout limit"),
        (False, "the checks hit the timeout limit"),
    ]


def test_history_keeps_recent_turns_in_full_and_clips_old_ones():
    conversation = Conversation(
        turns=[Turn(task=f"task {i}", code="x = 1\n" * 300, final_output="out") for i in range(5)]
    )
    history = conversation.history_text()
    assert all(f"task {i}" in history for i in range(5))
    assert history.count("x = 1") < 300 * 5
    assert len(conversation.history_text(max_chars=500)) <= 600
