"""The live models list, grouped by the role each model can fill (Settings tab)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.ui.session import Credentials

ROLES: tuple[str, ...] = ("planner", "coder", "vision", "ocr")
ROLE_LABELS = {
    "planner": "Planner (Scout, Inspector verdict)",
    "coder": "Coder (Mechanic)",
    "vision": "Vision",
    "ocr": "OCR",
}


@dataclass
class ModelListing:
    choices: dict[str, list[str]] = field(default_factory=dict)
    message: str = ""


def list_models(credentials: Credentials) -> ModelListing:
    """Placeholder until the client layer lands."""
    return ModelListing({}, "The models list is not available yet.")
