"""Which models exist, what each can do, and which one serves each role.

The listing comes from ``GET /v1/models`` and is cached for a TTL because every role lookup and
capability check needs it. When the endpoint cannot be reached the built-in list below stands in,
so a flaky network degrades to "probably right" instead of "nothing works".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from executor.mistral.errors import (
    AuthenticationError,
    CapabilityError,
    MistralError,
    ModelNotFoundError,
)

#: Wire capability flag -> our capability name.
_WIRE_CAPABILITIES = {
    "completion_chat": "chat",
    "function_calling": "function_calling",
    "vision": "vision",
    "completion_fim": "fim",
    "ocr": "ocr",
    "reasoning": "reasoning",
    "classification": "classification",
    "moderation": "moderation",
    "audio": "audio",
    "fine_tuning": "fine_tuning",
}

ROLE_DEFAULTS: dict[str, str] = {
    "planner": "mistral-medium-latest",
    "coder": "codestral-latest",
    "vision": "mistral-medium-latest",
    "embeddings": "mistral-embed",
    "ocr": "mistral-ocr-latest",
}
ROLE_NEEDS: dict[str, frozenset[str]] = {
    "planner": frozenset({"chat", "function_calling"}),
    "coder": frozenset({"chat"}),
    "vision": frozenset({"chat", "vision"}),
    "embeddings": frozenset({"embeddings"}),
    "ocr": frozenset({"ocr"}),
}
_CAPABILITY_WORDS = {
    "chat": "chat",
    "function_calling": "call tools",
    "vision": "read images",
    "fim": "fill in the middle",
    "ocr": "read documents (OCR)",
    "embeddings": "make embeddings",
}


@dataclass
class ModelInfo:
    """One model and what it can do. ``capabilities_known`` is False for self-hosted servers that
    list models without capability flags; then only the server can say what works."""

    id: str
    capabilities: set[str] = field(default_factory=set)
    name: str = ""
    description: str = ""
    max_context_length: int | None = None
    aliases: list[str] = field(default_factory=list)
    source: str = "api"
    capabilities_known: bool = True

    def has(self, capability: str) -> bool:
        if capability in self.capabilities:
            return True
        if self.capabilities_known:
            return False
        # Unknown flags (OpenAI-compatible listing): don't block chat-ish use; the server decides.
        # Embeddings and OCR models are separate endpoints, so guess those from the name only.
        if capability == "embeddings":
            return "embed" in self.id.lower()
        if capability == "ocr":
            return "ocr" in self.id.lower()
        return True

    def matches(self, model_id: str) -> bool:
        return model_id == self.id or model_id in self.aliases

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["capabilities"] = sorted(self.capabilities)
        return data


def info_from_card(card: dict[str, Any], *, source: str = "api") -> ModelInfo:
    """A model card as the server sent it (Mistral or OpenAI-compatible) -> ModelInfo."""
    model_id = str(card.get("id", ""))
    flags = card.get("capabilities")
    known = isinstance(flags, dict)
    capabilities = {ours for wire, ours in _WIRE_CAPABILITIES.items() if known and flags.get(wire)}
    if "embed" in model_id.lower():  # the API has no embeddings flag; the name is the convention
        capabilities.add("embeddings")
    context = card.get("max_context_length")
    return ModelInfo(
        id=model_id,
        capabilities=capabilities,
        name=str(card.get("name") or model_id),
        description=str(card.get("description") or ""),
        max_context_length=context if isinstance(context, int) else None,
        aliases=[str(a) for a in card.get("aliases") or []],
        source=source if known else "openai-compatible",
        capabilities_known=known,
    )


def cards_from_body(body: str | None) -> list[dict[str, Any]] | None:
    """Model cards from a raw ``/v1/models`` body the SDK refused (OpenAI-style: no ``type``)."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    cards = data.get("data") if isinstance(data, dict) else None
    if not isinstance(cards, list):
        return None
    return [card for card in cards if isinstance(card, dict) and card.get("id")]


def card_dict(item: Any) -> dict[str, Any]:
    """A card the SDK parsed, back as wire JSON (the raw dict for card types it does not know)."""
    if getattr(item, "is_unknown", False):
        return dict(item.raw)
    return item.model_dump(mode="json", by_alias=True)


def _builtin(model_id: str, caps: Iterable[str], context: int, description: str) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        capabilities=set(caps),
        name=model_id,
        description=description,
        max_context_length=context,
        source="builtin",
    )


def builtin_models() -> list[ModelInfo]:
    """What Mistral's cloud offers, used when the listing endpoint cannot be reached."""
    chat_tools = ("chat", "function_calling")
    return [
        _builtin("mistral-large-latest", (*chat_tools, "vision"), 131072, "Top-tier general model"),
        _builtin(
            "mistral-medium-latest",
            (*chat_tools, "vision"),
            131072,
            "Frontier-class multimodal model",
        ),
        _builtin(
            "mistral-small-latest", (*chat_tools, "vision"), 131072, "Fast, cheap multimodal model"
        ),
        _builtin("magistral-medium-latest", (*chat_tools, "reasoning"), 40960, "Reasoning model"),
        _builtin(
            "magistral-small-latest", (*chat_tools, "reasoning"), 40960, "Small reasoning model"
        ),
        _builtin("codestral-latest", (*chat_tools, "fim"), 256000, "Code generation and FIM"),
        _builtin("devstral-medium-latest", chat_tools, 131072, "Agentic coding model"),
        _builtin("devstral-small-latest", chat_tools, 131072, "Small agentic coding model"),
        _builtin("pixtral-large-latest", (*chat_tools, "vision"), 131072, "Vision model"),
        _builtin("ministral-8b-latest", chat_tools, 131072, "Edge model"),
        _builtin("mistral-embed", ("embeddings",), 8192, "Text embeddings"),
        _builtin("codestral-embed", ("embeddings",), 8192, "Code embeddings"),
        _builtin("mistral-ocr-latest", ("ocr",), 0, "Document OCR"),
    ]


class ModelCatalog:
    """The model listing with a TTL cache and the built-in fallback.

    ``fetch`` performs the real listing (and raises MistralError subclasses). An authentication
    error is re-raised rather than hidden behind the fallback: a wrong key must be reported, not
    papered over with a list of models the user cannot call.
    """

    def __init__(
        self,
        fetch: Callable[[], list[ModelInfo]],
        *,
        ttl_s: float = 600.0,
        fallback_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl_s = ttl_s
        self.fallback_ttl_s = fallback_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._models: list[ModelInfo] | None = None
        self._fetched_at = 0.0
        self.last_error: MistralError | None = None

    @property
    def from_server(self) -> bool:
        """True when the cached list is the server's answer (so absence of a model is meaningful)."""
        return self._models is not None and self.last_error is None

    def list(self, refresh: bool = False) -> list[ModelInfo]:
        with self._lock:
            ttl = self.ttl_s if self.last_error is None else self.fallback_ttl_s
            fresh = self._models is not None and self._clock() - self._fetched_at < ttl
            if fresh and not refresh:
                return list(self._models or [])
            try:
                models = self._fetch()
                self.last_error = None
            except AuthenticationError:
                raise
            except MistralError as exc:
                models = builtin_models()
                self.last_error = exc
            self._models = models
            self._fetched_at = self._clock()
            return list(models)

    def find(self, model_id: str, refresh: bool = False) -> ModelInfo | None:
        return next((m for m in self.list(refresh) if m.matches(model_id)), None)


def resolve_role(
    role: str, overrides: dict[str, str], catalog: ModelCatalog, server_url: str
) -> str:
    """The model for a role: the override, else the default; checked against the listing.

    A default that the server does not offer (a self-hosted server with its own model names) is
    replaced by the first listed model able to do the job; an explicit override never is.
    """
    if role not in ROLE_DEFAULTS:
        raise ValueError(f"unknown model role {role!r}; roles are {', '.join(ROLE_DEFAULTS)}")
    needs = ROLE_NEEDS[role]
    chosen = overrides.get(role) or ROLE_DEFAULTS[role]
    models = catalog.list()
    info = next((m for m in models if m.matches(chosen)), None)
    if info is None:
        if not catalog.from_server:
            return chosen  # built-in list: cannot tell, let the server decide
        if role not in overrides:
            substitute = next((m for m in models if all(m.has(n) for n in needs)), None)
            if substitute is not None:
                return substitute.id
        raise ModelNotFoundError(
            f"Model '{chosen}' for the {role} role is not offered by {server_url}. "
            f"Available: {', '.join(m.id for m in models) or 'none'}. Choose one with "
            f"`mistral-executor run --model-{role} NAME` or MISTRAL_MODEL_{role.upper()}=NAME."
        )
    check_capabilities(info, needs, role=role, alternatives=models)
    return chosen


def check_capabilities(
    info: ModelInfo,
    needs: Iterable[str],
    *,
    role: str | None = None,
    alternatives: list[ModelInfo] | None = None,
) -> None:
    """Raise CapabilityError naming what is missing and which models would do."""
    needs = frozenset(needs)
    missing = sorted(n for n in needs if not info.has(n))
    if not missing:
        return
    words = " and ".join(_CAPABILITY_WORDS.get(m, m) for m in missing)
    purpose = f" (chosen for the {role} role)" if role else ""
    able = [
        m.id for m in alternatives or [] if all(m.has(n) for n in needs) and m.capabilities_known
    ]
    hint = f" Models that can: {', '.join(able[:6])}." if able else ""
    raise CapabilityError(
        f"Model '{info.id}'{purpose} cannot {words} (missing capability: {', '.join(missing)}).{hint}"
    )


def fetch_model_infos(sdk: Any, timeout_ms: int) -> list[ModelInfo]:
    """The server's model list as ``ModelInfo``s (one attempt; ``MistralClient`` wraps it)."""
    from mistralai.client.errors import ResponseValidationError

    try:
        listing = sdk.models.list(timeout_ms=timeout_ms)
    except ResponseValidationError as exc:
        # OpenAI-compatible servers list cards without ``type``; the SDK rejects the whole
        # list. Read the raw cards instead (capabilities then count as unknown).
        cards = cards_from_body(exc.body)
        if cards is None:
            raise
        return [info_from_card(card) for card in cards]
    return [info_from_card(card_dict(item)) for item in listing.data or []]
