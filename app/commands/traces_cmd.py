"""``mistral-executor traces``: list, show, export and import stored runs."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.commands.args import shown

if TYPE_CHECKING:
    from executor.trace_store import TraceStore

traces_app = typer.Typer(
    help="Runs stored in the trace store (MISTRAL_EXECUTOR_HOME).", no_args_is_help=True
)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The SQLite file (default: under MISTRAL_EXECUTOR_HOME)."),
]


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"


def _add_row(table: Table, *cells: str) -> None:
    """Stored text as plain Text cells: a str cell would be parsed as rich markup, and a task or
    message holding ``[/x]`` would crash the command (MarkupError)."""
    table.add_row(*(Text(cell) for cell in cells))


_TIMELINE_COLUMNS = ("#", "phase", "attempt", "step", "status", "ms", "tokens", "message")
_RIGHT_ALIGNED = {"#", "attempt", "ms", "tokens"}


def _timeline(events: list) -> Text:
    """The events as aligned plain lines, one per event.

    Not a rich Table: it measures and wraps every cell, a few milliseconds per row, so a run
    with thousands of events took seconds; lines of Text cost next to nothing.
    """
    rows = [
        (
            str(event.seq),
            event.phase,
            str(event.attempt or ""),
            event.step,
            event.status,
            f"{event.duration_ms:.0f}" if event.duration_ms else "",
            str(event.tokens or ""),
            (event.message.splitlines() or [""])[0][:80],
        )
        for event in events
    ]
    widths = [
        min(40, max([len(name)] + [len(row[i]) for row in rows]))
        for i, name in enumerate(_TIMELINE_COLUMNS)
    ]

    def line(cells: tuple[str, ...] | list[str]) -> str:
        parts = []
        for name, cell, width in zip(_TIMELINE_COLUMNS, cells, widths, strict=True):
            if name == "message":
                parts.append(cell)
            elif name in _RIGHT_ALIGNED:
                parts.append(cell.rjust(width))
            else:
                parts.append(cell.ljust(width))
        return "  ".join(parts).rstrip()

    text = Text(line(list(_TIMELINE_COLUMNS)), style="bold")
    for row in rows:
        text.append("\n" + line(row), style="")
    return text


def _open(db: Path | None) -> TraceStore:
    from executor.trace_store import TraceStore  # imported when a command runs, not at start

    return TraceStore(db)


@traces_app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """The most recent runs."""
    with _open(db) as store:
        runs = store.list_runs(limit)
    if as_json:
        typer.echo(json.dumps([vars(r) for r in runs], indent=2))
        return
    table = Table("id", "when", "status", "tokens", "seconds", "task")
    for run in runs:
        _add_row(
            table,
            run.id[:12],
            _when(run.created_at),
            run.status,
            str(run.total_tokens or 0),
            f"{(run.total_duration_ms or 0) / 1000:.1f}",
            run.task.splitlines()[0][:60] if run.task else "",
        )
    Console().print(table)


@traces_app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """A run's timeline: each event with phase, attempt, status, duration and tokens."""
    from executor.trace_store import RunNotFoundError

    with _open(db) as store:
        try:
            run = store.get_run(run_id)
        except RunNotFoundError as exc:
            typer.echo(f"error: {shown(exc)}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run": vars(run.summary),
                    "events": [e.to_dict() for e in run.events],
                    "result": run.result,
                },
                indent=2,
            )
        )
        return
    console = Console()
    summary = run.summary
    header = Text()
    header.append(summary.id, style="bold")
    header.append(f"  {summary.status}  {_when(summary.created_at)}")
    console.print(header)
    if summary.interrupted_at:
        console.print(
            Text(
                f"interrupted: its process was gone when the store was opened at "
                f"{_when(summary.interrupted_at)}; last sign of life {_when(summary.finished_at)}",
                style="yellow",
            )
        )
    # Text, not a str: stored text is shown as it is (no markup, no highlighting; rich's
    # highlighter regexes are quadratic on long runs of one character -- a 120 KB task took
    # minutes).
    console.print(Text(f"task: {summary.task}"))
    console.print(_timeline(run.events), soft_wrap=True)
    if run.result:
        if run.result.get("code"):
            console.print(Text("code", style="bold"))
            console.print(Text(str(run.result["code"])))
        console.print(Text("output", style="bold"))
        console.print(Text(str(run.result.get("final_output") or "")))


@traces_app.command("export")
def export_command(
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    db: DbOption = None,
) -> None:
    """A run as JSON (its events and result), to share or re-import."""
    from executor.trace_store import RunNotFoundError

    with _open(db) as store:
        try:
            data = store.export_run(run_id)
        except RunNotFoundError as exc:
            typer.echo(f"error: {shown(exc)}", err=True)
            raise typer.Exit(1) from None
    text = json.dumps(data, indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"exported {data['run']['id']} to {shown(output)}", err=True)


@traces_app.command("import")
def import_command(
    source: Annotated[
        Path, typer.Argument(help="A JSON file made by `traces export` ('-' for stdin).")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a run with the same id.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Store an exported run; the whole file is checked first, and a bad one stores nothing.

    A refusal names the first problem by its path in the document."""
    from executor.trace_export import InvalidExportError, parse_export

    name = "standard input" if str(source) == "-" else shown(source)
    try:
        raw = sys.stdin.buffer.read() if str(source) == "-" else source.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot read {name}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except UnicodeDecodeError as exc:
        typer.echo(
            f"error: {name} is not UTF-8 text (byte 0x{exc.object[exc.start : exc.start + 1].hex()} "
            f"at offset {exc.start})",
            err=True,
        )
        raise typer.Exit(1) from None
    try:
        data = parse_export(text)
        with _open(db) as store:
            run_id = store.import_run(data, replace=replace)
    except InvalidExportError as exc:
        typer.echo(f"error: {name} is not an importable run: {shown(exc)}", err=True)
        typer.echo("nothing was imported", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:  # e.g. the run is already there
        typer.echo(f"error: {shown(exc)}; nothing was imported", err=True)
        raise typer.Exit(1) from None
    typer.echo(run_id)


def register(cli: typer.Typer) -> None:
    cli.add_typer(traces_app, name="traces")
