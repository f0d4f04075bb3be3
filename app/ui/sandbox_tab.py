"""The Sandbox tab: run Python directly, no model and no API key involved.

It is the one tab that must work on a fresh deployment with nothing configured, so it depends on
the sandbox package alone.
"""

from __future__ import annotations

import gradio as gr

from app.ui.media import pngs_to_images
from app.ui.session import (
    MEMORY_CAP_MB,
    MIN_MEMORY_MB,
    TIMEOUT_CAP_S,
    clamp_float,
    clamp_int,
    default_sandbox,
)
from plugins.sandboxes import available_backends, choose_backend
from sandbox import Limits, RunResult, SandboxError
from sandbox.factory import backend_specs, explain_auto
from sandbox.shared import shared_sandbox

# Source larger than this is refused before a sandbox is even started.
MAX_CODE_CHARS = 100_000
SANDBOX_CONCURRENCY = 2

EXAMPLE_CODE = """\
import math
import matplotlib.pyplot as plt

xs = [i / 10 for i in range(63)]
plt.plot(xs, [math.sin(x) for x in xs], label="sin")
plt.legend()
print("sum of squares 1..10 =", sum(i * i for i in range(1, 11)))
"""


def backend_status_markdown() -> str:
    """Each backend with whether it can be used here, and why not when it cannot."""
    try:
        choice = explain_auto()
        lines = [f"`auto` currently means **{choice.backend}** ({choice.reason})."]
    except SandboxError as exc:
        lines = [f"`auto` cannot be resolved: {exc}"]
    for name, spec in backend_specs().items():
        try:
            reason = spec.unavailable_reason()
        except Exception as exc:  # a plugin backend's check must not break the tab
            reason = f"its availability check failed: {exc}"
        state = "available" if reason is None else f"unavailable: {reason}"
        description = f" ({spec.description})" if spec.description else ""
        lines.append(f"- `{name}`{description}: {state}")
    return "\n".join(lines)


def run_in_sandbox(
    code: str, backend: str, timeout_s: float, memory_mb: float
) -> tuple[str, str, str, list]:
    """Run ``code`` and return (status markdown, stdout, errors, images) for the tab's outputs."""
    code = code or ""
    if not code.strip():
        return "Nothing to run: write some Python first.", "", "", []
    if len(code) > MAX_CODE_CHARS:
        return (
            f"The code is too long ({len(code):,} characters; at most {MAX_CODE_CHARS:,}).",
            "",
            "",
            [],
        )
    known = available_backends()
    if backend not in known:
        return (
            f"Unknown backend {backend!r}; choose one of {', '.join(known)}.",
            "",
            "",
            [],
        )
    limits = Limits(
        timeout_s=clamp_float(timeout_s, 0.5, TIMEOUT_CAP_S),
        memory_mb=clamp_int(memory_mb, MIN_MEMORY_MB, MEMORY_CAP_MB),
    )
    try:
        choice = choose_backend(backend)
        result = shared_sandbox(choice.backend, limits).run(code)
    except SandboxError as exc:
        return f"**The sandbox could not start.** {exc}", "", "", []
    status = f"{summarize(result)} Backend `{choice.backend}`: {choice.reason}."
    return status, result.stdout, describe_errors(result), pngs_to_images(result.images)


def summarize(result: RunResult) -> str:
    seconds = result.duration_ms / 1000
    where = f" on `{result.backend}`" if result.backend else ""
    if result.ok:
        figures = f", {len(result.images)} figure(s)" if result.images else ""
        return f"**Finished**{where} in {seconds:.2f} s{figures}."
    if result.limit_hit:
        return f"**Stopped: the {result.limit_hit} limit was hit**{where} after {seconds:.2f} s."
    kind = result.error.kind if result.error else "unknown"
    return f"**Failed** ({kind} error){where} after {seconds:.2f} s."


def describe_errors(result: RunResult) -> str:
    parts = []
    if result.error:
        parts.append(result.error.traceback.strip() or str(result.error))
    if result.limit_hit and not result.error:
        parts.append(f"limit hit: {result.limit_hit}")
    if result.stderr.strip():
        parts.append(result.stderr.rstrip())
    return "\n\n".join(parts)


def build_sandbox_tab(demo: gr.Blocks) -> gr.Code:
    """Lay out the tab and wire its events (inside an open ``gr.Tab``); returns the code editor
    (the Chat tab's "Open in Sandbox" fills it)."""
    gr.Markdown(
        "Run Python directly in the sandbox: no model and no API key involved. "
        "Figures left open by matplotlib show up below."
    )
    with gr.Row():
        with gr.Column(scale=3):
            code = gr.Code(
                EXAMPLE_CODE,
                language="python",
                interactive=True,
                label="Code",
                lines=14,
                elem_id="sandbox-code",
            )
        with gr.Column(scale=1, min_width=220):
            backend = gr.Dropdown(
                available_backends(),
                value=default_sandbox(),
                label="Backend",
                elem_id="sandbox-backend",
            )
            timeout = gr.Slider(
                0.5,
                TIMEOUT_CAP_S,
                value=10,
                step=0.5,
                label="Timeout (s)",
                elem_id="sandbox-timeout",
            )
            memory = gr.Slider(
                MIN_MEMORY_MB,
                MEMORY_CAP_MB,
                value=512,
                step=64,
                label="Memory (MB)",
                elem_id="sandbox-memory",
            )
            run = gr.Button("Run", variant="primary", elem_id="sandbox-run")
    status = gr.Markdown(elem_id="sandbox-status")
    with gr.Row():
        stdout = gr.Textbox(label="stdout", lines=8, max_lines=30, elem_id="sandbox-stdout")
        errors = gr.Textbox(label="errors", lines=8, max_lines=30, elem_id="sandbox-errors")
    images = gr.Gallery(
        label="figures",
        format="png",
        columns=3,
        fit_columns=False,
        height="auto",
        object_fit="contain",
        elem_id="sandbox-images",
    )
    with gr.Accordion("Backends", open=False):
        backends = gr.Markdown(elem_id="sandbox-backends")
    run.click(
        run_in_sandbox,
        inputs=[code, backend, timeout, memory],
        outputs=[status, stdout, errors, images],
        concurrency_limit=SANDBOX_CONCURRENCY,
        concurrency_id="sandbox",
        api_visibility="private",
    )
    demo.load(backend_status_markdown, outputs=backends, api_visibility="private")
    return code
