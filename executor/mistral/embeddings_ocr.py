"""Embeddings (batched) and OCR calls, the two non-chat endpoints the executor uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from executor.mistral.errors import MalformedReplyError
from executor.mistral.media import ImageSource, document_chunk
from executor.mistral.usage import Usage, UsageTracker, ocr_cost

T = TypeVar("T")
#: ``call(what, model, attempt)`` runs ``attempt(timeout_ms)`` with retries (in one time budget),
#: breaker and error translation.
Caller = Callable[[str, str, Callable[[int], T]], T]


def embed_texts(
    call: Caller,
    sdk: Any,
    texts: Sequence[str],
    *,
    model: str,
    batch_size: int,
    tracker: UsageTracker,
) -> list[list[float]]:
    """One vector per text, in order. Batches keep each request under the API's input limits."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a list of texts, not one string")
    vectors: list[list[float]] = []
    for start in range(0, len(texts), max(1, batch_size)):
        batch = list(texts[start : start + batch_size])
        response = call(
            "create embeddings",
            model,
            lambda timeout_ms, b=batch: sdk.embeddings.create(
                model=model, inputs=b, timeout_ms=timeout_ms
            ),
        )
        items = sorted(response.data or [], key=lambda item: item.index or 0)
        if len(items) != len(batch) or any(item.embedding is None for item in items):
            raise MalformedReplyError(
                f"The embeddings reply has {len(items)} vectors for {len(batch)} texts."
            )
        vectors.extend(list(item.embedding) for item in items)
        usage = response.usage
        tracker.record(
            response.model or model,
            Usage.for_model(
                response.model or model, usage.prompt_tokens or 0, 0, usage.total_tokens or 0
            ),
        )
    return vectors


@dataclass
class OcrResult:
    """OCR output: one markdown string per page; ``markdown`` joins them."""

    pages: list[str]
    model: str
    pages_processed: int
    usage: Usage = field(default_factory=Usage)

    @property
    def markdown(self) -> str:
        return "\n\n".join(self.pages)


def run_ocr(
    call: Caller,
    sdk: Any,
    document: ImageSource,
    *,
    mime_type: str | None,
    model: str,
    tracker: UsageTracker,
) -> OcrResult:
    chunk = document_chunk(document, mime_type)
    response = call(
        "run OCR",
        model,
        lambda timeout_ms: sdk.ocr.process(model=model, document=chunk, timeout_ms=timeout_ms),
    )
    pages = [page.markdown for page in sorted(response.pages, key=lambda page: page.index)]
    processed = response.usage_info.pages_processed if response.usage_info else len(pages)
    cost = ocr_cost(response.model or model, processed)
    usage = Usage(cost_usd=cost or 0.0, priced=cost is not None)
    tracker.record(response.model or model, usage)
    return OcrResult(
        pages=pages, model=response.model or model, pages_processed=processed, usage=usage
    )
