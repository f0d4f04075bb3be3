"""eval() in the sandbox: arithmetic on literals only (HumanEval-style ``eval("2 + 3 * 4")``)."""

from __future__ import annotations

import pytest

from sandbox.restricted.policy import Policy, PolicyError
from sandbox.restricted.safe_builtins import MAX_EVAL_CHARS
from tests.sandbox.test_policy import output_of
from tests.sandbox.test_policy_adversarial import refused


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'2**3 + 4//3'", "9"),
        ("'2 + 3 * 4 - 5'", "9"),
        ("' 7 % 3 ** 2 - -1'", "8"),
        ("'1 < 2 <= 2 and not 0'", "True"),
        ('\'(1, [2.5, "a" + "b"], None)\'', "(1, [2.5, 'ab'], None)"),
        ("b'1j * 1j'", "(-1+0j)"),
    ],
)
def test_eval_computes_arithmetic_on_literals(policy, expression, expected):
    assert output_of(policy, f"print(eval({expression}))") == expected + "\n"


def test_eval_works_when_library_code_calls_it(policy):
    source = "import numpy as np\nprint(np.vectorize(eval)(np.array(['1+1', '2*3'])).tolist())"
    assert output_of(policy, source) == "[2, 6]\n"


@pytest.mark.parametrize(
    ("expression", "what"),
    [
        ("\"__import__('os')\"", "a call"),
        ("'().__class__'", "an attribute '__class__'"),
        ("'[x for x in ()]'", "a comprehension"),
        ("'x + 1'", "a name 'x'"),
        ("'len'", "a name 'len'"),
        ("'(1,)[0]'", "a subscript"),
        ("'lambda: 1'", "a lambda"),
        ("'{1: 2}'", "'Dict'"),
        ("'f\"{1}\"'", "'JoinedStr'"),
        ("'...'", "the literal ellipsis"),
        ("'[*()]'", "'Starred'"),
        ("'(y := 1)'", "'NamedExpr'"),
        ("compile", "evaluating a"),
    ],
)
def test_eval_refuses_anything_but_literals_and_operators(policy, expression, what):
    error = refused(policy, f"eval({expression})", match="only evaluates arithmetic on literals")
    assert what in str(error)


def test_eval_refuses_huge_and_deep_expressions(policy):
    refused(policy, f"eval('1' * {MAX_EVAL_CHARS + 1})", match="characters")
    refused(policy, "eval('-' * 9000 + '1')", match="nested")
    with pytest.raises(SyntaxError):
        output_of(policy, "eval('1 +')")


def test_exec_compile_and_open_stay_refused(policy):
    for call in ("exec('1')", "compile('1', 'x', 'eval')", "open('x')"):
        with pytest.raises(PolicyError, match="not available"):
            output_of(policy, call)
