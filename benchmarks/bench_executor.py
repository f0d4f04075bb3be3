"""The executor loop's own overhead per iteration (target: <= 20 ms).

    .venv/bin/python benchmarks/bench_executor.py [--runs N] [--sandbox restricted] [--json PATH]

Every run goes Scout -> 3 Mechanic/Inspector/Iterate cycles (a runtime error, a failed check,
then success with a verdict) against the fake Mistral server answering at once. The loop
measures where its wall time went (``ExecutionResult.timings``): model calls (the client layer,
the SDK and the loopback HTTP round trip), sandbox runs and pre-flight checks, and the rest --
prompt building, code extraction, classification, trace events, the SQLite store, thread
hand-offs. That rest, divided by the iterations, is the loop's own overhead.

Numbers are wall-clock: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from executor import Executor  # noqa: E402
from sandbox import Limits, create_sandbox  # noqa: E402
from tests.fake_mistral import FakeMistral, reply  # noqa: E402

TARGET_MS = 20.0
PLAN = {
    "needs_code": True,
    "answer": "",
    "summary": "sum the squares",
    "steps": ["square", "sum", "print"],
    "edge_cases": [],
    "success_criteria": ["prints the sum of the squares of 1..10"],
    "checks": ["assert total == 385", "assert '385' in program_output"],
    "observations": "",
}
CODES = {
    "first": "squares = [i * i for i in range(1, 11)]\nprint(totl)",
    "second": "squares = [i * i for i in range(1, 10)]\ntotal = sum(squares)\nprint(total)",
    "third": "squares = [i * i for i in range(1, 11)]\ntotal = sum(squares)\nprint(total)",
}


def model(request: Any) -> Any:
    """Instant replies: the plan, then a broken, a wrong and a right program, then a verdict."""
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
    if schema == "plan":
        return reply(json=PLAN)
    if schema == "verdict":
        return reply(json={"complete": True, "reason": "prints 385"})
    last = request.messages[-1]["content"]
    if len(request.messages) <= 2:
        code = CODES["first"]
    elif "Earlier attempts failed" in last:
        code = CODES["third"]
    else:
        code = CODES["second"]
    return reply(f"```python\n{code}\n```")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sandbox", default="restricted")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    os.environ["MISTRAL_EXECUTOR_HOME"] = tempfile.mkdtemp(prefix="bench-executor-")
    rows: list[dict[str, float]] = []
    with (
        FakeMistral(api_key="bench-key") as fake,
        create_sandbox(args.sandbox, limits=Limits(timeout_s=5)) as sandbox,
    ):
        fake.on_chat(model)
        os.environ["MISTRAL_SERVER_URL"] = fake.url
        os.environ["MISTRAL_API_KEY"] = "bench-key"
        with Executor(sandbox=sandbox, max_iterations=3) as executor:
            for number in range(args.warmup + args.runs):
                result = executor.execute("Print the sum of the squares of 1..10")
                if not (result.success and result.total_attempts == 3):
                    print(f"unexpected run: {result.stop_reason} {result.errors}", file=sys.stderr)
                    return 1
                if number < args.warmup:
                    continue
                t = result.timings
                n = result.total_attempts
                rows.append(
                    {
                        "loop_ms_per_iteration": t["loop_ms"] / n,
                        "store_ms_per_iteration": t["store_ms"] / n,
                        "model_ms_per_iteration": t["model_ms"] / n,
                        "sandbox_ms_per_iteration": (t["sandbox_ms"] + t["preflight_ms"]) / n,
                        "total_ms_per_iteration": result.total_duration_ms / n,
                    }
                )
    figures: dict[str, dict[str, float]] = {}
    print(f"{args.runs} runs x 3 iterations, sandbox={args.sandbox}, fake server answering at once")
    print(f"{'per iteration':<28}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for key in rows[0]:
        values = [row[key] for row in rows]
        figures[key] = {
            "p50": statistics.median(values),
            "p95": percentile(values, 0.95),
            "mean": statistics.fmean(values),
        }
        label = key.removesuffix("_per_iteration").replace("_", " ")
        f = figures[key]
        print(f"{label:<28}{f['p50']:>10.2f}{f['p95']:>10.2f}{f['mean']:>10.2f}")
    verdict = "OK" if figures["loop_ms_per_iteration"]["p95"] <= TARGET_MS else "OVER TARGET"
    print(
        f"loop overhead p95 {figures['loop_ms_per_iteration']['p95']:.2f} ms "
        f"(target <= {TARGET_MS:g} ms): {verdict}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
