"""What the input files hold, found out inside the sandbox and told to the Scout and Mechanic.

The host never parses a user's file: a profiling program (``executor/sandboxside/probe_*``)
runs in the run's own sandbox with the files in its work dir and prints one JSON report. On a
backend with real CPython the rich probe uses pandas/openpyxl/pyarrow/a PDF reader when they
are there; where the sandbox refuses it (the restricted backend), the basic probe reads bytes
with numpy and parses CSV and JSON itself. A file the probe cannot read is reported as such in
the trace's ``profile`` step and the run goes on with the others.
"""

from __future__ import annotations

import json
import time
from typing import Any

from executor.datafiles import human_size
from executor.run_context import Cancelled, RunContext
from executor.sandboxside import source

PROFILE_MARK = "@@mistral-executor-profile@@"
MAX_PROMPT_CHARS = 12000


def probe_program(names_sizes: list[tuple[str, int]], rich: bool) -> str:
    body = source("probe_basic") + ("\n" + source("probe_rich") if rich else "")
    return (
        body
        + f"\nMX_FILES = {names_sizes!r}\n"
        + "print(MX_MARK + json.dumps(mx_profile_all(MX_FILES), default=str))\n"
    )


def parse_report(stdout: str) -> list[dict[str, Any]] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(PROFILE_MARK):
            try:
                data = json.loads(line[len(PROFILE_MARK) :])
            except ValueError:
                return None
            return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else None
    return None


def profile_inputs(ctx: RunContext) -> list[dict[str, Any]]:
    """Profile ``ctx.input_files`` in the sandbox; emits the trace's ``scout/profile`` step.
    Never raises for a file or sandbox problem (the step says what went wrong); a cancel does."""
    files = ctx.input_files
    if not files:
        return []
    started = time.perf_counter()
    ctx.emit("scout", "profile", "started", message=f"profiling {len(files)} file(s)")
    names_sizes = [(name, len(data)) for name, data in files.items()]
    profiles: list[dict[str, Any]] = []
    problem = ""
    try:
        rich = probe_program(names_sizes, rich=True)
        program = rich if ctx.preflight(rich) is None else probe_program(names_sizes, rich=False)
        result = ctx.run_code(program, files=files)
        parsed = parse_report(result.stdout)
        if parsed is None:
            problem = (
                f"the profiler did not finish: {result.error or result.limit_hit or 'no report'}"
            )
        else:
            profiles = parsed
    except Cancelled:
        raise
    except Exception as exc:  # a sandbox that cannot start: the run says so when it runs code
        problem = f"the profiler could not run: {type(exc).__name__}: {exc}"
    if not profiles:
        profiles = [
            {"name": n, "size": s, "type": "unknown", "problem": problem} for n, s in names_sizes
        ]
    ctx.input_profiles = profiles
    unreadable = [p for p in profiles if p.get("problem")]
    message = f"{len(profiles)} file(s) profiled"
    if unreadable:
        message += "; unreadable: " + ", ".join(
            f"{p['name']} ({p['problem']})" for p in unreadable[:3]
        )
    ctx.emit(
        "scout",
        "profile",
        "failed" if len(unreadable) == len(profiles) else "ok",
        duration_ms=(time.perf_counter() - started) * 1000,
        payload={"files": profiles, "text": profile_text(profiles)},
        message=message,
    )
    return profiles


def describe(profile: dict[str, Any]) -> str:
    """One file's profile as prompt text."""
    name = profile.get("name", "?")
    lines = [
        f"- {name!r} ({human_size(int(profile.get('size', 0)))}, type {profile.get('type', '?')})"
    ]
    if profile.get("problem"):
        lines.append(f"  UNREADABLE: {profile['problem']}")
        return "\n".join(lines)
    columns = profile.get("columns")
    if columns:
        dtypes = profile.get("dtypes") or []
        typed = [f"{c} ({dtypes[i]})" if i < len(dtypes) else str(c) for i, c in enumerate(columns)]
        total = profile.get("total_columns", len(columns))
        more = f" (+{total - len(columns)} more)" if total > len(columns) else ""
        lines.append(f"  columns ({total}): " + ", ".join(typed) + more)
    if "rows" in profile:
        lines.append(f"  rows: {profile['rows']}")
    if profile.get("delimiter") and profile["delimiter"] != ",":
        lines.append(f"  delimiter: {profile['delimiter']!r}")
    if profile.get("sheets"):
        lines.append("  sheets: " + ", ".join(map(str, profile["sheets"])))
    if profile.get("keys"):
        lines.append("  top-level keys: " + ", ".join(map(str, profile["keys"][:40])))
    if profile.get("pages"):
        lines.append(f"  pages: {profile['pages']}")
    head = profile.get("head")
    if head and columns:
        lines.append("  first rows:")
        lines += ["    " + " | ".join("" if v is None else str(v) for v in row) for row in head]
    if profile.get("excerpt"):
        excerpt = str(profile["excerpt"]).replace("\n", "\n    ")
        lines.append(f"  excerpt:\n    {excerpt}")
    if profile.get("note"):
        lines.append(f"  note: {profile['note']}")
    return "\n".join(lines)


def profile_text(profiles: list[dict[str, Any]]) -> str:
    """The prompt section about the input files (empty without files)."""
    if not profiles:
        return ""
    text = (
        "Input files (in the program's current working directory; open them by these exact "
        "names):\n"
        + "\n".join(describe(p) for p in profiles)
        + "\nFiles the program writes in its working directory are handed to the user; "
        "display(df) shows a DataFrame or Series to the user as a table."
    )
    if len(text) > MAX_PROMPT_CHARS:
        text = text[: MAX_PROMPT_CHARS - 20] + "\n... (clipped)"
    return text


def with_profile(context: str, profiles: list[dict[str, Any]]) -> str:
    """The task's context with the files' profile added (unchanged without files)."""
    text = profile_text(profiles)
    if not text:
        return context
    return f"{context}\n\n{text}" if context.strip() else text


def repair_note(ctx: RunContext, attempt: Any) -> str:
    """For a failed attempt of a run with tabular inputs: the files' real columns, so a wrong
    column name (a KeyError) is fixed against what the data holds, not guessed again."""
    profiles = getattr(ctx, "input_profiles", None) or []
    failure = getattr(attempt, "failure", None)
    if failure is None or failure.kind not in ("runtime", "failed_check", "incomplete"):
        return ""
    tabular = [p for p in profiles if p.get("columns") and not p.get("problem")]
    if not tabular:
        return ""
    lines = ["", "The input files' actual columns (exact names, from the profile):"]
    for p in tabular:
        lines.append(f"- {p['name']}: " + ", ".join(repr(str(c)) for c in p["columns"]))
    return "\n".join(lines) + "\n"
