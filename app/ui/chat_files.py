"""Files in the chat: data files attached to a task, the files a program wrote, its tables.

An attachment is either an image (it goes to the vision model, as before) or a data file (CSV,
TSV, XLSX, JSON, Parquet, TXT, PDF: it goes into the run's work dir and is profiled there). The
upload limits are checked before any run starts, and a refusal names the file and the cap:
``MISTRAL_EXECUTOR_MAX_FILE_MB`` per file (default 200) and ``MISTRAL_EXECUTOR_MAX_FILES`` per
message (default 20). Output files come back as download links with their size, tables as HTML
tables (escaped), under the answer.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from app.ui.media import download_dir
from executor.datafiles import (
    DATA_EXTENSIONS,
    IMAGE_EXTENSIONS,
    MAX_FILE_MB_ENV,
    MAX_FILES_ENV,
    DataFileError,
    FileLimits,
    human_size,
    write_outputs,
)
from executor.tables import table_html

ACCEPTED_TYPES = ["image", *DATA_EXTENSIONS]
OUTPUT_ROOT = "mistral-executor-outputs"
MAX_TABLES_SHOWN = 5


def is_image(path: str) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def split_attachments(paths: list[str]) -> tuple[list[str], list[str]]:
    """(images for the vision model, data files for the work dir)."""
    images = [p for p in paths if is_image(p)]
    return images, [p for p in paths if not is_image(p)]


def check_uploads(paths: list[str], limits: FileLimits | None = None) -> str | None:
    """Why these attachments cannot be sent (which file, which cap), or None when they can."""
    try:
        limits = limits or FileLimits.from_env()
    except DataFileError as exc:
        return f"The host's upload settings are wrong: {exc}"
    if len(paths) > limits.max_files:
        return (
            f"**Too many files:** {len(paths)} attached, at most {limits.max_files} per message "
            f"(the host sets this with `{MAX_FILES_ENV}`)."
        )
    for path in paths:
        name = Path(path).name
        suffix = Path(path).suffix.lower()
        if suffix not in DATA_EXTENSIONS and suffix not in IMAGE_EXTENSIONS:
            kinds = ", ".join(e.lstrip(".").upper() for e in DATA_EXTENSIONS)
            return f"**{name} cannot be attached:** data files must be {kinds}, or an image."
        try:
            size = Path(path).stat().st_size
        except OSError:
            return f"**{name} cannot be read** (the upload may have expired): attach it again."
        if size > limits.max_file_bytes:
            return (
                f"**{name} is too large:** {human_size(size)}, over the "
                f"{limits.describe_size()} per-file limit (the host sets this with "
                f"`{MAX_FILE_MB_ENV}`)."
            )
    return None


def attachment_message(path: str) -> gr.ChatMessage:
    """A data file on the user's side of the chat, shown as an attachment."""
    return gr.ChatMessage(role="user", content={"path": path, "alt_text": Path(path).name})


def _output_dir(max_age_s: float = 7200) -> Path:
    return download_dir(OUTPUT_ROOT, max_age_s)


def output_messages(result: Any) -> list[gr.ChatMessage]:
    """The tables the accepted program displayed, then its output files as downloads."""
    messages: list[gr.ChatMessage] = []
    shown_tables = list(getattr(result, "tables", []) or [])[:MAX_TABLES_SHOWN]
    for number, table in enumerate(shown_tables, 1):
        messages.append(gr.ChatMessage(content=_table_markdown(table, number)))
    artifacts = dict(getattr(result, "artifacts", {}) or {})
    if not artifacts:
        return messages
    written = write_outputs(artifacts, _output_dir())
    listing = "\n".join(f"- {_name(p.name)} ({human_size(p.stat().st_size)})" for p in written)
    messages.append(gr.ChatMessage(content=f"**Output files**\n{listing}"))
    for path in written:
        messages.append(gr.ChatMessage(content={"path": str(path), "alt_text": path.name}))
    return messages


def result_extras(result: Any) -> list[str]:
    """For the Traces tab's summary: the tables (as HTML tables) and the output files' names."""
    parts = []
    for number, table in enumerate(list(getattr(result, "tables", []) or [])[:MAX_TABLES_SHOWN], 1):
        parts.append(_table_markdown(table, number))
    artifacts = getattr(result, "artifacts", {}) or {}
    if artifacts:
        parts.append(
            "**Output files**: "
            + ", ".join(
                f"{_name(name)} ({human_size(len(data))})" for name, data in artifacts.items()
            )
        )
    return parts


def _name(name: str) -> str:
    """A program-chosen file name as inert text in markdown (escaped, in <code>)."""
    return f"<code>{html.escape(str(name))}</code>"


def _table_markdown(table: dict[str, Any], number: int) -> str:
    """A table under a bold title; the title (a Series name the program chose) is escaped."""
    title = html.escape(str(table.get("name") or f"Table {number}"))
    return f'<b>{title}</b>\n\n<div class="mx-table-wrap">{table_html(table)}</div>'
