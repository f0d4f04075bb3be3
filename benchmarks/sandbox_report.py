"""How bench_sandbox.py prints its tables (every backend side by side)."""

from __future__ import annotations

from typing import Any


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_humaneval(results: dict[str, Any]) -> None:
    print("\n## HumanEval compatibility (prompt + canonical_solution + test + check)\n")
    print(
        f"{'backend':<12} {'passed':>9} {'total s':>8} {'mean ms':>8} {'p50 ms':>7} {'max ms':>7}"
    )
    for backend, r in results.items():
        print(
            f"{backend:<12} {r['passed']:>4}/{r['total']:<4} {r['total_s']:>8.1f} "
            f"{r['mean_ms']:>8.1f} {r['p50_ms']:>7.1f} {r['max_ms']:>7.1f}"
        )
    for backend, r in results.items():
        for failure in r["failures"]:
            print(f"  {backend} FAIL {failure['task_id']}: {failure['reason']}")


def print_speed(table: dict[str, Any], backends: list[str]) -> None:
    print("\n## CPU-bound speed vs CPython exec (best of runs; ratio = backend / CPython)\n")
    head = f"{'workload':<18} {'cpython ms':>10}"
    for backend in backends:
        head += f" {backend + ' ms':>14} {'ratio':>6} {'e2e ms':>8} {'e2e ratio':>9}"
    print(head)
    for name, row in table.items():
        line = f"{name:<18} {row['cpython']['inner_ms']:>10.1f}"
        for backend in backends:
            cell = row.get(backend, {})
            if "error" in cell:
                line += f" {'error':>14} {'':>6} {'':>8} {'':>9}"
                continue
            mark = "" if cell.get("same_result", True) else "!"
            line += (
                f" {fmt(cell.get('inner_ms')):>14} {fmt(cell.get('inner_ratio'), '.2f') + mark:>6}"
                f" {fmt(cell.get('e2e_ms')):>8} {fmt(cell.get('e2e_ratio'), '.2f'):>9}"
            )
        print(line)
    for name, row in table.items():
        for backend in backends:
            if "error" in row.get(backend, {}):
                print(f"  {backend} {name}: {row[backend]['error']}")


def print_data(row: dict[str, Any], backends: list[str]) -> None:
    print(f"\n## pandas: read_csv ({row['rows']:,} rows) + groupby + merge (best of runs)\n")
    print(f"{'runner':<12} {'inner ms':>9} {'ratio':>6} {'e2e ms':>8}")
    print(f"{'cpython':<12} {row['cpython']['inner_ms']:>9.1f} {'1.00':>6} {'-':>8}")
    for backend in backends:
        cell = row.get(backend, {})
        if "error" in cell:
            print(f"{backend:<12} error: {cell['error']}")
            continue
        mark = "" if cell.get("same_result", True) else "!"
        print(
            f"{backend:<12} {cell['inner_ms']:>9.1f} {fmt(cell['inner_ratio'], '.2f') + mark:>6}"
            f" {cell['e2e_ms']:>8.1f}"
        )


def print_imports(report: dict[str, Any]) -> None:
    print("\n## import pandas as pd; print(pd.__version__)\n")
    print(f"{'runner':<18} {'p50 ms':>7} {'p99 ms':>7} {'runs':>5}")
    for mode, r in report.items():
        if "error" in r:
            print(f"{mode:<18} error: {r['error']}")
            continue
        print(f"{mode:<18} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['runs']:>5}")


def print_latency(report: dict[str, Any]) -> None:
    print("\n## Trivial snippet latency: print(1)\n")
    print(
        f"{'mode':<26} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'runs':>5} {'runs/s (2 threads)':>19}"
    )
    for mode, r in report.items():
        if "error" in r:
            print(f"{mode:<26} error: {r['error']}")
            continue
        print(
            f"{mode:<26} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['mean_ms']:>8.1f} {r['runs']:>5}"
            f" {fmt(r.get('runs_per_s_2_threads')):>19}"
        )
