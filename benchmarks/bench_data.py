"""Data files end to end: what a 100 MB CSV costs before the first model call, and whether it
can be loaded, grouped and summarised inside the default sandbox limits.

    .venv/bin/python benchmarks/bench_data.py [--rows 1150000] [--backends restricted,docker,jail]
                                              [--runs 3] [--json PATH]

Sections, per backend that is usable on the machine (the others are reported and skipped):

- ``overhead``: ``Executor.execute(task, files=[csv])`` against the fake Mistral server of
  ``tests/fake_mistral`` (answering at once); the time from the call to the first model request
  the server receives, with the file and without it, side by side. The difference is what the
  file costs the user before any model works: reading and checking it on the host, handing it to
  the sandbox and profiling it there. Median of ``--runs``.
- ``analysis``: one program run in the sandbox with the default ``Limits()`` (10 s, 512 MB):
  load the CSV, group by a column and summarise (pandas when the backend has it, numpy
  otherwise); wall time, and whether it finished or which limit it hit.

Numbers are wall-clock on a shared machine: take them on an otherwise idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = ["north", "south", "east", "west", "centre"]
PRODUCTS = ["apples", "pears", "plums", "cherries", "grapes", "melons", "kiwis", "figs"]

PANDAS_PROGRAM = """\
import pandas as pd
df = pd.read_csv("sales.csv")
summary = df.groupby("region").agg(rows=("units", "size"), units=("units", "sum"),
                                   revenue=("revenue", "sum"), mean_price=("price", "mean"))
print(len(df))
print(summary.round(2).to_string())
"""

NUMPY_PROGRAM = """\
import numpy as np
data = np.genfromtxt("sales.csv", delimiter=",", names=True, dtype=None, encoding="utf-8",
                     usecols=(1, 4, 6))
for region in np.unique(data["region"]):
    rows = data[data["region"] == region]
    print(region, len(rows), int(rows["units"].sum()), round(float(rows["revenue"].sum()), 2))
"""


def make_csv(path: Path, rows: int) -> None:
    """About 100 bytes a row: ~1M rows is ~100 MB."""
    import random

    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        out.write("order_id,region,product,date,units,price,revenue,customer_note\n")
        for i in range(rows):
            units = rng.randint(1, 40)
            price = round(rng.uniform(0.5, 20.0), 2)
            out.write(
                f"{i},{rng.choice(REGIONS)},{rng.choice(PRODUCTS)},2024-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d},{units},{price},{units * price:.2f},"
                f"customer {rng.randint(1000, 99999)} order ref {rng.randint(10**7, 10**8)} "
                f"batch {rng.randint(10**5, 10**6)}\n"
            )


def usable(backend: str) -> str | None:
    """None when the backend can run here, else why not."""
    from sandbox import create_sandbox

    try:
        with create_sandbox(backend) as box:
            result = box.run("print(1)")
            return None if result.ok else f"print(1) failed: {result.error}"
    except Exception as exc:  # noqa: BLE001 - reported, the backend is skipped
        return f"{type(exc).__name__}: {exc}"


def overhead(backend: str, csv: Path, runs: int) -> dict[str, float]:
    """Median seconds from execute() to the first model request, with and without the file."""
    from executor import Executor
    from mistral_executor.settings import reset_settings
    from tests.fake_mistral import FakeMistral, reply

    answer = {
        "needs_code": False,
        "answer": "fine",
        "summary": "",
        "steps": [],
        "edge_cases": [],
        "success_criteria": [],
        "checks": [],
        "checks_cover_criteria": False,
        "observations": "",
    }
    figures: dict[str, list[float]] = {"with file": [], "without": []}
    with FakeMistral() as fake:
        fake.on_chat(lambda request: reply(json=answer))
        os.environ["MISTRAL_SERVER_URL"] = fake.url
        os.environ["MISTRAL_API_KEY"] = "bench-key"
        reset_settings()  # read once per process: this fake server's URL, not the last one's
        with Executor(sandbox=backend, store=False, max_retries=0) as executor:
            executor.sandbox  # noqa: B018 - started before timing: a warm sandbox, as in the app
            executor.execute("warm up")  # first-call costs (imports, connections) not counted
            for _ in range(runs):
                for label, files in (("without", None), ("with file", [csv])):
                    before = len(fake.chat_requests)
                    started = time.monotonic()
                    executor.execute("summarise the file", files=files)
                    first = fake.chat_requests[before].received_at
                    figures[label].append(first - started)
    return {label: statistics.median(values) for label, values in figures.items()}


def analysis(backend: str, csv: Path) -> dict[str, object]:
    from sandbox import Limits, create_sandbox

    data = csv.read_bytes()
    with create_sandbox(backend, limits=Limits()) as box:
        has_pandas = box.preflight("import pandas") is None and box.run("import pandas").ok
        program = PANDAS_PROGRAM if has_pandas else NUMPY_PROGRAM
        started = time.perf_counter()
        result = box.run(program, files={"sales.csv": data})
        seconds = time.perf_counter() - started
    return {
        "library": "pandas" if has_pandas else "numpy",
        "seconds": round(seconds, 2),
        "ok": result.ok,
        "limit_hit": result.limit_hit,
        "error": str(result.error) if result.error else "",
        "output": result.stdout[-600:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_150_000)  # ~100 MB
    parser.add_argument("--backends", default="restricted,docker,jail")
    parser.add_argument("--sections", default="overhead,analysis")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("MISTRAL_EXECUTOR_HOME", tempfile.mkdtemp(prefix="bench-data-"))
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "sales.csv"
        started = time.perf_counter()
        make_csv(csv, args.rows)
        size_mb = csv.stat().st_size / 1024 / 1024
        print(
            f"sales.csv: {args.rows:,} rows, {size_mb:.1f} MB "
            f"(made in {time.perf_counter() - started:.1f} s)"
        )
        report["csv"] = {"rows": args.rows, "mb": round(size_mb, 1)}
        sections = args.sections.split(",")
        for backend in args.backends.split(","):
            why = usable(backend)
            if why is not None:
                print(f"\n{backend}: skipped ({why})")
                report[backend] = {"skipped": why}
                continue
            entry: dict[str, object] = {}
            print(f"\n{backend}")
            if "overhead" in sections:
                figures = overhead(backend, csv, args.runs)
                extra = figures["with file"] - figures["without"]
                print(
                    f"  first model call after: {figures['without']:.2f} s without the file, "
                    f"{figures['with file']:.2f} s with it (+{extra:.2f} s: read, hand-off, "
                    "profiling)"
                )
                entry["overhead"] = {k: round(v, 3) for k, v in figures.items()}
            if "analysis" in sections:
                outcome = analysis(backend, csv)
                state = "ok" if outcome["ok"] else (outcome["limit_hit"] or outcome["error"])
                print(
                    f"  load + group + summarise ({outcome['library']}), default limits: "
                    f"{outcome['seconds']} s, {state}"
                )
                entry["analysis"] = outcome
            report[backend] = entry
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
