"""Rich results: DataFrames and Series a program displays come back as tables.

Works the same on every backend without touching the sandbox runtime: before a program runs,
its session gets the ``display(obj)`` helper (``executor/sandboxside/display.py``), and the
program's last expression, as in a notebook, is wrapped in ``mx_show_last(...)`` in place (the
same lines and columns, so error line numbers still point at the user's code). The helper
prints one marker line per table; ``take_tables`` turns those lines back into table dicts and
puts an aligned text rendering in their place, so the printed output, the checks and the
verdict see the table as text while the UI gets the structure.

A table is ``{"kind", "name", "columns", "rows", "index_columns", "total_rows",
"total_columns"}``: at most 50 rows and 30 columns of JSON values, with the totals.
"""

from __future__ import annotations

import ast
import json
import logging
from typing import Any

from executor.sandboxside import source

log = logging.getLogger(__name__)
TABLE_MARK = "@@mistral-executor-table@@"
MAX_TABLES = 20


def display_helper() -> str:
    return source("display")


def needs_helper(code: str) -> bool:
    """Whether a program needs the helper: it calls ``display``, or it uses pandas and ends
    with an expression. Any other program runs as written, with no extra sandbox run."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    calls_display = any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "display"
        for node in ast.walk(tree)
    )
    if calls_display:
        return True
    last = tree.body[-1].value if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if last is None or isinstance(last, ast.Constant):
        return False
    if isinstance(last, ast.Call):
        func = last.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in ("print", "show", "savefig", "close", "to_csv", "to_excel", "to_parquet"):
            return False  # returns None: nothing to display
    return "pandas" in code


def show_last_expression(code: str) -> str:
    """``code`` with its last top-level expression statement wrapped in ``mx_show_last(...)``,
    edited in place (line numbers unchanged); unchanged when there is none or it cannot parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return code
    node = tree.body[-1].value
    if isinstance(node, ast.Constant) or node.end_lineno is None or node.end_col_offset is None:
        return code
    lines = code.splitlines(keepends=True)
    start, end = node.lineno - 1, node.end_lineno - 1
    if end >= len(lines):
        return code
    # ast columns are UTF-8 byte offsets: edit the encoded lines.
    first = lines[start].encode("utf-8")
    last = lines[end].encode("utf-8") if end != start else first
    closed = last[: node.end_col_offset] + b")" + last[node.end_col_offset :]
    if end == start:
        edited = closed[: node.col_offset] + b"mx_show_last(" + closed[node.col_offset :]
        lines[start] = edited.decode("utf-8")
    else:
        lines[end] = closed.decode("utf-8")
        lines[start] = (
            first[: node.col_offset] + b"mx_show_last(" + first[node.col_offset :]
        ).decode("utf-8")
    return "".join(lines)


def take_tables(stdout: str) -> tuple[str, list[dict[str, Any]]]:
    """The printed output with each table marker line replaced by aligned text, and the tables."""
    if TABLE_MARK not in stdout:
        return stdout, []
    out: list[str] = []
    tables: list[dict[str, Any]] = []
    for line in stdout.splitlines(keepends=True):
        if line.startswith(TABLE_MARK) and len(tables) < MAX_TABLES:
            table = _parse(line[len(TABLE_MARK) :])
            if table is not None:
                tables.append(table)
                out.append(table_text(table) + "\n")
                continue
        out.append(line)
    return "".join(out), tables


def _parse(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    columns = data.get("columns")
    rows = data.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        return None
    width = len(columns)
    clean_rows = [
        [_cell(v) for v in (row + [None] * width)[:width]] for row in rows if isinstance(row, list)
    ][:50]
    return {
        "kind": str(data.get("kind", "DataFrame")),
        "name": str(data.get("name", "")),
        "columns": [str(c) for c in columns][:40],
        "rows": clean_rows,
        "index_columns": int(data.get("index_columns", 0) or 0),
        "total_rows": int(data.get("total_rows", len(clean_rows)) or 0),
        "total_columns": int(data.get("total_columns", width) or 0),
    }


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:200]


def _show(value: Any) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("\n", " ")


def table_text(table: dict[str, Any], max_width: int = 40) -> str:
    """The table as aligned text (numbers right-aligned), with the totals when clipped."""
    columns = [str(c) for c in table.get("columns", [])]
    rows = [[_show(v) for v in row] for row in table.get("rows", [])]
    cells = [columns, *rows]
    widths = [
        min(max((len(r[i]) for r in cells if i < len(r)), default=0), max_width)
        for i in range(len(columns))
    ]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in table.get("rows", []))
        for i in range(len(columns))
    ]

    def fmt(row: list[str]) -> str:
        parts = []
        for i, width in enumerate(widths):
            text = row[i] if i < len(row) else ""
            text = text if len(text) <= width else text[: width - 1] + "…"
            parts.append(text.rjust(width) if numeric[i] else text.ljust(width))
        return "  ".join(parts).rstrip()

    lines = [fmt(columns)] + [fmt(r) for r in rows]
    total_rows, total_cols = table.get("total_rows", len(rows)), table.get("total_columns", 0)
    shown_cols = len(columns) - int(table.get("index_columns", 0))
    if total_rows > len(rows) or total_cols > shown_cols:
        lines.append(
            f"[{total_rows} rows x {total_cols} columns; showing {len(rows)} x {shown_cols}]"
        )
    return "\n".join(lines)


def table_html(table: dict[str, Any]) -> str:
    """The table as an HTML ``<table>`` (every cell escaped), for the chat and the Traces tab."""
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.get("columns", []))
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_show(v))}</td>" for v in row) + "</tr>"
        for row in table.get("rows", [])
    )
    rows, total = len(table.get("rows", [])), table.get("total_rows", 0)
    cols = len(table.get("columns", [])) - int(table.get("index_columns", 0))
    caption = f"{total} rows x {table.get('total_columns', cols)} columns"
    if total > rows or table.get("total_columns", cols) > cols:
        caption += f" (showing {rows} x {cols})"
    return (
        f'<table class="mx-table"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def prepare_session(ctx: Any, session_id: str) -> bool:
    """Define ``display`` in the program's session (its first run, which also places the input
    files); False when the backend refused it (the program then runs unwrapped, no tables)."""
    from executor.run_context import Cancelled

    try:
        result = ctx.run_code(display_helper(), session_id=session_id)
    except Cancelled:
        raise
    except Exception:  # a backend problem shows again, with its message, when the program runs
        log.debug("the display helper could not be set up", exc_info=True)
        return False
    return result.error is None and result.limit_hit is None
