"""What the plan and the vision model's reading look like in the chat (plain text builders)."""

from __future__ import annotations

from typing import Any

import gradio as gr


def vision_step(plan: dict[str, Any], images: int, model: str = "") -> gr.ChatMessage:
    """What the vision model read from the attached image(s): the plan's observations (the
    facts the code will use), so a visitor can check them -- a receipt's total, a table's cells."""
    observations = str(plan.get("observations") or "").strip()
    parts = []
    if observations:
        parts.append(observations)
    else:
        parts.append("_The vision model noted nothing from the image(s) that the code needs._")
    if not plan.get("needs_code", True) and plan.get("answer"):
        parts.append(f"**Its answer:** {plan['answer']}")
    if model:
        parts.append(f"<sub>model: {model}</sub>")
    noun = "image" if images == 1 else f"{images} images"
    return gr.ChatMessage(
        content="\n\n".join(parts),
        # No status: the step opens expanded, so what was read is in plain sight.
        metadata={"title": f"👁️ Vision · what the model read from the {noun}"},
    )


def describe_plan(plan: dict[str, Any], summary: str = "") -> str:
    parts = []
    if plan.get("summary") or summary:
        parts.append(f"**{plan.get('summary') or summary}**")
    if not plan.get("needs_code", True):
        parts.append("No code needed: the Scout answers directly.")
    for label, key in (
        ("Steps", "steps"),
        ("Edge cases", "edge_cases"),
        ("Success criteria", "success_criteria"),
    ):
        items = plan.get(key) or []
        if items:
            parts.append(
                f"**{label}**\n" + "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
            )
    checks = plan.get("checks") or []
    if checks:
        parts.append("**Checks**\n" + "\n".join(f"- `{check}`" for check in checks))
    return "\n\n".join(parts) or "(empty plan)"
