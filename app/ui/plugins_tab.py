"""The Plugins tab (placeholder)."""

from __future__ import annotations

import gradio as gr


def build_plugins_tab(settings_state: gr.State, api_key: gr.Textbox) -> None:
    gr.Markdown("Plugins: coming soon.")
