"""Connectors: a capability served by Mistral's hosted connector, with a local fallback.

Mistral's built-in connectors (web search, code interpreter, image generation, document library)
run on Mistral's side through the Agents/Conversations API, so they need a key, the network and a
working service. The product must keep working without any of those, so each connector pairs the
hosted primary with a local implementation and always says which one answered and why: the trace
shows "served by local (Mistral web_search failed: 503 ...)" instead of a silent downgrade.

Plugins never import the executor. Whatever a connector needs from the host (credentials, the
host's Mistral client -- retries, circuit breaker, usage -- typed by :class:`MistralAccess`, a chat
function for code-writing fallbacks, an embedding function, a sandbox factory) arrives in a
:class:`ConnectorContext` built by the caller. Connectors reach Mistral only through
:meth:`ConnectorContext.call_mistral`, :meth:`~ConnectorContext.complete` and
:meth:`~ConnectorContext.embeddings`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from mistral_executor.settings import get_settings
from plugins.tools import Tool, ToolOutput
from sandbox import Sandbox, create_sandbox

# Connectors whose Mistral-hosted version is used when a key is set. The code interpreter is not in
# the list: our own sandbox is the default there and Mistral's is opt-in.
DEFAULT_MISTRAL_CONNECTORS = frozenset({"web_search", "image_generation", "document_library"})
MISTRAL_CONNECTORS_ENV = "MISTRAL_EXECUTOR_MISTRAL_CONNECTORS"
DEFAULT_AGENT_MODEL = "mistral-medium-latest"

ChatFunction = Callable[[list[dict[str, Any]]], str]
EmbedFunction = Callable[[list[str]], list[list[float]]]
T = TypeVar("T")


@runtime_checkable
class MistralAccess(Protocol):
    """What a connector may ask of the host's Mistral client. ``executor.mistral.MistralClient``
    is one: every call goes through its retries, circuit breaker, time budget and usage
    accounting, and fails with its ``MistralError`` messages."""

    def sdk_call(
        self,
        what: str,
        call: Callable[[Any, int], T],
        *,
        retry: bool = True,
        model: str | None = None,
    ) -> T:
        """Run ``call(sdk, timeout_ms)`` against the SDK (agents, conversations, libraries,
        files); ``retry=False`` for calls that must not be repeated."""
        ...

    def chat_text(self, messages: Sequence[dict[str, Any]], *, model: str | None = None) -> str:
        """The assistant's text for ``messages``."""
        ...

    def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """One vector per text."""
        ...


def executor_home() -> Path:
    """``MISTRAL_EXECUTOR_HOME``, default ``~/.mistral-executor``: where local state persists
    (the one definition is :attr:`mistral_executor.settings.Settings.home`)."""
    return get_settings().home


@dataclass
class ConnectorContext:
    """Everything a connector may use, handed in by the host (the executor, the CLI, a test).

    ``api_key`` decides whether Mistral's hosted connectors are tried at all (no key: local
    implementations only, with that reason in the trace). ``client`` is the host's Mistral client
    (a :class:`MistralAccess`: the executor passes its own, so connectors share its retries,
    breaker and usage); a context built without one (a script, a test) calls the SDK directly,
    once per request, from ``api_key``/``server_url``. ``chat`` takes Mistral-format
    messages and returns the assistant's text (the image fallback's code writer); ``embed`` maps
    texts to vectors (``mistral-embed``; pass it only when a key is set, since a local index then
    embeds every upload). Either may be None: the connectors then use ``client``.
    ``sandbox`` is a running sandbox the host lends (e.g. the executor's own), else
    ``sandbox_factory`` builds one per local run.
    """

    api_key: str | None = field(default=None, repr=False)
    server_url: str | None = None
    client: MistralAccess | None = field(default=None, repr=False)
    chat: ChatFunction | None = field(default=None, repr=False)
    embed: EmbedFunction | None = field(default=None, repr=False)
    sandbox: Sandbox | None = field(default=None, repr=False)
    sandbox_factory: Callable[[], Sandbox] | None = field(default=None, repr=False)
    agent_model: str = DEFAULT_AGENT_MODEL
    chat_model: str = "mistral-small-latest"
    embed_model: str = "mistral-embed"
    mistral_connectors: frozenset[str] = DEFAULT_MISTRAL_CONNECTORS
    home: Path = field(default_factory=executor_home)
    timeout_s: float = 60.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _bare_sdk: Any = field(default=None, repr=False, compare=False)
    _sandbox_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_env(cls, **overrides: Any) -> ConnectorContext:
        """Credentials and the enabled Mistral connectors from the settings (environment)."""
        settings = get_settings()
        values: dict[str, Any] = {
            "api_key": settings.api_key,
            "server_url": settings.server_url,
        }
        if settings.mistral_connectors is not None:
            values["mistral_connectors"] = frozenset(settings.mistral_connectors)
        values.update(overrides)
        return cls(**values)

    def mistral_unavailable_reason(self, connector: str) -> str | None:
        """None when ``connector`` may use Mistral's hosted version, else why not."""
        if not self.api_key:
            return "no MISTRAL_API_KEY is set"
        if connector not in self.mistral_connectors:
            return f"Mistral's {connector} connector is not enabled ({MISTRAL_CONNECTORS_ENV})"
        return None

    def call_mistral(
        self,
        what: str,
        call: Callable[[Any, int], T],
        *,
        retry: bool = True,
        model: str | None = None,
    ) -> T:
        """Run ``call(sdk, timeout_ms)`` through the host's client layer (see
        :class:`MistralAccess`). Without a host client (a script, a test), the SDK is called
        directly, once, with this context's key, server and timeout."""
        if self.client is not None:
            return self.client.sdk_call(what, call, retry=retry, model=model)
        return call(self._standalone_sdk(), int(self.timeout_s * 1000))

    def _standalone_sdk(self) -> Any:
        with self._lock:
            if self._bare_sdk is None:
                from mistralai.client import Mistral

                kwargs: dict[str, Any] = {
                    "api_key": self.api_key,
                    "timeout_ms": int(self.timeout_s * 1000),
                }
                if self.server_url:
                    kwargs["server_url"] = self.server_url
                self._bare_sdk = Mistral(**kwargs)
            return self._bare_sdk

    def complete(self, messages: list[dict[str, Any]]) -> str:
        """Ask a model for text: the host's ``chat`` if given, else its client, else the SDK."""
        if self.chat is not None:
            return self.chat(messages)
        if self.client is not None:
            return self.client.chat_text(messages)
        if not self.api_key:
            raise RuntimeError("no model available: no MISTRAL_API_KEY is set")
        response = self.call_mistral(
            f"chat with model '{self.chat_model}'",
            lambda sdk, timeout_ms: sdk.chat.complete(
                model=self.chat_model, messages=messages, timeout_ms=timeout_ms
            ),
        )
        content = response.choices[0].message.content
        if isinstance(content, str):
            return content
        return "".join(getattr(chunk, "text", "") or "" for chunk in content or [])

    def embeddings(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``: the host's ``embed`` if given, else its client, else the SDK
        (batched)."""
        if self.embed is not None:
            return self.embed(list(texts))
        if self.client is not None:
            return self.client.embed(list(texts), self.embed_model)
        if not self.api_key:
            raise RuntimeError("no embeddings available: no MISTRAL_API_KEY is set")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), 64):
            batch = list(texts[start : start + 64])
            response = self.call_mistral(
                "embeddings",
                lambda sdk, timeout_ms, batch=batch: sdk.embeddings.create(
                    model=self.embed_model, inputs=batch, timeout_ms=timeout_ms
                ),
            )
            vectors.extend(item.embedding for item in response.data)
        return vectors

    @contextlib.contextmanager
    def use_sandbox(self) -> Iterator[Sandbox]:
        """A sandbox for one local run.

        The host's shared ``sandbox`` is borrowed (never closed here; one run at a time, since
        parallel tool calls may land together); otherwise ``sandbox_factory`` (default
        ``create_sandbox("auto")``) makes a fresh one that is closed afterwards.
        """
        if self.sandbox is not None:
            with self._sandbox_lock:
                yield self.sandbox
            return
        factory = self.sandbox_factory or (lambda: create_sandbox("auto"))
        with factory() as sandbox:
            yield sandbox


class Connector:
    """A capability with a Mistral-hosted primary and a local fallback.

    Subclasses set ``name`` and ``mistral_tool`` and implement ``tools`` (what the model sees),
    ``primary`` (Mistral) and ``fallback`` (local); tool functions call :meth:`serve`, which picks
    the implementation and records the choice. ``primary`` raises on any failure or unusable reply.
    """

    name: str = ""
    description: str = ""
    mistral_tool: str = ""

    def tools(self, ctx: ConnectorContext) -> list[Tool]:
        return []

    def primary(self, ctx: ConnectorContext, **kwargs: Any) -> ToolOutput:
        raise NotImplementedError(f"{self.name} has no Mistral-hosted version")

    def fallback(self, ctx: ConnectorContext, **kwargs: Any) -> ToolOutput:
        raise NotImplementedError(f"{self.name} has no local version")

    def serve(self, ctx: ConnectorContext, **kwargs: Any) -> ToolOutput:
        """Try Mistral when allowed, fall back to local; the result says which served and why."""
        reason = ctx.mistral_unavailable_reason(self.name)
        if reason is None:
            try:
                output = self.primary(ctx, **kwargs)
            except Exception as exc:
                reason = f"Mistral {self.mistral_tool or self.name} failed: {describe_error(exc)}"
            else:
                output.served_by = "mistral"
                output.reason = output.reason or f"Mistral {self.mistral_tool} connector"
                return output
        try:
            output = self.fallback(ctx, **kwargs)
        except Exception as exc:
            return ToolOutput(
                text=f"{self.name} is unavailable: {reason}; the local fallback failed too: "
                f"{describe_error(exc)}",
                ok=False,
                served_by="none",
                reason=reason,
            )
        output.served_by = "local"
        output.reason = reason
        return output

    def info(self) -> dict[str, str]:
        return {
            "name": self.name,
            "description": self.description,
            "mistral_tool": self.mistral_tool,
        }


def describe_error(exc: BaseException) -> str:
    """One line about a failure, naming the HTTP status when the SDK reports one."""
    status = getattr(exc, "status_code", None)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if status:
        return f"HTTP {status}: {message}"[:300]
    return f"{type(exc).__name__}: {message}"[:300]
