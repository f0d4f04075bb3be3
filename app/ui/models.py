"""The live models list, grouped by the role each model can fill (Settings tab)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.ui.session import Credentials, SessionSettings

log = logging.getLogger(__name__)

# The client layer's roles, minus "embeddings" (only the document library uses it, and the
# connectors pick their own embedding model).
ROLES: tuple[str, ...] = ("planner", "coder", "vision", "ocr")
ROLE_LABELS = {
    "planner": "Planner (Scout, Inspector verdict)",
    "coder": "Coder (Mechanic)",
    "vision": "Vision (images in chat, Vision tab)",
    "ocr": "OCR (Vision tab)",
}


@dataclass
class ModelListing:
    choices: dict[str, list[str]] = field(default_factory=dict)
    message: str = ""


def list_models(credentials: Credentials, settings: SessionSettings | None = None) -> ModelListing:
    """Models able to fill each role, from the server's live list (or the built-in fallback)."""
    from app.ui import services
    from executor.mistral import ROLE_DEFAULTS, ROLE_NEEDS, MistralError

    if not credentials.ready:
        return ModelListing({}, "Add an API key first: the models list comes from the server.")
    try:
        with services.mistral_client(credentials, settings or SessionSettings()) as client:
            models = client.list_models(refresh=True)
            fallback_reason = client.catalog.last_error
    except MistralError as exc:
        return ModelListing({}, f"**Could not list the models:** {exc}")
    choices = {
        role: [m.id for m in models if all(m.has(need) for need in ROLE_NEEDS[role])]
        for role in ROLES
    }
    defaults = ", ".join(f"{role}: `{ROLE_DEFAULTS[role]}`" for role in ROLES)
    if fallback_reason is not None:
        message = (
            f"The server's list is unavailable ({fallback_reason}); showing the built-in list."
        )
    else:
        message = f"{len(models)} models on the server."
    return ModelListing(choices, f"{message} Automatic picks: {defaults}.")


@dataclass
class KeyCheck:
    """Whether the key works: True, False (refused), or None (could not tell: server down)."""

    works: bool | None
    message: str


def check_key(credentials: Credentials, settings: SessionSettings | None = None) -> KeyCheck:
    """One cheap call (the models list) to tell a visitor at once whether their key works.

    Only a refusal (401/403) says the key is bad; an unreachable server says nothing about it.
    The message speaks to the visitor; the key itself never appears in it.
    """
    from app.ui import services
    from executor.mistral import AuthenticationError, MistralError

    if not credentials.has_key:
        return KeyCheck(None, "")
    whose = "your key" if credentials.source == "session" else "the app's key"
    try:
        with services.mistral_client(credentials, settings or SessionSettings()) as client:
            models = client.list_models(refresh=True)
            unreachable = client.catalog.last_error
    except AuthenticationError:
        if credentials.source == "session":
            return KeyCheck(
                False,
                "❌ **The key you pasted was rejected** by the Mistral server. "
                "Check it (copy it again from "
                "https://console.mistral.ai/api-keys) and apply again.",
            )
        log.error("the host's MISTRAL_API_KEY was rejected by the model server")
        return KeyCheck(
            False,
            "❌ **The app's key was rejected** by the Mistral server; paste your own key to go on.",
        )
    except MistralError as exc:
        return KeyCheck(None, f"⚠️ Could not check {whose}: {exc}")
    if unreachable is not None:
        return KeyCheck(
            None, f"⚠️ Could not check {whose}: the server did not answer ({unreachable})."
        )
    return KeyCheck(True, f"✅ **{whose.capitalize()} works** ({len(models)} models available).")
