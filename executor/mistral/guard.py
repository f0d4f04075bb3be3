"""How every request to the Mistral server is made: retried within one time budget, through one
circuit breaker per client, its failures translated into ``MistralError``s.

Split from ``client.py`` so the client reads as the API it offers (chat, stream, models,
embeddings, OCR, ``sdk_call``) while a call's failure handling lives in one place. A client and
its ``with_usage()`` copies share one ``CallGuard``, hence one breaker: a dead server fails fast
for every run of the process. The stream reader (``streaming.py``) uses it too, for failures
after the stream has opened. The retry and breaker rules themselves are ``retry.py``'s, the
wording of each error ``errors.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from executor.mistral.config import ClientConfig
from executor.mistral.errors import MistralError, translate
from executor.mistral.retry import CircuitBreaker, RetryPolicy, call_with_retries

T = TypeVar("T")


class CallGuard:
    """Retries, time budget, circuit breaker and error translation for one client's calls."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_cooldown_s)
        self.policy = RetryPolicy(
            max_retries=config.max_retries,
            base_delay_s=config.retry_base_delay_s,
            max_delay_s=config.retry_max_delay_s,
            max_retry_after_s=config.max_retry_after_s,
        )

    def translator(
        self,
        what: str,
        model: str | None,
        timeout_s: float | None = None,
        role: str | None = None,
    ) -> Callable[[BaseException], MistralError]:
        """What turns a failure of the call ``what`` into the ``MistralError`` to raise: naming
        the server, the model and the role's setting, the API key scrubbed."""
        return lambda exc: translate(
            exc,
            server_url=self.config.server_url,
            model=model,
            what=what,
            api_key=self.config.api_key,
            timeout_s=timeout_s or self.config.timeout_s,
            role=role,
        )

    def call(
        self,
        what: str,
        model: str | None,
        attempt: Callable[[int], T],
        *,
        retry: bool = True,
        timeout_s: float | None = None,
        role: str | None = None,
    ) -> T:
        """Run ``attempt(timeout_ms)`` with retries inside one time budget (see retry.py): each
        attempt's timeout is the request timeout, or less when the budget is nearly spent.
        ``retry=False`` for a call that must not be repeated (it still goes through the breaker
        and its error is translated)."""
        timeout = timeout_s or self.config.timeout_s

        def bounded(remaining_s: float | None) -> T:
            limit = timeout if remaining_s is None else max(0.05, min(timeout, remaining_s))
            return attempt(int(limit * 1000))

        return call_with_retries(
            bounded,
            translate=self.translator(what, model, timeout, role),
            policy=self.policy if retry else RetryPolicy(max_retries=0),
            breaker=self.breaker,
            server_url=self.config.server_url,
            budget_s=self.config.budget_for(timeout),
        )
