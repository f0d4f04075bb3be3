"""Token counts per call and per run, and what they cost.

Prices are public list prices in USD per million tokens at the time of writing; they are an
estimate to keep a user aware of spend, not a bill. Self-hosted or unknown models cost 0 and are
counted as ``unpriced_calls`` so the UI can say "cost unknown" instead of a false "$0".
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

#: model family prefix -> (input USD / 1M tokens, output USD / 1M tokens)
PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "mistral-large": (2.0, 6.0),
    "mistral-medium": (0.4, 2.0),
    "mistral-small": (0.1, 0.3),
    "magistral-medium": (2.0, 5.0),
    "magistral-small": (0.5, 1.5),
    "codestral-embed": (0.15, 0.0),
    "codestral": (0.3, 0.9),
    "devstral-medium": (0.4, 2.0),
    "devstral-small": (0.1, 0.3),
    "devstral": (0.4, 2.0),
    "pixtral-large": (2.0, 6.0),
    "pixtral-12b": (0.15, 0.15),
    "ministral-8b": (0.1, 0.1),
    "ministral-3b": (0.04, 0.04),
    "open-mistral-nemo": (0.15, 0.15),
    "mistral-embed": (0.1, 0.0),
}
#: OCR is billed per page.
OCR_USD_PER_PAGE = {"mistral-ocr": 0.001}

_VERSION_SUFFIX = re.compile(r"-(latest|\d{4}(-\d{2})?)$")


def _family(model: str) -> str:
    name = model.lower().split("/")[-1]
    if name.startswith("ft:"):
        name = name.split(":")[1]
    return _VERSION_SUFFIX.sub("", name)


def price_for(model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens, by longest matching family prefix; None if unknown."""
    family = _family(model)
    for prefix in sorted(PRICES_PER_MILLION, key=len, reverse=True):
        if family.startswith(prefix):
            return PRICES_PER_MILLION[prefix]
    return None


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    price = price_for(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def ocr_cost(model: str, pages: int) -> float | None:
    family = _family(model)
    for prefix, per_page in OCR_USD_PER_PAGE.items():
        if family.startswith(prefix):
            return pages * per_page
    return None


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, and its estimated cost (0.0 when the model has no known price)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    priced: bool = True

    @classmethod
    def for_model(
        cls, model: str, prompt_tokens: int, completion_tokens: int, total_tokens: int | None = None
    ) -> Usage:
        cost = estimate_cost(model, prompt_tokens, completion_tokens)
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=total_tokens if total_tokens else prompt_tokens + completion_tokens,
            cost_usd=cost or 0.0,
            priced=cost is not None,
        )


@dataclass
class ModelTotals:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class UsageSnapshot:
    """A consistent copy of a tracker's totals, safe to hand to the UI or serialise."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    unpriced_calls: int
    by_model: dict[str, ModelTotals] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class UsageTracker:
    """Running totals, thread-safe. ``child()`` makes a per-run tracker whose calls also roll up here.

    The client records every call into ``client.usage``; for per-run numbers use
    ``run_client = client.with_usage()`` (a client sharing everything but with a child tracker),
    then read ``run_client.usage.snapshot()`` at the end of the run.
    """

    def __init__(self, parent: UsageTracker | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._by_model: dict[str, ModelTotals] = {}
        self._unpriced = 0

    def child(self) -> UsageTracker:
        return UsageTracker(parent=self)

    def record(self, model: str, usage: Usage) -> None:
        with self._lock:
            totals = self._by_model.setdefault(model, ModelTotals())
            totals.calls += 1
            totals.prompt_tokens += usage.prompt_tokens
            totals.completion_tokens += usage.completion_tokens
            totals.total_tokens += usage.total_tokens
            totals.cost_usd += usage.cost_usd
            if not usage.priced:
                self._unpriced += 1
        if self._parent is not None:
            self._parent.record(model, usage)

    def record_reported(self, model: str, reported: Any) -> None:
        """Record the usage object an SDK response carries (``prompt_tokens``...), if it has
        one: a conversation of Mistral's Agents API, called through ``MistralClient.sdk_call``."""
        prompt = getattr(reported, "prompt_tokens", None)
        if not isinstance(prompt, int):
            return
        completion = getattr(reported, "completion_tokens", None)
        total = getattr(reported, "total_tokens", None)
        completion = completion if isinstance(completion, int) else 0
        total = total if isinstance(total, int) else None
        self.record(model, Usage.for_model(model, prompt, completion, total))

    def snapshot(self) -> UsageSnapshot:
        with self._lock:
            by_model = {name: ModelTotals(**asdict(t)) for name, t in self._by_model.items()}
            unpriced = self._unpriced
        return UsageSnapshot(
            calls=sum(t.calls for t in by_model.values()),
            prompt_tokens=sum(t.prompt_tokens for t in by_model.values()),
            completion_tokens=sum(t.completion_tokens for t in by_model.values()),
            total_tokens=sum(t.total_tokens for t in by_model.values()),
            cost_usd=sum(t.cost_usd for t in by_model.values()),
            unpriced_calls=unpriced,
            by_model=by_model,
        )

    # Convenience read-outs (each takes its own snapshot).
    @property
    def calls(self) -> int:
        return self.snapshot().calls

    @property
    def total_tokens(self) -> int:
        return self.snapshot().total_tokens

    @property
    def cost_usd(self) -> float:
        return self.snapshot().cost_usd

    def __repr__(self) -> str:
        snap = self.snapshot()
        return f"UsageTracker(calls={snap.calls}, total_tokens={snap.total_tokens}, cost_usd={snap.cost_usd:.6f})"
