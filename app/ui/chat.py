"""The Chat tab (placeholder)."""

from __future__ import annotations

import gradio as gr


def build_chat_tab(settings_state: gr.State, api_key: gr.Textbox) -> None:
    gr.Markdown("Chat: coming soon.")
