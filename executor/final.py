"""The final phase: the result a run hands back, and the event that closes its trace.

The accepted attempt's output is the result; without one, the best attempt stands in (how far
it got, then fewer failed checks) so a failed run still shows its most useful code and output.
``timings`` splits the wall time into model calls, sandbox work (and waiting for the sandbox
started in the background), tool calls and the loop's own overhead.
"""

from __future__ import annotations

import time

from executor import iterate
from executor.prompts import clip
from executor.results import Attempt, ExecutionResult
from executor.run_context import RunContext


def finish(
    ctx: RunContext, result: ExecutionResult, attempts: list[Attempt], started: float
) -> None:
    """Assemble the result: the accepted attempt, else the best one; errors; where time went."""
    result.iterations = attempts
    result.total_attempts = len(attempts)
    chosen = attempts[-1] if result.success and attempts else iterate.best_attempt(attempts)
    if chosen is not None:
        result.best_attempt = chosen.number
        result.code = chosen.code
        result.final_output = chosen.stdout
        result.images = [*ctx.tool_images, *chosen.images]
        result.artifacts = dict(chosen.files)
        result.tables = list(chosen.tables)
        result.explanation = chosen.explanation if chosen.code else ""
    else:
        result.images = list(ctx.tool_images)
    result.errors = [
        *[iterate.failure_line(a) for a in attempts if a.failure],
        *ctx.notes,
        *result.errors,
    ]
    result.usage = ctx.usage
    result.total_duration_ms = (time.perf_counter() - started) * 1000
    timings = ctx.timings
    result.timings = {
        "model_ms": round(timings.model_ms, 3),
        "sandbox_ms": round(timings.sandbox_ms, 3),
        "preflight_ms": round(timings.preflight_ms, 3),
        "store_ms": round(timings.store_ms, 3),
        "sandbox_start_ms": round(timings.sandbox_start_ms, 3),
        "tools_ms": round(timings.tools_ms, 3),
        "loop_ms": round(
            result.total_duration_ms
            - timings.model_ms
            - timings.sandbox_ms
            - timings.preflight_ms
            - timings.sandbox_start_ms
            - timings.tools_ms,
            3,
        ),
    }
    status = "success" if result.success else "cancelled" if result.cancelled else "failed"
    ctx.emit(
        "final",
        "result",
        status,
        attempt=result.total_attempts,
        duration_ms=result.total_duration_ms,
        tokens=result.usage.total_tokens,
        payload={
            "success": result.success,
            "final_output": clip(result.final_output, 20000),
            "explanation": result.explanation,
            "code": result.code,
            "stop_reason": result.stop_reason,
            "errors": result.errors,
            "total_attempts": result.total_attempts,
            "best_attempt": result.best_attempt,
            "images": len(result.images),
            "artifacts": sorted(result.artifacts),
            "tables": len(result.tables),
            "usage": result.usage.to_dict(),
            "timings": result.timings,
        },
        message=result.stop_reason,
    )
