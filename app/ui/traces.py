"""The Traces tab: runs from the SQLite store, a run's timeline, each attempt, export as JSON.

In private mode (a hosted Space) a session lists and opens only the runs it made itself.
How a run is drawn (tables, chart, summary, diffs) is :mod:`app.ui.traces_render`'s, re-exported
here with the tab's handlers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app.ui import services
from app.ui.media import download_dir, pngs_to_images
from app.ui.traces_render import (
    SPANNING_VIEWS,
    TIMELINE_COLUMNS,
    attempt_errors,
    attempt_label,
    chart_frame,
    code_diff,
    summary_markdown,
    timeline_frame,
    when,
)
from executor import ExecutionResult
from executor.trace_store import RunNotFoundError

RUN_COLUMNS = ["run", "started", "task", "status", "duration (s)", "tokens"]
MAX_RUNS_LISTED = 200
NO_RUN = "Pick a run in the table (or paste its id) to see its timeline."
NO_RUNS_YET = (
    "**No runs yet.** Run a task in the **Chat** tab: each run's steps, code, output and "
    "timings show up here."
)


def _visible_run_ids(session: Any) -> set[str] | None:
    """None means every run; in private mode only this session's own."""
    if not services.private_mode():
        return None
    return set(getattr(session, "run_ids", []) or [])


def list_runs(session: Any = None) -> pd.DataFrame:
    """The most recent runs, newest first."""
    visible = _visible_run_ids(session)
    rows = []
    for run in services.trace_store().list_runs(limit=MAX_RUNS_LISTED):
        if visible is not None and run.id not in visible:
            continue
        rows.append(
            [
                run.id[:12],
                when(run.created_at),
                run.task.splitlines()[0][:90] if run.task else "",
                run.status,
                round((run.total_duration_ms or 0) / 1000, 2),
                run.total_tokens or 0,
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def runs_view(session: Any = None) -> tuple[pd.DataFrame, Any, Any]:
    """(runs table, empty-state update, table update): "No runs yet" instead of empty boxes."""
    frame = list_runs(session)
    empty = frame.empty
    return frame, gr.update(visible=empty), gr.update(visible=not empty)


def _load(run_id: str, session: Any) -> Any:
    """The stored run, or ``None`` when it does not exist or is not this session's to see."""
    run_id = (run_id or "").strip()
    if not run_id:
        return None
    store = services.trace_store()
    try:
        full_id = store.resolve_id(run_id)
    except RunNotFoundError:
        return None
    visible = _visible_run_ids(session)
    if visible is not None and full_id not in visible:
        return None
    return store.get_run(full_id)


def _result(run: Any) -> ExecutionResult | None:
    if not run.result:
        return None
    try:
        return ExecutionResult.from_dict(run.result)
    except (KeyError, TypeError, ValueError):
        return None


def open_run(run_id: str, session: Any = None) -> tuple[str, pd.DataFrame, pd.DataFrame, Any, Any]:
    """(summary, timeline table, chart data, attempt picker update, details update) for a run;
    the details (timeline, chart, attempts) stay hidden until there is a run to show."""
    run = _load(run_id, session)
    if run is None:
        message = NO_RUN if not (run_id or "").strip() else f"No run `{run_id.strip()}` here."
        return (
            message,
            timeline_frame([]),
            chart_frame([]),
            gr.update(choices=[], value=None),
            gr.update(visible=False),
        )
    result = _result(run)
    labels = (
        [attempt_label(i, result) for i in range(1, len(result.iterations) + 1)] if result else []
    )
    return (
        summary_markdown(run, result),
        timeline_frame(run.events),
        chart_frame(run.events),
        gr.update(choices=labels, value=labels[-1] if labels else None),
        gr.update(visible=True),
    )


def show_attempt(
    run_id: str, label: str | None, session: Any = None
) -> tuple[str, str, str, str, list]:
    """(code, diff from the previous attempt, stdout, errors, images) for one attempt."""
    run = _load(run_id, session)
    result = _result(run) if run is not None else None
    if result is None or not label or not result.iterations:
        return "", "", "", "", []
    try:
        number = int(label.split()[1])
        attempt = result.iterations[number - 1]
    except (IndexError, ValueError):
        return "", "", "", "", []
    previous = result.iterations[number - 2].code if number > 1 else ""
    return (
        attempt.code,
        code_diff(previous, attempt.code, number),
        attempt.stdout,
        attempt_errors(attempt),
        pngs_to_images(attempt.images),
    )


def export_run(run_id: str, session: Any = None) -> str | None:
    """Write the run as JSON (the same format as ``traces export``) and return the file's path."""
    run = _load(run_id, session)
    if run is None:
        raise gr.Error("Open a run first.")
    data = services.trace_store().export_run(run.summary.id)
    directory = _exports_dir()
    path = directory / f"run-{run.summary.id[:12]}.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return str(path)


def _exports_dir(max_age_s: float = 3600) -> Path:
    """Where exports are written (a fresh download dir; older ones are swept)."""
    return download_dir("mistral-executor-exports", max_age_s)


def select_run(event: gr.SelectData) -> str:
    """A click anywhere in a row of the runs table picks that row's run."""
    row = event.row_value or []
    return str(row[0]) if row else ""


def build_traces_tab(demo: gr.Blocks, chat_state: gr.State) -> list:
    """Lay out the tab and wire its events (inside an open ``gr.Tab``); returns the outputs of
    :func:`runs_view` so the app refreshes them when the tab is shown."""
    private: dict[str, Any] = {"api_visibility": "private"}
    empty = gr.Markdown(NO_RUNS_YET, elem_id="traces-empty", visible=False)
    with gr.Column(elem_id="traces-listing") as listing_box:
        with gr.Row():
            refresh = gr.Button(
                "Refresh", size="sm", elem_id="traces-refresh", scale=0, min_width=90
            )
            run_id = gr.Textbox(
                label="Run id",
                placeholder="click a row, or paste an id (a prefix is enough)",
                elem_id="traces-run-id",
                scale=3,
                min_width=160,
            )
            open_button = gr.Button(
                "Open", variant="primary", elem_id="traces-open", scale=0, min_width=80
            )
        runs = gr.Dataframe(
            headers=RUN_COLUMNS,
            interactive=False,
            elem_id="traces-runs",
            max_height=300,
            wrap=True,
            label="Runs",
        )
        summary = gr.Markdown(NO_RUN, elem_id="traces-summary")
    with gr.Column(visible=False, elem_id="traces-details") as details:
        with gr.Row():
            timeline = gr.Dataframe(
                headers=TIMELINE_COLUMNS,
                interactive=False,
                elem_id="traces-timeline",
                max_height=360,
                wrap=True,
                label="Timeline",
                scale=3,
                min_width=300,
            )
            chart = gr.BarPlot(
                x="step",
                y="duration (ms)",
                color="phase",
                sort="x",
                x_label_angle=-45,
                label="Where the time went",
                elem_id="traces-chart",
                scale=2,
                height=360,
                min_width=280,
            )
        attempt = gr.Dropdown(label="Attempt", choices=[], elem_id="traces-attempt")
        with gr.Row():
            code = gr.Code(
                language="python",
                label="Code",
                interactive=False,
                elem_id="traces-code",
                min_width=280,
            )
            with gr.Column(min_width=280):
                gr.Markdown("**Diff from the previous attempt**")
                diff = gr.HTML(elem_id="traces-diff", elem_classes=["traces-diff"])
        with gr.Row():
            stdout = gr.Textbox(
                label="stdout", lines=6, max_lines=20, elem_id="traces-stdout", min_width=240
            )
            errors = gr.Textbox(
                label="errors", lines=6, max_lines=20, elem_id="traces-errors", min_width=240
            )
        images = gr.Gallery(
            label="figures",
            format="png",
            columns=3,
            fit_columns=False,
            height="auto",
            object_fit="contain",
            elem_id="traces-images",
        )
        with gr.Row():
            export = gr.Button("Export JSON", elem_id="traces-export", scale=0, min_width=120)
            exported = gr.File(
                label="Exported run", elem_id="traces-exported", scale=2, height=90, min_width=200
            )

    listing = [runs, empty, listing_box]
    gr.on([refresh.click], runs_view, inputs=chat_state, outputs=listing, **private)
    demo.load(runs_view, inputs=chat_state, outputs=listing, show_progress="hidden", **private)
    run_outputs = [summary, timeline, chart, attempt, details]
    opened = gr.on(
        [open_button.click, run_id.submit],
        open_run,
        inputs=[run_id, chat_state],
        outputs=run_outputs,
        **private,
    )
    picked = runs.select(select_run, outputs=run_id, **private)
    picked.then(open_run, inputs=[run_id, chat_state], outputs=run_outputs, **private)
    attempt.change(
        show_attempt,
        inputs=[run_id, attempt, chat_state],
        outputs=[code, diff, stdout, errors, images],
        **private,
    )
    opened.then(lambda: None, outputs=exported, **private)
    export.click(export_run, inputs=[run_id, chat_state], outputs=exported, **private)
    return listing


__all__ = [
    "NO_RUN",
    "NO_RUNS_YET",
    "RUN_COLUMNS",
    "SPANNING_VIEWS",
    "TIMELINE_COLUMNS",
    "attempt_label",
    "build_traces_tab",
    "chart_frame",
    "code_diff",
    "export_run",
    "list_runs",
    "open_run",
    "runs_view",
    "select_run",
    "show_attempt",
    "summary_markdown",
    "timeline_frame",
]
