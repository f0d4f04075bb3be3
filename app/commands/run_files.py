"""``run``'s inputs and outputs: the task from a file or stdin, data files, the output dir.

A task can be far longer than the OS lets argv be (about 128 KB per argument on Linux), so it
can come from ``--task-file PATH`` or ``-`` (stdin). The accepted program's files are written by
``executor.datafiles.write_outputs`` (safe names, inside the directory, no symlink followed) and
listed on stderr; ``--json`` carries them base64 unless they went to ``--output-dir``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from app.commands.args import require_text, shown

MAX_TASK_BYTES = 8 * 1024 * 1024


def read_task(task: str | None, task_file: Path | None) -> str:
    """The task text from the argument, ``-`` (stdin) or ``--task-file``; exit 2 on misuse."""
    if task is not None and task_file is not None:
        _fail("give the task either as an argument or with --task-file, not both")
    if task_file is not None:
        if not task_file.is_file():
            _fail(f"no such task file: {shown(task_file)}")
        raw = task_file.read_bytes()[: MAX_TASK_BYTES + 1]
        source = f"--task-file {shown(task_file)}"
    elif task == "-":
        raw = sys.stdin.buffer.read(MAX_TASK_BYTES + 1)
        source = "stdin"
    elif task is None:
        _fail("missing the task: give it as an argument, '-' for stdin, or --task-file PATH")
    else:
        return task
    if len(raw) > MAX_TASK_BYTES:
        _fail(f"the task from {source} is over {MAX_TASK_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"the task from {source} is not UTF-8 text (byte {exc.start})")
    return require_text(text, f"the task from {source}")


def _fail(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def json_result(result: Any, output_dir: Path | None) -> dict[str, Any]:
    """The ``--json`` document: output files base64, or only their names when they were
    written to ``--output-dir``."""
    data = result.to_dict()
    if output_dir is not None:
        data["artifacts"] = sorted(result.artifacts)
        for attempt, source in zip(data.get("iterations", []), result.iterations, strict=False):
            attempt["files"] = sorted(source.files)
        data["output_dir"] = str(output_dir)
    return data


def save_artifacts(console: Any, artifacts: dict[str, bytes], output_dir: Path) -> None:
    """Write the output files into ``output_dir`` and list them on stderr; exit 2 if it cannot."""
    from rich.text import Text

    from executor.datafiles import DataFileError, human_size, write_outputs

    try:
        written = write_outputs(artifacts, output_dir)
    except (DataFileError, OSError) as exc:
        _fail(f"cannot write the output files to {shown(output_dir)}: {exc}")
    if not written:
        console.print(Text("no output files"))
        return
    console.print(Text(f"{len(written)} output file(s) in {shown(output_dir)}:"))
    for path in written:
        console.print(Text(f"  {shown(path)} ({human_size(path.stat().st_size)})"))
