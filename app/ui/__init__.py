"""The Gradio app: one module per tab, assembled here.

``build_app()`` returns the ``gr.Blocks``; ``launch()`` serves it with the queue settings that let
several visitors run at once. Handlers live in the tab modules as plain functions so tests can call
them without a browser.
"""

from __future__ import annotations

import os

import gradio as gr

from app.ui.session import SessionSettings
from mistral_executor.settings import get_settings

# Concurrency: a chat run mostly waits on the model and the sandbox, so several can overlap; the
# queue bound keeps a burst of visitors from piling up unbounded work on a small host.
DEFAULT_CONCURRENCY = 8
QUEUE_MAX_SIZE = 64
# Files cached for the browser (figures, uploads) are swept every 30 min once older than 2 h.
DELETE_CACHE = (1800, 7200)

THEME = gr.themes.Soft(primary_hue="orange", secondary_hue="amber", neutral_hue="slate")
CSS = """
/* width: 100% with min-width: 0 -- with margin: auto alone the page grows to its widest
   content (a table, a long code line) and scrolls sideways on a phone. */
.gradio-container { max-width: 1280px !important; margin: auto; width: 100% !important;
  min-width: 0 !important; }
#app-tabs, #app-tabs > .tabitem, #app-tabs .column, #app-tabs .row > *, #app-tabs .block {
  min-width: 0; max-width: 100%; }
#app-title { margin-bottom: 0; }
#app-title h1 { margin: 0; font-size: 1.5rem; display: inline; }
#app-title p { margin: 0.15rem 0 0; font-size: 0.9rem; }
#chat-key-notice { border-left: 4px solid var(--color-accent); padding-left: 0.75rem; gap: 0.4rem; }
#chat-key-notice p { margin: 0; }
/* The run's steps and code read better at full width than in a content-sized bubble. */
#chatbot .bubble.bot-row { width: calc(100% - var(--spacing-xl) * 6); }
#chat-controls { align-items: center; }
/* Tables scroll inside their own box; the page itself never scrolls sideways. */
.table-wrap, .table-container { max-width: 100%; overflow-x: auto; }
/* Headers never wrap letter by letter: a column is at least as wide as its header. */
#app-tabs th, #app-tabs th span { white-space: nowrap !important; word-break: keep-all !important; }
#app-tabs td { word-break: normal; overflow-wrap: anywhere; }
.traces-diff pre { margin: 0; overflow-x: auto; }
.traces-diff .add { background: #e6ffec; color: #116329; }
.traces-diff .del { background: #ffebe9; color: #82071e; }
.traces-diff .hunk { color: #6639ba; }
/* Phones: every tab (Settings too) stays in the tab bar rather than behind a "more" menu. */
@media (max-width: 520px) {
  #app-tabs .tab-container button { padding: 4px 5px; font-size: 13px; min-width: 0; }
  #app-title p { display: none; }
}
"""


def build_app() -> gr.Blocks:
    """The whole UI. Every visitor gets their own copy of each ``gr.State``: nothing is shared."""
    from app.ui import api, chat, plugins_tab, sandbox_tab, settings, traces, vision

    with gr.Blocks(title="mistral-executor", delete_cache=DELETE_CACHE) as demo:
        settings_state = gr.State(SessionSettings())
        # Deep-copied per session by Gradio; the callback stops a run left behind when the
        # visitor's session ends.
        chat_state = gr.State(chat.ChatSession(), delete_callback=chat.close_session)
        # Rendered in the Settings tab; created first so every tab can take it as an input.
        api_key = gr.Textbox(
            label="Mistral API key",
            type="password",
            placeholder="paste your key; it stays in this browser tab",
            elem_id="settings-api-key",
            render=False,
        )
        gr.Markdown(
            "# mistral-executor\nScout plans, Mechanic writes Python, Inspector runs and checks "
            "it in a sandbox, Iterate heals it until the task is done.",
            elem_id="app-title",
        )
        with gr.Tabs(elem_id="app-tabs") as tabs:
            with gr.Tab("Chat", id="chat"):
                chat_tab = chat.build_chat_tab(settings_state, api_key, chat_state, demo)
            with gr.Tab("Vision", id="vision"):
                vision.build_vision_tab(settings_state, api_key)
            with gr.Tab("Traces", id="traces") as traces_tab:
                runs_listing = traces.build_traces_tab(demo, chat_state)
            with gr.Tab("Sandbox", id="sandbox"):
                sandbox_code = sandbox_tab.build_sandbox_tab(demo)
            with gr.Tab("Plugins", id="plugins"):
                plugins_tab.build_plugins_tab(demo, settings_state, api_key, chat_state)
            with gr.Tab("Settings", id="settings"):
                settings.build_settings_tab(settings_state, api_key)
        # Runs made in the Chat tab show up when the visitor looks at the Traces tab.
        traces_tab.select(
            traces.runs_view,
            inputs=chat_state,
            outputs=runs_listing,
            show_progress="hidden",
            api_visibility="private",
        )
        # A failed run's code goes to the Sandbox tab, to be tried and fixed by hand.
        chat_tab.open_sandbox.click(
            chat.open_in_sandbox,
            inputs=chat_state,
            outputs=[sandbox_code, tabs],
            queue=False,
            api_visibility="private",
        )
        api.register_api()  # the public API: run_task, run_code, list_models
    return demo


def launch(
    host: str | None = None,
    port: int | None = None,
    *,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve the app. ``host``/``port`` default to Gradio's env vars, then 127.0.0.1:7860."""
    # Analytics would send usage pings to a third party from a hosted app; nobody asked for that.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from app.ui.api import mcp_enabled
    from app.ui.services import loaded_plugins

    settings = get_settings()
    # The plugins load once, here at start-up (as the CLI does), not on the first visitor's
    # request: every tab and session then shares them (``plugins.get_plugins()``).
    loaded_plugins()
    demo = build_app()
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    demo.launch(
        server_name=host or settings.gradio_server_name,
        server_port=port or settings.gradio_server_port,
        theme=THEME,
        css=CSS,
        # Run history would keep every request's inputs -- the API key among them -- in the
        # browser's storage: not wanted. The MCP server serves the public API (app/ui/api.py)
        # only, and only when the host turns it on.
        run_history=False,
        mcp_server=mcp_enabled(),  # the host's choice (MISTRAL_EXECUTOR_MCP_SERVER)
        footer_links=["gradio"],
        # Handlers turn failures into readable messages themselves (gr.Error is always shown);
        # raw exception text from deeper layers stays in the server log.
        show_error=False,
        quiet=quiet,
        prevent_thread_lock=not block,
    )
    return demo


__all__ = ["build_app", "launch"]
