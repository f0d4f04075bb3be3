"""The model cards ``GET /v1/models`` returns by default, shaped like the real API's answer."""

from __future__ import annotations

from typing import Any

_CAPABILITY_KEYS = (
    "completion_chat",
    "function_calling",
    "reasoning",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
)


def model_card(
    model_id: str,
    *,
    chat: bool = True,
    function_calling: bool = True,
    vision: bool = False,
    fim: bool = False,
    ocr: bool = False,
    reasoning: bool = False,
    max_context_length: int = 131072,
    aliases: list[str] | None = None,
    card_type: str = "base",
) -> dict[str, Any]:
    """One model card in the wire format (``type`` and ``capabilities`` as Mistral sends them)."""
    capabilities = dict.fromkeys(_CAPABILITY_KEYS, False)
    capabilities.update(
        completion_chat=chat,
        function_calling=function_calling,
        vision=vision,
        completion_fim=fim,
        ocr=ocr,
        reasoning=reasoning,
    )
    card: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": 1_750_000_000,
        "owned_by": "mistralai",
        "capabilities": capabilities,
        "name": model_id,
        "description": f"Fake card for {model_id}",
        "max_context_length": max_context_length,
        "aliases": list(aliases or []),
        "deprecation": None,
        "default_model_temperature": 0.3,
        "type": card_type,
    }
    if card_type == "fine-tuned":
        card.update(job="ftjob-fake", root=model_id.split(":")[0], archived=False)
    return card


def default_models() -> list[dict[str, Any]]:
    return [
        model_card("mistral-large-latest", vision=True),
        model_card("mistral-medium-latest", vision=True),
        model_card("mistral-small-latest", vision=True),
        model_card("magistral-medium-latest", reasoning=True),
        model_card("codestral-latest", fim=True, max_context_length=256000),
        model_card("devstral-medium-latest"),
        model_card("devstral-small-latest"),
        model_card("pixtral-large-latest", vision=True),
        model_card("ministral-8b-latest"),
        model_card("mistral-embed", chat=False, function_calling=False, max_context_length=8192),
        model_card("mistral-ocr-latest", chat=False, function_calling=False, ocr=True),
    ]


def openai_style_models(ids: list[str]) -> list[dict[str, Any]]:
    """What vLLM / Ollama / llama.cpp answer: no ``type``, no ``capabilities``."""
    return [
        {"id": model_id, "object": "model", "created": 1_750_000_000, "owned_by": "vllm"}
        for model_id in ids
    ]
