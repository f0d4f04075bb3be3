"""The Settings tab: this session's key, server, models, sandbox and budget.

Everything chosen here lands in the visitor's own ``gr.State`` (a :class:`SessionSettings`), except
the API key, which stays in the password box and is read by each handler that needs it.
"""

from __future__ import annotations

import logging

import gradio as gr

from app.ui import models as model_lookup
from app.ui.session import (
    MAX_ITERATIONS_CAP,
    MEMORY_CAP_MB,
    MIN_MEMORY_MB,
    TIMEOUT_CAP_S,
    SessionSettings,
    key_status_markdown,
    private_mode,
    resolve_credentials,
)
from plugins.sandboxes import available_backends

log = logging.getLogger(__name__)

AUTO_MODEL = "(automatic)"


def apply_settings(
    settings: SessionSettings,
    api_key: str,
    server_url: str,
    backend: str,
    max_iterations: float,
    timeout_s: float,
    memory_mb: float,
    *role_models: str,
) -> tuple[SessionSettings, str]:
    """Validate the form into a new ``SessionSettings``; returns it and a confirmation line."""
    if backend not in available_backends():
        backend = "auto"
    models = {
        role: model
        for role, model in zip(model_lookup.ROLES, role_models, strict=False)
        if model and model != AUTO_MODEL
    }
    updated = settings.with_changes(
        server_url=server_url or "",
        sandbox=backend,
        max_iterations=max_iterations,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        models=models,
    )
    summary = (
        f"Saved for this session: sandbox `{updated.sandbox}`, up to {updated.max_iterations} "
        f"attempt(s), {updated.timeout_s:g} s and {updated.memory_mb} MB per run"
        + ("; code reviewed before it runs." if updated.review else ".")
    )
    return updated, f"{summary}\n\n{key_status_markdown(api_key, updated)}"


def set_review(settings: SessionSettings, enabled: bool) -> tuple[SessionSettings, str]:
    """The "Review code before it runs" checkbox (this session only; off by default)."""
    updated = settings.with_changes(review=bool(enabled))
    if updated.review:
        return updated, (
            "**Review on:** each run pauses after the Mechanic writes code; you run it, edit "
            "it, or reject it with a note for the model (in the Chat tab)."
        )
    return updated, "**Review off:** code runs as soon as the Mechanic writes it."


def check_key_markdown(api_key: str, settings: SessionSettings) -> str:
    """Apply's second half: whether the server accepts the visitor's key (one cheap call)."""
    credentials = resolve_credentials(api_key, settings)
    if credentials.source != "session":
        return ""  # no key of the visitor's own to check
    return model_lookup.check_key(credentials, settings).message


def refresh_models(api_key: str, settings: SessionSettings, *current: str) -> list:
    """Fill each role's dropdown from the live models list (a built-in list when unreachable)."""
    credentials = resolve_credentials(api_key, settings)
    listing = model_lookup.list_models(credentials, settings)
    updates: list = []
    for role, chosen in zip(model_lookup.ROLES, current, strict=False):
        choices = [AUTO_MODEL, *listing.choices.get(role, [])]
        value = chosen if chosen in choices else AUTO_MODEL
        updates.append(gr.update(choices=choices, value=value))
    return [*updates, listing.message]


def build_settings_tab(settings_state: gr.State, api_key: gr.Textbox) -> None:
    """Lay out the tab (renders the shared ``api_key`` box) and wire its events."""
    defaults = SessionSettings()
    gr.Markdown(
        "Settings apply to **this browser tab only**. The key is never stored on the server, "
        "never logged and never put in a URL; closing the tab forgets it."
    )
    key_status = gr.Markdown(elem_id="settings-key-status")
    key_check = gr.Markdown(elem_id="settings-key-check")
    with gr.Row():
        with gr.Column():
            api_key.render()
            server_url = gr.Textbox(
                label="Server URL",
                placeholder="blank: Mistral's cloud (or MISTRAL_SERVER_URL); e.g. http://localhost:8000",
                info="A self-hosted, OpenAI-compatible server also works. Used with your own key only.",
                elem_id="settings-server-url",
                # A hosted app never sends requests to an address of a visitor's choosing.
                visible=not private_mode(),
            )
            backend = gr.Dropdown(
                available_backends(),
                value=defaults.sandbox,
                label="Sandbox backend",
                elem_id="settings-backend",
            )
            max_iterations = gr.Slider(
                1,
                MAX_ITERATIONS_CAP,
                value=defaults.max_iterations,
                step=1,
                label="Max iterations (attempts per task)",
                elem_id="settings-iterations",
            )
            timeout = gr.Slider(
                0.5,
                TIMEOUT_CAP_S,
                value=defaults.timeout_s,
                step=0.5,
                label="Timeout per run (s)",
                elem_id="settings-timeout",
            )
            memory = gr.Slider(
                MIN_MEMORY_MB,
                MEMORY_CAP_MB,
                value=defaults.memory_mb,
                step=64,
                label="Memory per run (MB)",
                elem_id="settings-memory",
            )
            review = gr.Checkbox(
                value=defaults.review,
                label="Review code before it runs",
                info="Each run pauses after the Mechanic writes code: run it, edit it, or "
                "reject it with a note for the model.",
                elem_id="settings-review",
            )
        with gr.Column():
            gr.Markdown("**Models per role** (from the live models list)")
            role_boxes = [
                gr.Dropdown(
                    [AUTO_MODEL],
                    value=AUTO_MODEL,
                    label=model_lookup.ROLE_LABELS.get(role, role),
                    allow_custom_value=True,
                    elem_id=f"settings-model-{role}",
                )
                for role in model_lookup.ROLES
            ]
            refresh = gr.Button("Refresh models list", elem_id="settings-refresh-models")
            models_status = gr.Markdown(elem_id="settings-models-status")
    save = gr.Button("Apply", variant="primary", elem_id="settings-save")
    saved = gr.Markdown(elem_id="settings-saved")

    form = [api_key, server_url, backend, max_iterations, timeout, memory, *role_boxes]
    # Changes apply as they are made, and with the button.
    triggers = [
        server_url.submit,
        server_url.blur,
        backend.change,
        max_iterations.change,
        timeout.change,
        memory.change,
        *[box.change for box in role_boxes],
    ]
    apply: dict = {
        "inputs": [settings_state, *form],
        "outputs": [settings_state, saved],
        "api_visibility": "private",
        "show_progress": "hidden",
    }
    gr.on(triggers, apply_settings, **apply)
    review.change(
        set_review,
        inputs=[settings_state, review],
        outputs=[settings_state, saved],
        api_visibility="private",
        show_progress="hidden",
    )
    # Apply (or Enter in the key box) saves, then checks the key at once with one cheap call.
    for trigger in (save.click, api_key.submit):
        trigger(apply_settings, **apply).then(
            check_key_markdown,
            inputs=[api_key, settings_state],
            outputs=key_check,
            concurrency_limit=4,
            concurrency_id="key-check",
            api_visibility="private",
            show_progress="minimal",
        )
    # A new key has not been checked yet.
    api_key.input(
        lambda: "", outputs=key_check, queue=False, api_visibility="private", show_progress="hidden"
    )
    refresh.click(
        refresh_models,
        inputs=[api_key, settings_state, *role_boxes],
        outputs=[*role_boxes, models_status],
        concurrency_limit=4,
        api_visibility="private",
    )
    # On page load and whenever the key or the saved settings change.
    gr.on(
        None,
        key_status_markdown,
        inputs=[api_key, settings_state],
        outputs=key_status,
        api_visibility="private",
        show_progress="hidden",
    )
