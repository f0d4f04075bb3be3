"""MistralClient: the one object the executor and the app use for every model call.

The client is the API: which model serves a call, the request, usage per client and per run.
How each request is made -- retries in one time budget, the circuit breaker, errors translated
-- is ``guard.py``'s; reading the reply is ``completion.py``'s (whole) and ``streaming.py``'s
(streamed).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from executor.mistral.chat import ChatReply, StreamDelta, build_request, messages_have_images
from executor.mistral.completion import complete
from executor.mistral.config import ClientConfig, build_sdk, config_from
from executor.mistral.embeddings_ocr import OcrResult, embed_texts, run_ocr
from executor.mistral.guard import CallGuard
from executor.mistral.media import ImageSource
from executor.mistral.models import (
    ModelCatalog,
    ModelInfo,
    check_capabilities,
    fetch_model_infos,
    resolve_role,
)
from executor.mistral.retry import CircuitBreaker
from executor.mistral.streaming import read_stream
from executor.mistral.usage import UsageTracker

T = TypeVar("T")


class MistralClient:
    """Chat, streaming, tools, structured output, vision, embeddings and OCR over the official SDK.

    ``api_key`` / ``server_url`` default to ``MISTRAL_API_KEY`` / ``MISTRAL_SERVER_URL``;
    ``timeout_s`` defaults to ``MISTRAL_TIMEOUT_S`` or 60, ``max_retries`` to
    ``MISTRAL_MAX_RETRIES`` or 3; ``models`` overrides the model per role (also
    ``MISTRAL_MODEL_<ROLE>``). Further ``ClientConfig`` fields (``breaker_threshold``,
    ``breaker_cooldown_s``, ``retry_base_delay_s``, ``models_ttl_s``, ``embed_batch_size``...) can be
    passed as keyword arguments.

    Every call retries transient failures, goes through one circuit breaker per client, raises only
    ``MistralError`` subclasses, and records its tokens in ``self.usage``. For per-run totals use
    ``run_client = client.with_usage()``: it shares everything with ``client`` except a child
    ``UsageTracker`` whose calls also count in ``client.usage``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        server_url: str | None = None,
        *,
        timeout_s: float | None = None,
        max_retries: int | None = None,
        models: dict[str, str] | None = None,
        config: ClientConfig | None = None,
        **settings: Any,
    ) -> None:
        self.config = config or config_from(
            api_key,
            server_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
            models=models,
            **settings,
        )
        self._sdk = build_sdk(self.config)
        self._guard = CallGuard(self.config)
        self._catalog = ModelCatalog(
            self._fetch_models,
            ttl_s=self.config.models_ttl_s,
            fallback_ttl_s=self.config.models_fallback_ttl_s,
        )
        self.usage = UsageTracker()

    # ------------------------------------------------------------------ plumbing

    @property
    def server_url(self) -> str:
        return self.config.server_url

    @property
    def sdk(self) -> Any:
        """The configured ``mistralai.client.Mistral`` (same server, key and timeout). Calls made
        through it directly bypass the retries, the circuit breaker and usage tracking, and raise
        the SDK's own errors: use :meth:`sdk_call` for endpoints this layer does not wrap."""
        return self._sdk

    def sdk_call(
        self,
        what: str,
        call: Callable[[Any, int], T],
        *,
        retry: bool = True,
        model: str | None = None,
    ) -> T:
        """Run ``call(sdk, timeout_ms)`` -- an endpoint this layer does not wrap (agents,
        conversations, libraries, files) -- with the client's retries, circuit breaker, time
        budget and error translation (raises ``MistralError``). ``retry=False`` for calls that
        must not be repeated (creating an agent, uploading a document). A result carrying
        ``usage`` (a conversation) is counted in ``self.usage`` under ``model``.

        This is how plugins' connectors reach Mistral (``plugins.MistralAccess``)."""
        result = self._guard.call(
            what, model, lambda timeout_ms: call(self._sdk, timeout_ms), retry=retry
        )
        if model:
            self.usage.record_reported(model, getattr(result, "usage", None))
        return result

    def chat_text(
        self, messages: Sequence[dict[str, Any]], *, model: str | None = None, role: str = "coder"
    ) -> str:
        """The assistant's text for ``messages`` (``plugins.MistralAccess``: connectors' chat)."""
        return self.chat(messages, role=role, model=model).content

    @property
    def breaker(self) -> CircuitBreaker:
        return self._guard.breaker

    @property
    def catalog(self) -> ModelCatalog:
        return self._catalog

    def __repr__(self) -> str:
        key = "set" if self.config.has_key else "unset"
        return f"MistralClient(server_url={self.server_url!r}, api_key={key})"

    def close(self) -> None:
        self._sdk.__exit__(None, None, None)

    def __enter__(self) -> MistralClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def with_usage(self, tracker: UsageTracker | None = None) -> MistralClient:
        """A client sharing SDK, breaker and model cache, counting usage in ``tracker``
        (default: a new child of ``self.usage``)."""
        scoped = copy.copy(self)
        scoped.usage = tracker if tracker is not None else self.usage.child()
        return scoped

    # ------------------------------------------------------------------ models

    def _fetch_models(self) -> list[ModelInfo]:
        # No retries: the built-in list is an acceptable answer, a minute of backoff is not.
        return self.sdk_call("list models", fetch_model_infos, retry=False)

    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        """Models with capabilities; cached for ``models_ttl_s``; built-in list if unreachable
        (then ``client.catalog.last_error`` says why)."""
        return self._catalog.list(refresh)

    def model_for(self, role: str) -> str:
        """The model serving a role (planner, coder, vision, embeddings, ocr), capability-checked."""
        return resolve_role(role, self.config.models, self._catalog, self.server_url)

    def _chat_model(
        self,
        role: str,
        model: str | None,
        messages: Sequence[dict[str, Any]],
        tools: Iterable[dict[str, Any]] | None,
    ) -> str:
        chosen = model or self.model_for(role)
        needs = {"chat"}
        if tools:
            needs.add("function_calling")
        if messages_have_images(messages):
            needs.add("vision")
        if needs == {"chat"}:
            # A role's model was checked by model_for; an explicit model is left to the server
            # (no listing round-trip just to confirm it can chat).
            return chosen
        info = self._catalog.find(chosen)
        if info is not None:
            check_capabilities(
                info, needs, role=None if model else role, alternatives=self._catalog.list()
            )
        return chosen

    # ------------------------------------------------------------------ chat

    def _prepare(
        self,
        messages: Sequence[dict[str, Any]],
        role: str,
        model: str | None,
        tools: Iterable[dict[str, Any]] | None,
        *,
        response_format_schema: dict[str, Any] | None,
        **options: Any,
    ) -> tuple[str, dict[str, Any]]:
        """The model (role-resolved, capability-checked) and the SDK keyword arguments."""
        tools = list(tools) if tools else None
        model_id = self._chat_model(role, model, messages, tools)
        request = build_request(
            list(messages),
            model=model_id,
            tools=tools,
            response_schema=response_format_schema,
            **options,
        )
        return model_id, request

    def chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        role: str = "planner",
        model: str | None = None,
        tools: Iterable[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_schema: dict[str, Any] | None = None,
        schema_name: str = "reply",
        temperature: float | None = None,
        max_tokens: int | None = None,
        parallel_tool_calls: bool | None = None,
        timeout_s: float | None = None,
    ) -> ChatReply:
        """One completion. With ``response_schema``, ``reply.parsed`` is the validated object
        (MalformedReplyError, carrying ``.reply``, when the text is not JSON matching the schema)."""
        model_id, request = self._prepare(
            messages,
            role,
            model,
            tools,
            tool_choice=tool_choice,
            response_format_schema=response_schema,
            schema_name=schema_name,
            temperature=temperature,
            max_tokens=max_tokens,
            parallel_tool_calls=parallel_tool_calls,
        )

        return complete(
            self,
            request,
            model_id,
            timeout_s=timeout_s,
            role=None if model else role,  # the role's setting chose the model
            response_schema=response_schema,
        )

    def stream(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        role: str = "planner",
        model: str | None = None,
        tools: Iterable[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_schema: dict[str, Any] | None = None,
        schema_name: str = "reply",
        temperature: float | None = None,
        max_tokens: int | None = None,
        parallel_tool_calls: bool | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[StreamDelta | ChatReply]:
        """Yield StreamDelta items as tokens arrive, then the complete ChatReply as the last item.

        Retries cover opening the stream; a connection lost mid-stream raises
        ServerUnreachableError (what was already yielded stays valid). Leaving the loop early
        closes the connection.
        """
        model_id, request = self._prepare(
            messages,
            role,
            model,
            tools,
            tool_choice=tool_choice,
            response_format_schema=response_schema,
            schema_name=schema_name,
            temperature=temperature,
            max_tokens=max_tokens,
            parallel_tool_calls=parallel_tool_calls,
        )
        what = f"stream from model '{model_id}'"
        started = time.perf_counter()
        event_stream = self._guard.call(
            what,
            model_id,
            lambda timeout_ms: self._sdk.chat.stream(**request, timeout_ms=timeout_ms),
            timeout_s=timeout_s,
            role=None if model else role,
        )
        yield from read_stream(self, event_stream, model_id, what, started, response_schema)

    # ------------------------------------------------------------------ embeddings and OCR

    def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """One vector per text, sent in batches of ``embed_batch_size``."""
        model_id = model or self.model_for("embeddings")
        return embed_texts(
            lambda what, model_, attempt: self._guard.call(
                what, model_, attempt, role="embeddings"
            ),
            self._sdk,
            texts,
            model=model_id,
            batch_size=self.config.embed_batch_size,
            tracker=self.usage,
        )

    def ocr_document(
        self, document: ImageSource, mime_type: str | None = None, *, model: str | None = None
    ) -> OcrResult:
        """OCR a PDF or image (bytes, path, or http(s) URL): markdown per page."""
        model_id = model or self.model_for("ocr")
        return run_ocr(
            lambda what, model_, attempt: self._guard.call(what, model_, attempt, role="ocr"),
            self._sdk,
            document,
            mime_type=mime_type,
            model=model_id,
            tracker=self.usage,
        )

    def ocr(
        self, document: ImageSource, mime_type: str | None = None, *, model: str | None = None
    ) -> str:
        """OCR a document and return its markdown (pages joined by blank lines)."""
        return self.ocr_document(document, mime_type, model=model).markdown
