"""The Traces tab (placeholder)."""

from __future__ import annotations

import gradio as gr


def build_traces_tab() -> None:
    gr.Markdown("Traces: coming soon.")
