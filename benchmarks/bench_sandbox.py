"""Sandbox benchmarks, every available backend side by side in one run.

    .venv/bin/python benchmarks/bench_sandbox.py [--backends restricted,jail,docker]
        [--sections humaneval,speed,data,imports,latency] [--problems N] [--humaneval PATH]
        [--repeat N] [--latency-runs N] [--csv-rows N] [--json PATH]

- HumanEval compatibility: each problem's ``prompt + canonical_solution + test +
  check(entry_point)`` must run without error; failures are listed with their reason.
- CPU-bound speed against plain CPython ``exec`` in this same process: the snippet times itself
  (``time.perf_counter`` inside the run) and the whole run is timed from outside too; the
  ratios are backend / CPython (target for restricted: <= 1.5 inside).
- Data-stack speed: read a CSV of ``--csv-rows`` rows (1M by default) with pandas, group it and
  merge the groups back, timed inside the run, against CPython doing the same in this process
  (target for jail: <= 1.1). The restricted backend has no pandas: its row shows the refusal.
- Import latency of ``import pandas as pd; print(pd.__version__)`` through the warm pool (p50),
  against a cold interpreter doing the same (target for jail: <= 15 ms, preloaded).
- Latency of ``print(1)`` through the warm pool (p50/p99), a cold ``docker run`` for docker, and
  runs per second from two threads.

Numbers are wall-clock: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.sandbox_report import (  # noqa: E402
    print_data,
    print_humaneval,
    print_imports,
    print_latency,
    print_speed,
)
from benchmarks.sandbox_workloads import (  # noqa: E402
    DATA_WORKLOAD,
    IMPORT_SNIPPET,
    WORKLOADS,
    make_csv,
    parse_timed,
    timed_snippet,
)
from sandbox import Limits, Sandbox, create_sandbox  # noqa: E402
from sandbox.factory import backend_specs  # noqa: E402

DEFAULT_HUMANEVAL = REPO_ROOT.parent / "shared" / "benchmarks" / "HumanEval.jsonl.gz"
ALL_BACKENDS = ("restricted", "jail", "docker")
ALL_SECTIONS = ("humaneval", "speed", "data", "imports", "latency")
LIMITS = Limits(timeout_s=60, memory_mb=1024)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def available_backends(wanted: list[str]) -> tuple[list[str], dict[str, str]]:
    usable, skipped = [], {}
    for name in wanted:
        spec = backend_specs().get(name)
        if spec is None:
            skipped[name] = "unknown backend"
            continue
        try:
            reason = spec.unavailable_reason()
        except Exception as exc:  # the backend's module fails to load
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            skipped[name] = reason
        else:
            usable.append(name)
    return usable, skipped


# ----------------------------------------------------------------------------------- HumanEval


def load_humaneval(path: Path, limit: int | None) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        problems = [json.loads(line) for line in handle if line.strip()]
    return problems[:limit] if limit else problems


def humaneval_program(problem: dict[str, str]) -> str:
    return (
        problem["prompt"]
        + problem["canonical_solution"]
        + "\n"
        + problem["test"]
        + "\n"
        + f"check({problem['entry_point']})\n"
    )


def bench_humaneval(box: Sandbox, problems: list[dict[str, str]]) -> dict[str, Any]:
    times, failures = [], []
    started = time.perf_counter()
    for problem in problems:
        t0 = time.perf_counter()
        result = box.run(humaneval_program(problem))
        times.append((time.perf_counter() - t0) * 1000)
        if not result.ok:
            reason = f"limit {result.limit_hit}" if result.limit_hit else str(result.error)
            failures.append({"task_id": problem["task_id"], "reason": reason[:300]})
    return {
        "passed": len(problems) - len(failures),
        "total": len(problems),
        "total_s": time.perf_counter() - started,
        "mean_ms": statistics.fmean(times) if times else 0.0,
        "p50_ms": percentile(times, 50) if times else 0.0,
        "max_ms": max(times, default=0.0),
        "failures": failures,
    }


# ------------------------------------------------------------------------------- CPU-bound speed


def cpython_exec(code: str) -> tuple[float, float, str]:
    """(inner s, end-to-end s, result) of plain ``exec`` in this process."""
    buffer = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, "<bench>", "exec"), {"__name__": "__main__"})
    end_to_end = time.perf_counter() - t0
    inner, result = parse_timed(buffer.getvalue())
    return inner, end_to_end, result


def sandbox_exec(box: Sandbox, code: str) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    result = box.run(code)
    end_to_end = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"workload failed in {box.name}: {result.error or result.limit_hit}")
    inner, value = parse_timed(result.stdout)
    return inner, end_to_end, value


def bench_speed(boxes: dict[str, Sandbox], repeat: int) -> dict[str, Any]:
    """Best of ``repeat`` for each; the contenders take turns so load drifts hit them alike."""
    table: dict[str, Any] = {}
    for name, body in WORKLOADS.items():
        code = timed_snippet(body)
        runs: dict[str, list[tuple[float, float, str]]] = {"cpython": []}
        errors: dict[str, str] = {}
        for _ in range(repeat):
            runs["cpython"].append(cpython_exec(code))
            for backend, box in boxes.items():
                if backend in errors:
                    continue
                try:
                    runs.setdefault(backend, []).append(sandbox_exec(box, code))
                except RuntimeError as exc:
                    errors[backend] = str(exc)
        inner = min(r[0] for r in runs["cpython"])
        e2e = min(r[1] for r in runs["cpython"])
        expected = runs["cpython"][0][2]
        row: dict[str, Any] = {"cpython": {"inner_ms": inner * 1000, "e2e_ms": e2e * 1000}}
        for backend in boxes:
            if backend in errors:
                row[backend] = {"error": errors[backend]}
                continue
            b_inner = min(r[0] for r in runs[backend])
            b_e2e = min(r[1] for r in runs[backend])
            row[backend] = {
                "inner_ms": b_inner * 1000,
                "e2e_ms": b_e2e * 1000,
                "inner_ratio": b_inner / inner,
                "e2e_ratio": b_e2e / e2e,
                "same_result": all(r[2] == expected for r in runs[backend]),
            }
        table[name] = row
    return table


# ------------------------------------------------------------------------------- data stack


def bench_data(boxes: dict[str, Sandbox], repeat: int, rows: int) -> dict[str, Any]:
    """pandas read_csv + groupby + merge, best of ``repeat``, in CPython and each backend."""
    csv = make_csv(rows)
    code = timed_snippet(DATA_WORKLOAD)
    here = os.getcwd()
    scratch = Path(tempfile.mkdtemp(prefix="bench-data-"))
    (scratch / "data.csv").write_bytes(csv)
    timings: dict[str, list[tuple[float, float, str]]] = {"cpython": []}
    errors: dict[str, str] = {}
    try:
        import pandas  # noqa: F401 - CPython is timed warm, like the preloaded jail

        for _ in range(repeat):
            os.chdir(scratch)
            try:
                timings["cpython"].append(cpython_exec(code))
            finally:
                os.chdir(here)
            for backend, box in boxes.items():
                if backend in errors:
                    continue
                t0 = time.perf_counter()
                result = box.run(code, files={"data.csv": csv})
                if not result.ok:
                    errors[backend] = str(result.error or result.limit_hit)[:200]
                    continue
                inner, value = parse_timed(result.stdout)
                timings.setdefault(backend, []).append((inner, time.perf_counter() - t0, value))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    inner = min(t[0] for t in timings["cpython"])
    row: dict[str, Any] = {"rows": rows, "cpython": {"inner_ms": inner * 1000}}
    for backend in boxes:
        if backend in errors:
            row[backend] = {"error": errors[backend]}
            continue
        b_inner = min(t[0] for t in timings[backend])
        row[backend] = {
            "inner_ms": b_inner * 1000,
            "e2e_ms": min(t[1] for t in timings[backend]) * 1000,
            "inner_ratio": b_inner / inner,
            "same_result": all(t[2] == timings["cpython"][0][2] for t in timings[backend]),
        }
    return row


def bench_imports(boxes: dict[str, Sandbox], runs: int) -> dict[str, Any]:
    """``import pandas`` through each warm pool, and in a cold interpreter for reference."""
    report: dict[str, Any] = {}
    for backend, box in boxes.items():
        first = box.run(IMPORT_SNIPPET)
        if not first.ok:
            report[backend] = {"error": str(first.error)[:200]}
            continue
        report[backend] = latency_of(lambda box=box: box.run(IMPORT_SNIPPET), runs, pause_s=0.02)

    def cold() -> None:
        subprocess.run([sys.executable, "-c", IMPORT_SNIPPET], capture_output=True, check=True)

    report["cold interpreter"] = latency_of(cold, max(3, runs // 10))
    return report


# --------------------------------------------------------------------------------------- latency


def latency_of(call, runs: int, pause_s: float = 0.0) -> dict[str, float]:
    """``pause_s`` between calls lets the pool get ready again (a spare child forked, a container
    refilled), as it is when one user's runs arrive; 0 is back to back, bound by throughput."""
    times = []
    for _ in range(runs):
        if pause_s:
            time.sleep(pause_s)
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": percentile(times, 50),
        "p99_ms": percentile(times, 99),
        "mean_ms": statistics.fmean(times),
        "runs": runs,
    }


def throughput(box: Sandbox, threads: int = 2, seconds: float = 3.0) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def worker(index: int) -> None:
        while time.monotonic() < stop:
            if box.run("print(1)").stdout == "1\n":
                counts[index] += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(worker, range(threads)))
    return sum(counts) / seconds


def docker_cold_run() -> None:
    from sandbox.docker import default_image

    command = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3"]
    completed = subprocess.run(
        [*command, default_image(), "-c", "print(1)"], capture_output=True, text=True, timeout=60
    )
    if completed.stdout != "1\n":
        raise RuntimeError(f"cold docker run failed: {completed.stderr.strip()[-300:]}")


def bench_latency(boxes: dict[str, Sandbox], runs: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for backend, box in boxes.items():
        for _ in range(10):  # warm the pool (first runs pay imports, container starts)
            box.run("print(1)")
        trivial = lambda box=box: box.run("print(1)")  # noqa: E731
        report[f"{backend} warm pool"] = latency_of(trivial, runs, pause_s=0.02)
        report[f"{backend} back to back"] = latency_of(trivial, runs)
        report[f"{backend} back to back"]["runs_per_s_2_threads"] = throughput(box)
        if backend == "docker":
            try:
                report["docker cold (docker run)"] = latency_of(docker_cold_run, max(3, runs // 40))
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                report["docker cold (docker run)"] = {"error": str(exc)}
    return report


# ----------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS), help="comma-separated")
    parser.add_argument("--sections", default=",".join(ALL_SECTIONS), help="comma-separated")
    parser.add_argument("--humaneval", type=Path, default=DEFAULT_HUMANEVAL)
    parser.add_argument("--problems", type=int, default=None, help="only the first N problems")
    parser.add_argument("--repeat", type=int, default=5, help="runs per speed workload (best kept)")
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--csv-rows", type=int, default=1_000_000, help="rows of the pandas CSV")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(ALL_SECTIONS)
    if unknown:
        print(f"unknown sections: {sorted(unknown)}; choose from {ALL_SECTIONS}", file=sys.stderr)
        return 2
    backends, skipped = available_backends([b for b in args.backends.split(",") if b])
    for name, reason in skipped.items():
        print(f"[skipping {name}: {reason}]")
    if not backends:
        print("no usable backend", file=sys.stderr)
        return 1
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "backends": backends,
        "skipped": skipped,
    }
    print(
        f"# Sandbox benchmarks: {', '.join(backends)} (CPython {results['machine']['python']}, "
        f"{results['machine']['cpus']} CPUs)"
    )
    boxes: dict[str, Sandbox] = {}
    try:
        for backend in list(backends):
            t0 = time.perf_counter()
            try:
                boxes[backend] = create_sandbox(backend, limits=LIMITS)
            except Exception as exc:  # report and go on with the others
                skipped[backend] = f"failed to start: {type(exc).__name__}: {str(exc)[-300:]}"
                backends.remove(backend)
                print(f"[skipping {backend}: {skipped[backend]}]")
                continue
            boxes[backend].run("print(1)")
            results.setdefault("startup_s", {})[backend] = time.perf_counter() - t0
        if "humaneval" in sections:
            problems = load_humaneval(args.humaneval, args.problems)
            results["humaneval"] = {b: bench_humaneval(box, problems) for b, box in boxes.items()}
            print_humaneval(results["humaneval"])
        if "speed" in sections:
            results["speed"] = bench_speed(boxes, args.repeat)
            print_speed(results["speed"], backends)
        if "data" in sections:
            results["data"] = bench_data(boxes, max(2, args.repeat // 2), args.csv_rows)
            print_data(results["data"], backends)
        if "imports" in sections:
            results["imports"] = bench_imports(boxes, max(20, args.latency_runs // 4))
            print_imports(results["imports"])
        if "latency" in sections:
            results["latency"] = bench_latency(boxes, args.latency_runs)
            print_latency(results["latency"])
    finally:
        for box in boxes.values():
            box.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
