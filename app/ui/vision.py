"""The Vision tab (placeholder)."""

from __future__ import annotations

import gradio as gr


def build_vision_tab(settings_state: gr.State, api_key: gr.Textbox) -> None:
    gr.Markdown("Vision: coming soon.")
