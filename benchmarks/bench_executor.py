"""What a user feels of the executor: cold start, model calls per task, and the loop's overhead.

    .venv/bin/python benchmarks/bench_executor.py [--baseline REF] [--sections cold,calls,overhead]
                            [--runs N] [--cold-runs N] [--sandbox restricted]
                            [--cold-sandboxes restricted,jail,docker] [--json PATH]

Each figure is taken twice, side by side: on this checkout ("after") and on ``--baseline`` (a
git ref, default ``af61754``: the last commit before issue 11's work; ``none`` skips it), which is
extracted with ``git archive`` into a temporary directory and measured with the same code, so
the two columns differ only by the executor's source. Everything talks to the fake Mistral
server of ``tests/fake_mistral`` answering at once, so the figures are the executor's own.

Sections:

- ``cold``: wall time of ``mistral-executor --help`` and of a whole ``mistral-executor run``
  (fresh process: imports, sandbox start, plan, code, run, checks), and how long that run took
  before its first model call; median and best of ``--cold-runs``, the trees taken in turns so
  both meet the same machine load; once per backend of ``--cold-sandboxes``. Goals: ``--help``
  < 0.5 s, the run 1.5 s.
- ``calls``: model calls and prompt tokens per task scenario, with one tool registered (as the
  CLI has its plugins' tools): ``happy`` (right the first time, the checks decide), ``happy,
  review`` (right the first time, the criteria need the model's review), ``heal`` (a runtime
  error, then right), ``tool use`` (the model calls the tool first) and ``never fixes`` (three
  attempts that all fail). Prompt tokens are estimated as the request's characters / 4
  (messages, tool definitions and schema), the same way in both columns. Goals: at most 3 calls,
  2 when the checks decide.
- ``overhead``: the loop's own time per iteration (prompt building, classification, events, the
  store), measured by the loop itself in ``ExecutionResult.timings`` over a three-attempt run.
  Target: p95 <= 20 ms.

Numbers are wall-clock: take them on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Imported from beside this script (its dir is sys.path[0]), never from a measured tree: the
# worker runs this checkout's script against an older tree that has no such module.
from executor_scenarios import RIGHT, SCENARIOS, TASK, Model, tool_provider

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "af61754"
SECTIONS = ("cold", "calls", "overhead")
OVERHEAD_TARGET_MS = 20.0


# ------------------------------------------------------------------ measurements (one tree)


def measure_calls(sandbox: Any) -> dict[str, dict[str, Any]]:
    from executor import Executor
    from tests.fake_mistral import FakeMistral

    figures = {}
    for name, scenario in SCENARIOS.items():
        model = Model(scenario)
        with FakeMistral(api_key="bench-key") as fake:
            fake.on_chat(model)
            with Executor(
                api_key="bench-key",
                server_url=fake.url,
                sandbox=sandbox,
                store=False,
                tool_provider=tool_provider(),
                max_retries=0,
            ) as executor:
                result = executor.execute(TASK)
        figures[name] = {
            "calls": len(model.requests),
            "prompt_tokens": model.prompt_tokens(),
            "success": result.success,
            "attempts": result.total_attempts,
        }
    return figures


def cli_command(tree: Path, *args: str) -> list[str]:
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); sys.argv = ['mistral-executor', "
        f"*{list(args)!r}]; from app.cli import main; main()"
    )
    return [sys.executable, "-c", code]


def measure_cold(trees: dict[str, Path], runs: int, sandbox: str) -> dict[str, dict[str, Any]]:
    """Fresh CLI processes for each tree, taken in turns so that every tree meets the same
    machine load; the median and the best of ``runs`` (after one uncounted warm-up round)."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.fake_mistral import FakeMistral

    home = tempfile.mkdtemp(prefix="bench-executor-home-")
    samples: dict[str, dict[str, list[float]]] = {
        name: {"help_s": [], "run_s": [], "before_first_call_s": []} for name in trees
    }
    calls: dict[str, int] = {}
    failed: set[str] = set()
    with FakeMistral(api_key="bench-key") as fake:
        model = Model(SCENARIOS["happy"])
        fake.on_chat(model)
        env = {
            **os.environ,
            "MISTRAL_SERVER_URL": fake.url,
            "MISTRAL_API_KEY": "bench-key",
            "MISTRAL_EXECUTOR_HOME": home,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("PYTHONPATH", None)
        for number in range(runs + 1):
            for name, tree in trees.items():
                if name in failed:
                    continue
                started = time.perf_counter()
                subprocess.run(
                    cli_command(tree, "--help"), env=env, cwd=tree, capture_output=True, check=True
                )
                helped = time.perf_counter() - started
                model.requests.clear()
                model.codes = [RIGHT]
                began = time.monotonic()
                started = time.perf_counter()
                done = subprocess.run(
                    cli_command(tree, "run", "--sandbox", sandbox, TASK),
                    env=env,
                    cwd=tree,
                    capture_output=True,
                    text=True,
                )
                ran = time.perf_counter() - started
                if done.returncode != 0 or "385" not in done.stdout:
                    if name in failed:
                        continue
                    if number == 0:  # a tree without this backend (older than it): n/a
                        failed.add(name)
                        print(
                            f"{name}: the cold run failed with --sandbox {sandbox}: "
                            f"{done.stderr.strip()[-300:]}",
                            file=sys.stderr,
                        )
                        continue
                    raise RuntimeError(f"the cold run failed: {done.stdout}\n{done.stderr}")
                calls[name] = len(model.requests)
                if number == 0:
                    continue  # the first round warms the OS caches
                samples[name]["help_s"].append(helped)
                samples[name]["run_s"].append(ran)
                samples[name]["before_first_call_s"].append(model.requests[0].received_at - began)
    figures: dict[str, dict[str, Any]] = {}
    for name, series in samples.items():
        if name in failed:
            figures[name] = {}
            continue
        figures[name] = {"calls": calls[name]}
        for key, values in series.items():
            figures[name][key] = statistics.median(values)
            figures[name][key.replace("_s", "_best_s")] = min(values)
    return figures


def measure_overhead(runs: int, sandbox: Any) -> dict[str, float]:
    from executor import Executor
    from tests.fake_mistral import FakeMistral

    scenario = {
        "codes": [
            "total = sum(i * i for i in range(1, 11))\nprint(totl)",
            "total = sum(i * i for i in range(1, 10))\nprint(total)",
            RIGHT,
        ]
    }
    rows = []
    with (
        FakeMistral(api_key="bench-key") as fake,
        Executor(
            api_key="bench-key", server_url=fake.url, sandbox=sandbox, max_iterations=3
        ) as executor,
    ):
        for number in range(3 + runs):
            model = Model(scenario)
            fake.on_chat(model)
            result = executor.execute(TASK)
            if not (result.success and result.total_attempts == 3):
                raise RuntimeError(f"unexpected run: {result.stop_reason} {result.errors}")
            if number >= 3:
                rows.append(result.timings["loop_ms"] / result.total_attempts)
    ordered = sorted(rows)
    return {
        "p50": statistics.median(rows),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
    }


def worker(tree: Path, sections: list[str], runs: int, sandbox_name: str) -> dict[str, Any]:
    """Measure the executor in ``tree`` (this process imports it from there)."""
    sys.path.insert(0, str(tree))
    os.environ["MISTRAL_EXECUTOR_HOME"] = tempfile.mkdtemp(prefix="bench-executor-")
    from sandbox import Limits, create_sandbox

    figures: dict[str, Any] = {}
    if "calls" in sections or "overhead" in sections:
        with create_sandbox(sandbox_name, limits=Limits(timeout_s=5)) as sandbox:
            if "calls" in sections:
                figures["calls"] = measure_calls(sandbox)
            if "overhead" in sections:
                figures["overhead"] = measure_overhead(runs, sandbox)
    return figures


# --------------------------------------------------------------------------------- driver


def extract(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_worker(tree: Path, sections: list[str], runs: int, sandbox: str) -> dict[str, Any]:
    """The measurements in a fresh interpreter whose imports come from ``tree``."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(tree),
        "--sections",
        ",".join(sections),
        "--runs",
        str(runs),
        "--sandbox",
        sandbox,
        "--json",
        str(out),
    ]
    subprocess.run(command, check=True, cwd=tree)
    return json.loads(out.read_text())


def show(columns: dict[str, dict[str, Any]], sections: list[str]) -> None:
    names = list(columns)

    def row(label: str, values: list[str]) -> None:
        print(f"  {label:<40}" + "".join(f"{v:>20}" for v in values))

    def title(text: str) -> None:
        print(f"\n{text:<42}" + "".join(f"{name:>20}" for name in names))

    def get(name: str, *path: str) -> Any:
        value: Any = columns[name]
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def seconds(name: str, *path: str) -> str:
        median, best = get(name, *path), get(name, *path[:-1], path[-1].replace("_s", "_best_s"))
        return "n/a" if median is None else f"{median:.2f}/{best:.2f} s"

    if "cold" in sections:
        backends = list(get(names[-1], "cold") or {})
        title("cold start (fresh processes, in turns)")
        first = backends[0]
        row(
            "mistral-executor --help (goal < 0.5 s)",
            [seconds(n, "cold", first, "help_s") for n in names],
        )
        for backend in backends:
            row(
                f"run --sandbox {backend} (goal 1.5 s)",
                [seconds(n, "cold", backend, "run_s") for n in names],
            )
            row(
                "  of which before the first call",
                [seconds(n, "cold", backend, "before_first_call_s") for n in names],
            )
            row(
                "  model calls in that run",
                [str(get(n, "cold", backend, "calls") or "n/a") for n in names],
            )
        row("(median/best)", ["" for n in names])
    if "calls" in sections:
        title("model calls / prompt tokens per task")
        for scenario in SCENARIOS:
            values = []
            for n in names:
                f = get(n, "calls", scenario)
                mark = "" if f["success"] == (scenario != "never fixes") else " !"
                values.append(f"{f['calls']} / {f['prompt_tokens']}{mark}")
            row(scenario, values)
    if "overhead" in sections:
        title("loop overhead per iteration")
        for key in ("p50", "p95"):
            row(
                f"{key} (target p95 <= {OVERHEAD_TARGET_MS:g} ms)",
                [f"{get(n, 'overhead', key):.2f} ms" for n in names],
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref, or 'none'")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--runs", type=int, default=30, help="runs for the loop overhead")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per tree")
    parser.add_argument("--sandbox", default="restricted")
    parser.add_argument(
        "--cold-sandboxes",
        help="comma-separated backends for the cold runs (default: --sandbox), e.g. "
        "restricted,jail,docker",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")

    if args.worker is not None:
        figures = worker(args.worker, sections, args.runs, args.sandbox)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0

    columns: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-executor-baseline-") as scratch:
        trees = {}
        if args.baseline != "none":
            trees[f"before {args.baseline[:10]}"] = extract(args.baseline, Path(scratch))
        trees["after (this tree)"] = REPO_ROOT
        in_worker = [s for s in sections if s != "cold"]
        for name, tree in trees.items():
            columns[name] = (
                run_worker(tree, in_worker, args.runs, args.sandbox) if in_worker else {}
            )
        if "cold" in sections:
            for backend in (args.cold_sandboxes or args.sandbox).split(","):
                cold = measure_cold(trees, max(1, args.cold_runs), backend.strip())
                for name in trees:
                    columns[name].setdefault("cold", {})[backend.strip()] = cold[name]
    print(f"sandbox={args.sandbox}; fake Mistral server answering at once")
    show(columns, sections)
    if args.json:
        args.json.write_text(json.dumps(columns, indent=2) + "\n")
    after = columns["after (this tree)"]
    if "overhead" in after and after["overhead"]["p95"] > OVERHEAD_TARGET_MS:
        print("loop overhead over target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
