"""How a run stops early: its deadline setting, and the cancels and errors that end it.

Each way of stopping becomes the same thing -- a ``stop_reason``, a line in ``errors`` and one
trace event in the phase it hit -- so the result of a stopped run reads like any other and
keeps the best attempt made so far.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from executor.mistral import MistralError
from executor.results import ExecutionResult
from executor.review import REVIEW_ERROR, REVIEW_TIMEOUT, ReviewError, ReviewTimeout
from executor.run_context import RUN_DEADLINE, Cancelled, RunContext
from mistral_executor.settings import Settings, get_settings
from sandbox import SandboxError

RUN_TIMEOUT_ENV = "MISTRAL_EXECUTOR_RUN_TIMEOUT_S"
DEFAULT_RUN_TIMEOUT_S = 600.0


class ConfigurationError(Exception):
    """The executor's settings cannot work (reported in the result, not raised)."""


# What ends a run with a result rather than an exception.
STOPS = (Cancelled, MistralError, ConfigurationError, SandboxError, ReviewTimeout, ReviewError)


def resolve_run_timeout(value: float | None, environ: Mapping[str, str] | None = None) -> float:
    """A run's deadline in seconds: ``value``, else the ``MISTRAL_EXECUTOR_RUN_TIMEOUT_S``
    setting (read from ``environ`` when given), else 600. Raises ValueError naming the setting
    when it is not a positive number."""
    source = "run_timeout_s"
    if value is None:
        settings = get_settings() if environ is None else Settings.from_env(environ)
        return float(settings.run_timeout_s)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{source} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{source} must be a positive number of seconds, not {value!r}")
    return float(value)


def record_stop(
    ctx: RunContext,
    result: ExecutionResult,
    exc: BaseException,
    phase: str,
    attempt: int,
    run_timeout_s: float,
) -> None:
    """Write why the run stopped into ``result`` and the trace (``exc`` is one of ``STOPS``)."""
    if isinstance(exc, Cancelled) and exc.reason == RUN_DEADLINE:
        message = f"the run passed its deadline of {run_timeout_s:g} s"
        result.stop_reason = RUN_DEADLINE
        result.errors.append(message)
        payload = {"run_timeout_s": run_timeout_s}
        ctx.emit(phase, "deadline", "error", attempt=attempt, payload=payload, message=message)
    elif isinstance(exc, ReviewTimeout):
        result.stop_reason = REVIEW_TIMEOUT
        result.errors.append(str(exc))
        payload = {"review_timeout_s": exc.timeout_s}
        ctx.emit("mechanic", "review", "error", attempt=attempt, payload=payload, message=str(exc))
    elif isinstance(exc, ReviewError):
        result.stop_reason = REVIEW_ERROR
        result.errors.append(str(exc))
        payload = {"error": str(exc)}
        ctx.emit("mechanic", "review", "error", attempt=attempt, payload=payload, message=str(exc))
    elif isinstance(exc, Cancelled):
        result.cancelled = True
        result.stop_reason = "cancelled"
        result.errors.append("the run was cancelled")
        ctx.emit(phase, "cancelled", "cancelled", attempt=attempt, message="cancelled")
    elif isinstance(exc, MistralError):
        result.stop_reason = "model error"
        result.errors.append(f"model error during {phase}: {exc}")
        payload = {"error": str(exc), "type": type(exc).__name__}
        ctx.emit(phase, "model_error", "error", attempt=attempt, payload=payload, message=str(exc))
    elif isinstance(exc, ConfigurationError):
        result.stop_reason = "configuration error"
        result.errors.append(str(exc))
        ctx.emit(phase, "config_error", "error", payload={"error": str(exc)}, message=str(exc))
    else:
        result.stop_reason = "sandbox error"
        result.errors.append(f"sandbox error: {exc}")
        ctx.emit(phase, "sandbox_error", "error", payload={"error": str(exc)}, message=str(exc))
