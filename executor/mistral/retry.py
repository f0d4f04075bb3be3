"""Retries with backoff and a circuit breaker around every model call.

Why not the SDK's ``RetryConfig``: it bounds retries by elapsed time rather than count, adds up to a
second of jitter even when the server says ``Retry-After: 0``, does not retry dropped connections
(``RemoteProtocolError`` is not a "network" error to it), and hides individual attempts, which the
circuit breaker needs to see. So the SDK is built with retries off and this loop owns them.

The time rule: one call -- its attempts and the waits between them -- shares one budget, by
default the request timeout. Each attempt gets what remains of the budget as its own timeout, a
wait (backoff or ``Retry-After``) that would leave less than ``MIN_ATTEMPT_S`` for the next
attempt ends the call instead, so a silent server fails after about one timeout however many
retries are allowed, not after ``(max_retries + 1) * timeout``. Quick failures (a 503, a dropped
connection) still get their retries: they use little of the budget.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from executor.mistral.errors import CircuitOpenError, MistralError, RateLimitError

T = TypeVar("T")

#: The least time worth starting another attempt with (capped at a tenth of the budget).
MIN_ATTEMPT_S = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    #: Longer Retry-After values are not slept through; the error is raised with the hint instead.
    max_retry_after_s: float = 60.0

    def delay_for(self, attempt: int, error: MistralError) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based), or None to give up now."""
        if error.retry_after_s is not None:
            if error.retry_after_s > self.max_retry_after_s:
                return None
            return error.retry_after_s
        backoff = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return backoff * random.uniform(0.5, 1.0)  # jitter: spread out clients retrying together


class CircuitBreaker:
    """Fails fast after ``threshold`` consecutive failed attempts, for ``cooldown_s`` seconds.

    After the cool-down one trial call is let through (half-open): success closes the circuit,
    failure opens it for another cool-down. This keeps a dead or overloaded server from being
    hammered by every step of an agent loop, and turns minutes of timeouts into an instant error.
    """

    def __init__(
        self,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if threshold < 1:
            raise ValueError("threshold must be >= 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._clock() - self._opened_at >= self.cooldown_s:
                return "half-open"
            return "open"

    def before_call(self, server_url: str) -> None:
        """Raise CircuitOpenError while open; let exactly one trial through when half-open."""
        with self._lock:
            if self._opened_at is None:
                return
            remaining = self.cooldown_s - (self._clock() - self._opened_at)
            if remaining <= 0 and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            wait = max(remaining, 0.0)
        raise CircuitOpenError(
            f"Calls to the Mistral server at {server_url} are paused after {self.threshold} failures in a "
            f"row; the next attempt is allowed in {wait:.1f} s.",
            retry_after_s=wait,
        )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        return self.state == "open"


def call_with_retries(
    attempt_call: Callable[[float | None], T],
    *,
    translate: Callable[[BaseException], MistralError],
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    server_url: str,
    budget_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``attempt_call`` until it succeeds, a non-retryable error occurs, retries run out, or
    the call's time budget (``budget_s``; None for no budget) is spent.

    ``attempt_call`` receives the seconds left in the budget (None without one), to use as its
    request timeout. Only transient failures (429, 5xx, connection and timeout errors) count
    against the breaker; a 401 or 404 proves the server is alive and answering.

    The error raised is never chained to what the SDK raised (``__cause__`` and ``__context__``
    stay empty): SDK exceptions carry the response body, which a server may have filled with the
    API key, and a logged traceback would print it in clear. What matters of it is in the message.
    """
    started = clock()
    attempt = 0
    while True:
        breaker.before_call(server_url)
        remaining = None if budget_s is None else budget_s - (clock() - started)
        try:
            result = attempt_call(remaining)
        except Exception as raw:  # every failure is translated and re-raised, none swallowed
            error = translate(raw)
        else:
            breaker.record_success()
            return result
        # Outside the except block, so the error raised does not get the SDK's as __context__.
        if not error.retryable:
            breaker.record_success()
            raise _detached(error)
        breaker.record_failure()
        delay = policy.delay_for(attempt, error) if attempt < policy.max_retries else None
        if delay is not None and budget_s is not None:
            left_after_wait = budget_s - (clock() - started) - delay
            if left_after_wait < min(MIN_ATTEMPT_S, budget_s / 10):
                raise _detached(_final(error, attempt, budget_s=budget_s))
        if delay is None or breaker.is_open:
            raise _detached(_final(error, attempt))
        sleep(delay)
        attempt += 1


def _detached(error: MistralError) -> MistralError:
    """The error with no link to another exception (see call_with_retries)."""
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def _final(error: MistralError, attempt: int, budget_s: float | None = None) -> MistralError:
    """Say how hard we tried, so "rate limited" reads as a verdict, not a first hiccup."""
    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
    if budget_s is not None:
        error.message = (
            f"{error.message} (gave up after {tries}: the call's time budget of {budget_s:g} s "
            "was spent)"
        )
        error.args = (error.message,)
    elif attempt > 0:
        error.message = f"{error.message} (gave up after {tries})"
        error.args = (error.message,)
    if isinstance(error, RateLimitError) and error.retry_after_s:
        error.message = f"{error.message} The server asks to wait {error.retry_after_s:g} s."
        error.args = (error.message,)
    return error
