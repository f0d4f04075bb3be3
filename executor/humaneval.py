"""HumanEval pass@1 through the whole loop, with and without self-healing.

Each problem's prompt (signature + docstring) becomes a task; the Executor plans, writes, runs,
checks and heals as it would for a user. Only then is the accepted (or best) code graded by
HumanEval's hidden tests -- ``code + test + check(entry_point)`` must run without error -- in
the same sandbox. The hidden tests never reach the model.
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from executor.loop import Executor
from mistral_executor.settings import get_settings
from sandbox import Sandbox

DATA_ENV = "MISTRAL_EXECUTOR_HUMANEVAL"
MODES = ("heal", "no-heal")


@dataclass
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


@dataclass
class ProblemResult:
    task_id: str
    mode: str
    passed: bool
    executor_success: bool
    attempts: int
    tokens: int
    duration_ms: float
    error: str = ""


@dataclass
class ModeSummary:
    mode: str
    problems: int
    passed: int
    pass_at_1: float
    mean_tokens: float
    mean_seconds: float


@dataclass
class BenchReport:
    results: list[ProblemResult] = field(default_factory=list)
    summaries: list[ModeSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [asdict(r) for r in self.results],
            "summaries": [asdict(s) for s in self.summaries],
        }


def default_data_path() -> Path | None:
    """``$MISTRAL_EXECUTOR_HUMANEVAL``, else ``../shared/benchmarks/`` next to the repo or cwd."""
    configured = get_settings().humaneval
    if configured:
        return configured
    repo = Path(__file__).resolve().parents[1]
    for base in (repo.parent, Path.cwd().parent, Path.cwd()):
        candidate = base / "shared" / "benchmarks" / "HumanEval.jsonl.gz"
        if candidate.is_file():
            return candidate
    return None


def load_problems(path: Path | None = None, limit: int | None = None) -> list[Problem]:
    path = path or default_data_path()
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(
            f"HumanEval data not found (looked for ../shared/benchmarks/HumanEval.jsonl.gz); "
            f"pass --data or set {DATA_ENV}"
        )
    opener = gzip.open if str(path).endswith(".gz") else open
    problems = []
    with opener(path, "rt", encoding="utf-8") as lines:  # type: ignore[operator]
        for line in lines:
            if line.strip():
                data = json.loads(line)
                problems.append(Problem(**{k: data[k] for k in Problem.__dataclass_fields__}))
            if limit is not None and len(problems) >= limit:
                break
    return problems


def task_for(problem: Problem) -> str:
    return (
        "Complete this Python function. Write the whole function (same name and signature, with "
        "the imports it needs) and any helpers it uses. After it, call it on the examples from "
        "its docstring and print the results.\n\n"
        f"```python\n{problem.prompt}```"
    )


def grade(sandbox: Sandbox, code: str, problem: Problem) -> tuple[bool, str]:
    """Run HumanEval's hidden tests against ``code``."""
    if not code.strip():
        return False, "no code"
    program = f"{code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    result = sandbox.run(program)
    if result.ok:
        return True, ""
    if result.limit_hit:
        return False, f"limit hit: {result.limit_hit}"
    return False, str(result.error) if result.error else "failed"


def summarise(results: Sequence[ProblemResult]) -> list[ModeSummary]:
    summaries = []
    for mode in MODES:
        rows = [r for r in results if r.mode == mode]
        if not rows:
            continue
        passed = sum(r.passed for r in rows)
        summaries.append(
            ModeSummary(
                mode=mode,
                problems=len(rows),
                passed=passed,
                pass_at_1=passed / len(rows),
                mean_tokens=statistics.fmean(r.tokens for r in rows),
                mean_seconds=statistics.fmean(r.duration_ms for r in rows) / 1000,
            )
        )
    return summaries


def run_benchmark(
    problems: Sequence[Problem],
    *,
    modes: Sequence[str] = MODES,
    max_iterations: int = 3,
    executor_options: dict[str, Any] | None = None,
    on_result: Callable[[ProblemResult], None] | None = None,
) -> BenchReport:
    """Every problem in every mode; ``on_result`` sees each problem as it finishes."""
    report = BenchReport()
    options = {"store": False, "share_sandbox": True, **(executor_options or {})}
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        heal = mode == "heal"
        with Executor(
            max_iterations=max_iterations if heal else 1, use_self_healing=heal, **options
        ) as executor:
            for problem in problems:
                started = time.perf_counter()
                result = executor.execute(task_for(problem))
                passed, error = grade(executor.sandbox, result.code, problem)
                row = ProblemResult(
                    task_id=problem.task_id,
                    mode=mode,
                    passed=passed,
                    executor_success=result.success,
                    attempts=result.total_attempts,
                    tokens=result.usage.total_tokens,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    error=error or (result.errors[-1] if result.errors else ""),
                )
                report.results.append(row)
                if on_result is not None:
                    on_result(row)
    report.summaries = summarise(report.results)
    return report
