"""The Inspector: runs the program, runs the Scout's checks against it, asks for a verdict.

Three gates, cheapest first: the run itself (an error or a limit ends it), the checks (plain
assertions executed in the program's own sandbox session, so they see its variables and its
printed output as ``program_output``), and the model's verdict against the success criteria,
which catches what no assertion anticipated ("printed the list but not the sum"). The verdict
costs a model call, so it is skipped when the checks alone decide: they all passed, the Scout
said they prove every success criterion, they read the printed output, and there is no figure
for them to miss.
"""

from __future__ import annotations

import ast
import time
from typing import Any

from executor import datafiles, prompts, tables
from executor.mistral import image_chunk
from executor.results import Attempt, CheckResult, Plan, Verdict
from executor.run_context import RunContext
from executor.throttle import PARTIAL_INTERVAL_S, Throttle

CHECK_MARKER = "@@mistral-executor-checks@@"
MAX_IMAGES_FOR_VERDICT = 2
MAX_LIVE_CHARS = 20000  # as in the step's final event


class LiveStdout:
    """The program's output as it runs, as throttled "partial" events of the running inspector
    step (``payload["stdout"]``: everything printed so far, clipped like the final event's).

    ``on_output`` is the sandbox's callback (``Sandbox.run(on_output=...)``); ``Throttle`` sends
    at most one event per ``interval_s`` and the rest when the interval is over, so a program
    that prints and then computes for a while still shows what it printed."""

    def __init__(self, ctx: RunContext, attempt: int, interval_s: float = PARTIAL_INTERVAL_S):
        self.ctx = ctx
        self.attempt = attempt
        self._parts: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._throttle = Throttle(self._emit, interval_s)

    def close(self) -> None:
        """The step is over: nothing partial is sent after this."""
        self._throttle.close()

    def on_output(self, stream: str, text: str) -> None:
        with self._throttle.lock:
            if self._throttle.closed or stream not in self._parts:
                return
            self._parts[stream].append(text)
            self._throttle.changed()

    def _emit(self) -> bool:
        stdout = "".join(self._parts["stdout"])
        self._parts["stdout"] = [stdout]
        shown, _tables = tables.take_tables(stdout)  # table markers as the final event has them
        payload = {"stdout": prompts.clip(shown, MAX_LIVE_CHARS)}
        if self._parts["stderr"]:
            payload["stderr"] = prompts.clip("".join(self._parts["stderr"]), MAX_LIVE_CHARS)
        lines = stdout.count("\n")
        self.ctx.emit_partial(
            "inspector",
            "run",
            attempt=self.attempt,
            payload=payload,
            message=f"running ({lines} line{'s' if lines != 1 else ''} printed so far)",
        )
        return True


def checks_program(checks: list[str], program_output: str) -> str:
    """One program that runs every check in its own try block and prints a JSON report."""
    lines = [f"program_output = {program_output!r}", "mx_check_report = []"]
    for check in checks:
        body = "\n".join("    " + line for line in check.splitlines()) or "    pass"
        lines += [
            "try:",
            body,
            "    mx_check_report.append([True, ''])",
            "except AssertionError as mx_check_error:",
            "    mx_check_report.append([False, 'assertion failed' + "
            "((': ' + str(mx_check_error)) if str(mx_check_error) else '')])",
            "except Exception as mx_check_error:",
            "    mx_check_report.append([False, repr(mx_check_error)])",
        ]
    # repr, not json: an import would make the restricted sandbox load every allowed module
    # in a session that did not need any (sandbox.runtime.warmup); the host reads it with
    # ast.literal_eval.
    lines += [f"print({CHECK_MARKER!r} + repr(mx_check_report))"]
    return "\n".join(lines) + "\n"


def parse_check_report(checks: list[str], stdout: str, fallback: str) -> list[CheckResult]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(CHECK_MARKER):
            report = _literal(line[len(CHECK_MARKER) :])
            if (
                isinstance(report, list)
                and len(report) == len(checks)
                and all(isinstance(item, list) and len(item) == 2 for item in report)
            ):
                return [
                    CheckResult(check=c, passed=bool(ok), message=str(msg))
                    for c, (ok, msg) in zip(checks, report, strict=True)
                ]
            break
    return [CheckResult(check=c, passed=False, message=fallback) for c in checks]


def _literal(text: str) -> Any:
    """The report the checks program printed (a Python literal), or None for anything else:
    it is the sandbox's output, so nothing in it is evaluated."""
    if len(text) > 1_000_000:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def checks_decide(plan: Plan, attempt: Attempt) -> bool:
    """Whether the checks' outcome is the whole answer (no verdict call): every check passed,
    the Scout said they prove all the success criteria, at least one of them reads what the
    program printed (the criteria are about its output), and no figure needs a look."""
    return (
        plan.checks_cover_criteria
        and any("program_output" in check for check in plan.checks)
        and len(attempt.checks) == len(plan.checks)
        and all(c.passed for c in attempt.checks)
        and not attempt.images
    )


class Inspector:
    def inspect(
        self,
        ctx: RunContext,
        attempt: Attempt,
        *,
        task: str,
        plan: Plan,
        validate_output: bool,
    ) -> None:
        """Fill the attempt with what running and checking it showed."""
        session_id = f"{ctx.run_id}-{attempt.number}"
        try:
            self._run(ctx, attempt, session_id)
            if not validate_output or attempt.error is not None or attempt.limit_hit:
                return
            if plan.checks:
                self._check(ctx, attempt, plan.checks, session_id)
                if not all(c.passed for c in attempt.checks):
                    return
        finally:
            ctx.close_session(session_id)
        if checks_decide(plan, attempt):
            reason = (
                f"not needed: all {len(attempt.checks)} checks passed and they prove the "
                "success criteria"
            )
            ctx.emit(
                "inspector",
                "verdict",
                "skipped",
                attempt=attempt.number,
                payload={"complete": True, "reason": reason, "decided_by": "checks"},
                message=reason,
            )
            return
        self._judge(ctx, attempt, task, plan)

    def _run(self, ctx: RunContext, attempt: Attempt, session_id: str) -> None:
        n = attempt.number
        code = attempt.code
        if tables.needs_helper(code) and tables.prepare_session(ctx, session_id):
            code = tables.show_last_expression(code)
        ctx.emit("inspector", "run", "started", attempt=n, message="running the code")
        # Someone watches the run live (``Executor.stream(..., partial=True)``): stream what the
        # program prints into its step while it runs.
        live = LiveStdout(ctx, n) if ctx.live else None
        try:
            result = ctx.run_code(
                code,
                session_id=session_id,
                on_output=live.on_output if live is not None else None,
            )
        finally:
            if live is not None:
                live.close()
        result.stdout, attempt.tables = tables.take_tables(result.stdout)
        result.files = datafiles.outputs_of(result.files, ctx.input_files)
        attempt.stdout = result.stdout
        attempt.stderr = result.stderr
        attempt.error = result.error
        attempt.limit_hit = result.limit_hit
        attempt.images = list(result.images)
        attempt.files = dict(result.files)
        attempt.run_ms = result.duration_ms
        failed = result.error is not None or result.limit_hit is not None or not result.ok
        if result.limit_hit:
            message = f"limit hit: {result.limit_hit}"
        elif result.error is not None:
            message = str(result.error)
        else:
            message = f"ran in {result.duration_ms:.0f} ms"
        wire = result.to_dict()
        ctx.emit(
            "inspector",
            "run",
            "failed" if failed else "ok",
            attempt=n,
            duration_ms=result.duration_ms,
            payload={
                "stdout": prompts.clip(result.stdout, 20000),
                "stderr": prompts.clip(result.stderr, 5000),
                "error": wire["error"],
                "limit_hit": result.limit_hit,
                "images": wire["images"],
                "files": sorted(result.files),
                "tables": attempt.tables,
                "backend": result.backend,
            },
            message=message,
        )

    def _check(self, ctx: RunContext, attempt: Attempt, checks: list[str], session_id: str) -> None:
        started = time.perf_counter()
        result = ctx.run_code(checks_program(checks, attempt.stdout), session_id=session_id)
        if result.limit_hit:
            fallback = f"the checks hit the {result.limit_hit} limit"
        elif result.error is not None:
            fallback = f"the checks could not run: {result.error}"
        else:
            fallback = "the checks printed no report"
        attempt.checks = parse_check_report(checks, result.stdout, fallback)
        passed = sum(1 for c in attempt.checks if c.passed)
        ctx.emit(
            "inspector",
            "checks",
            "ok" if passed == len(checks) else "failed",
            attempt=attempt.number,
            duration_ms=(time.perf_counter() - started) * 1000,
            payload={"checks": [vars(c) for c in attempt.checks]},
            message=f"{passed}/{len(checks)} checks passed",
        )

    def _judge(self, ctx: RunContext, attempt: Attempt, task: str, plan: Plan) -> None:
        started = time.perf_counter()
        text = prompts.verdict_user_prompt(plan, task, attempt)
        images = attempt.images[:MAX_IMAGES_FOR_VERDICT]
        content: Any = text
        if images:
            content = [{"type": "text", "text": text}, *(image_chunk(png) for png in images)]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.VERDICT_SYSTEM},
            {"role": "user", "content": content},
        ]
        got = ctx.chat_json(
            "inspector",
            messages,
            role="vision" if images else "planner",
            schema=prompts.VERDICT_SCHEMA,
            schema_name="verdict",
            field_types={"complete": bool, "reason": str},
        )
        verdict: Verdict | None = None
        if got.value is not None and "complete" in got.value:
            verdict = Verdict(
                complete=bool(got.value["complete"]),
                reason=str(got.value.get("reason", "")).strip(),
            )
        if verdict is None:
            # The program ran and passed its checks; an unreadable verdict must not sink it.
            note = f"inspector: the verdict was not valid JSON twice ({got.error}); accepted on the checks"
            ctx.notes.append(note)
            verdict = Verdict(complete=True, reason="verdict unavailable; accepted on the checks")
        attempt.verdict = verdict
        ctx.emit(
            "inspector",
            "verdict",
            "ok" if verdict.complete else "failed",
            attempt=attempt.number,
            duration_ms=(time.perf_counter() - started) * 1000,
            tokens=got.tokens,
            payload={"complete": verdict.complete, "reason": verdict.reason},
            message=("complete" if verdict.complete else "not complete")
            + (f": {verdict.reason}" if verdict.reason else ""),
        )
