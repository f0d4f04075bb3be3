"""Iterate: name the failure, decide whether another attempt can help, keep the best one.

Classifying first is what makes healing work: a timeout needs a faster algorithm, a blocked
import needs the list of allowed modules, a failed check needs the failing assertion -- one
generic "it failed, try again" prompt fixes far less. Stopping when the same failure comes back
saves the budget for runs where the model is actually making progress.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from executor.results import Attempt, Failure

_LIMIT_CLASSES = {
    "timeout": "timeout",
    "memory": "memory",
    "output": "output_limit",
    "processes": "processes",
}
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _normalise(text: str) -> str:
    """Comparable form of a message: case, spacing and object addresses don't make it new."""
    text = re.sub(r"0x[0-9a-fA-F]+", "0x", text.lower())
    return re.sub(r"\s+", " ", text).strip()[:300]


def classify(attempt: Attempt) -> Failure | None:
    """The attempt's failure, or None when it passed every gate it went through."""
    if not attempt.code:
        return Failure("no_code", "the reply had no ```python block", "no_code")
    error = attempt.preflight_error
    if error is not None:
        kind = error.kind if error.kind in ("syntax", "import", "policy") else "policy"
        if error.type in _IMPORT_ERRORS:
            kind = "import"
        message = f"{error.type}: {error.message}"
        return Failure(kind, message, f"{kind}:{_normalise(message)}", error.lineno)  # type: ignore[arg-type]
    if attempt.limit_hit:
        kind = _LIMIT_CLASSES.get(attempt.limit_hit, "crash")
        return Failure(kind, f"the {attempt.limit_hit} limit was hit", kind)  # type: ignore[arg-type]
    error = attempt.error
    if error is not None:
        if error.type in _IMPORT_ERRORS or error.kind == "import":
            kind = "import"
        elif error.kind in ("syntax", "policy"):
            kind = error.kind
        elif error.kind in ("crash", "internal", "limit"):
            kind = "crash"
        else:
            kind = "runtime"
        message = f"{error.type}: {error.message}"
        return Failure(kind, message, f"{kind}:{_normalise(message)}", error.lineno)  # type: ignore[arg-type]
    failed = [c for c in attempt.checks if not c.passed]
    if failed:
        message = "; ".join(f"{c.check} ({c.message})" for c in failed)
        signature = "failed_check:" + "|".join(sorted(_normalise(c.check) for c in failed))
        return Failure("failed_check", message, signature)
    if attempt.verdict is not None and not attempt.verdict.complete:
        reason = attempt.verdict.reason or "judged not complete"
        return Failure("incomplete", reason, f"incomplete:{_normalise(reason)}")
    return None


@dataclass
class Decision:
    retry: bool
    reason: str


def decide(attempts: Sequence[Attempt], budget: int) -> Decision:
    """After a failed attempt: try again, or stop (budget spent, or the same failure again)."""
    last = attempts[-1]
    assert last.failure is not None
    if len(attempts) >= budget:
        return Decision(False, f"the budget of {budget} attempt(s) is spent")
    if len(attempts) >= 2:
        before = attempts[-2]
        if before.failure is not None and before.failure.signature == last.failure.signature:
            return Decision(False, f"the same failure repeated ({last.failure.kind})")
    return Decision(True, f"retrying after a {last.failure.kind.replace('_', ' ')} failure")


def repeated_code(attempts: Sequence[Attempt], code: str) -> Attempt | None:
    """An earlier attempt with exactly this code: running it again would prove nothing new."""
    for attempt in attempts:
        if attempt.code and attempt.code.strip() == code.strip():
            return attempt
    return None


def best_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    return max(attempts, key=lambda a: a.rank()) if attempts else None


def failure_line(attempt: Attempt) -> str:
    assert attempt.failure is not None
    where = f" (line {attempt.failure.lineno})" if attempt.failure.lineno else ""
    return f"attempt {attempt.number}: {attempt.failure.kind}{where}: {attempt.failure.message}"
