"""The Plugins tab: what is loaded (and what failed), and the document library's uploads.

Works without an API key: the connectors then report the local fallback they will use, and
uploaded documents are indexed locally (BM25) so ``search_documents`` still finds them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app.ui import services
from app.ui.session import SessionSettings, resolve_credentials
from sandbox.factory import backend_specs

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DOCUMENT_TYPES = (".txt", ".md", ".markdown", ".pdf")
PLUGIN_COLUMNS = ["plugin", "source", "version", "hooks"]
TOOL_COLUMNS = ["tool", "plugin", "connector", "description"]
CONNECTOR_COLUMNS = ["connector", "serves with", "why"]
SANDBOX_COLUMNS = ["sandbox", "status", "description"]
DOCUMENT_COLUMNS = ["document", "chunks", "size (KB)", "search"]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _context(api_key: str, settings: SessionSettings, session: Any) -> tuple[Any, Path]:
    credentials = resolve_credentials(api_key, settings)
    home, session.documents_home = services.session_documents_home(session.documents_home)
    return services.connector_context(credentials, Path(home)), Path(home)


def plugins_overview(
    api_key: str, settings: SessionSettings, session: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """(plugins, tools, connectors, sandboxes, failures markdown) as this session would use them."""
    from app.commands.plugins_cmd import plugins_report
    from plugins import get_plugins

    ctx, _ = _context(api_key, settings, session)
    report = plugins_report(get_plugins(), ctx)
    plugins, tools, connectors = [], [], []
    for entry in report["plugins"]:
        plugins.append(
            [entry["name"], entry["source"], entry["version"] or "", ", ".join(entry["hooks"])]
        )
        tools += [
            [t["name"], entry["name"], t["connector"] or "", _first_line(t["description"])]
            for t in entry["tools"]
        ]
        for conn in entry["connectors"]:
            why_local = conn["mistral_unavailable"]
            serving = "local" if why_local else f"Mistral {conn['mistral_tool']} (local fallback)"
            connectors.append([conn["name"], serving, why_local or "key set and enabled"])
    failures = report["failures"]
    if failures:
        failures_md = "**Left out (failed to load):**\n" + "\n".join(
            f"- `{f['name']}` ({f['source']}, at {f['stage']}): {f['error']}" for f in failures
        )
    else:
        failures_md = "Every plugin loaded."
    return (
        pd.DataFrame(plugins, columns=PLUGIN_COLUMNS),
        pd.DataFrame(tools, columns=TOOL_COLUMNS),
        pd.DataFrame(connectors, columns=CONNECTOR_COLUMNS),
        sandboxes_frame(),
        failures_md,
    )


def sandboxes_frame() -> pd.DataFrame:
    rows = []
    for name, spec in backend_specs().items():
        try:
            reason = spec.unavailable_reason()
        except Exception as exc:  # a plugin backend's check must not break the tab
            reason = f"availability check failed: {exc}"
        rows.append(
            [name, "available" if reason is None else f"unavailable: {reason}", spec.description]
        )
    return pd.DataFrame(rows, columns=SANDBOX_COLUMNS)


def _library() -> Any:
    from plugins import get_plugins

    return get_plugins().connector("document_library")


def documents_frame(api_key: str, settings: SessionSettings, session: Any) -> pd.DataFrame:
    library = _library()
    if library is None:
        return pd.DataFrame([], columns=DOCUMENT_COLUMNS)
    ctx, _ = _context(api_key, settings, session)
    rows = [
        [
            name,
            record.get("chunks", 0),
            round(record.get("size", 0) / 1024, 1),
            "embeddings + BM25" if record.get("embedded") else "BM25",
        ]
        for name, record in sorted(library.index(ctx).documents.items())
    ]
    return pd.DataFrame(rows, columns=DOCUMENT_COLUMNS)


def upload_documents(
    files: list[str] | None, api_key: str, settings: SessionSettings, session: Any
) -> tuple[str, pd.DataFrame]:
    """Index TXT/MD/PDF files in the document library; (report markdown, library table)."""
    library = _library()
    if library is None:
        return (
            "The document_library plugin is not loaded, so there is no library to add to.",
            pd.DataFrame([], columns=DOCUMENT_COLUMNS),
        )
    ctx, _ = _context(api_key, settings, session)
    lines = []
    for file in files or []:
        path = Path(file)
        if path.suffix.lower() not in DOCUMENT_TYPES:
            lines.append(f"- ❌ {path.name}: only {', '.join(DOCUMENT_TYPES)} files are indexed")
            continue
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            lines.append(f"- ❌ {path.name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB")
            continue
        try:
            output = library.upload(ctx, path.name, path.read_bytes())
        except (ValueError, OSError) as exc:
            lines.append(f"- ❌ {path.name}: {exc}")
            continue
        except Exception as exc:  # a broken PDF, a plugin bug: report it, keep the others
            log.exception("uploading %s failed", path.name)
            lines.append(f"- ❌ {path.name}: {type(exc).__name__}: {exc}")
            continue
        note = f" ({output.reason})" if output.reason and output.served_by == "local" else ""
        lines.append(f"- ✅ {output.text}{note}")
    report = "\n".join(lines) if lines else "Choose one or more TXT, MD or PDF files first."
    return report, documents_frame(api_key, settings, session)


def search_library(query: str, api_key: str, settings: SessionSettings, session: Any) -> str:
    """What ``search_documents`` would answer the model, with its citations."""
    library = _library()
    if library is None:
        return "The document_library plugin is not loaded."
    if not (query or "").strip():
        return "Type something to search for."
    ctx, _ = _context(api_key, settings, session)
    output = library.serve(ctx, query=query.strip(), top_k=5)
    served = (
        f"\n\n<sub>served by {output.served_by}"
        + (f" — {output.reason}" if output.reason else "")
        + "</sub>"
    )
    return f"```text\n{output.text}\n```{served}"


def _table(headers: list[str], label: str, elem_id: str) -> gr.Dataframe:
    """A read-only listing of the tab (long cells wrap; the table scrolls in its own box)."""
    return gr.Dataframe(headers=headers, interactive=False, label=label, elem_id=elem_id, wrap=True)


def build_plugins_tab(
    demo: gr.Blocks, settings_state: gr.State, api_key: gr.Textbox, chat_state: gr.State
) -> None:
    """Lay out the tab and wire its events (inside an open ``gr.Tab``)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    refresh = gr.Button("Refresh", size="sm", elem_id="plugins-refresh")
    failures = gr.Markdown(elem_id="plugins-failures")
    plugins_table = _table(PLUGIN_COLUMNS, "Plugins", "plugins-table")
    with gr.Row():
        tools_table = _table(TOOL_COLUMNS, "Tools", "plugins-tools")
        connectors_table = _table(CONNECTOR_COLUMNS, "Connectors", "plugins-connectors")
    sandboxes_table = _table(SANDBOX_COLUMNS, "Sandboxes", "plugins-sandboxes")
    gr.Markdown(
        "### Document library\nUpload TXT, MD or PDF files; the model finds them with the "
        "`search_documents` tool and cites file and chunk."
        + (
            " On this hosted app the library is private to your session."
            if services.private_mode()
            else ""
        )
    )
    with gr.Row():
        with gr.Column():
            uploads = gr.File(
                file_count="multiple",
                file_types=list(DOCUMENT_TYPES),
                label="Documents",
                elem_id="docs-upload",
                type="filepath",
            )
            add = gr.Button("Add to the library", variant="primary", elem_id="docs-add")
            upload_report = gr.Markdown(elem_id="docs-report")
        with gr.Column():
            documents = gr.Dataframe(
                headers=DOCUMENT_COLUMNS,
                interactive=False,
                label="In the library",
                elem_id="docs-table",
            )
            query = gr.Textbox(
                label="Try a search",
                elem_id="docs-query",
                placeholder="what search_documents would find",
            )
            hits = gr.Markdown(elem_id="docs-hits")

    overview_outputs = [plugins_table, tools_table, connectors_table, sandboxes_table, failures]
    inputs = [api_key, settings_state, chat_state]
    gr.on([refresh.click], plugins_overview, inputs=inputs, outputs=overview_outputs, **private)
    demo.load(
        plugins_overview, inputs=inputs, outputs=overview_outputs, show_progress="hidden", **private
    )
    demo.load(documents_frame, inputs=inputs, outputs=documents, show_progress="hidden", **private)
    add.click(
        upload_documents,
        inputs=[uploads, *inputs],
        outputs=[upload_report, documents],
        concurrency_limit=2,
        concurrency_id="documents",
        **private,
    )
    query.submit(search_library, inputs=[query, *inputs], outputs=hits, **private)
