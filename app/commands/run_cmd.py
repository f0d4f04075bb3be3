"""``mistral-executor run``: one task through the whole loop, from a terminal.

Progress goes to stderr and the program's output to stdout, so ``run "..." > out.txt`` captures
exactly what the accepted program printed and a script can rely on the exit code (0 only when
the task succeeded).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from app.commands.review_prompt import NO_TTY, TerminalReviewer, show_partial, stdin_is_terminal
from executor import Executor, TraceEvent
from executor.mistral import MistralError
from plugins import load_plugins
from sandbox import Limits, SandboxError, backend_names

_PHASE_STYLE = {
    "scout": "cyan",
    "mechanic": "magenta",
    "inspector": "yellow",
    "iterate": "red",
    "final": "bold green",
}
_STATUS_MARK = {
    "ok": "✓",
    "passed": "✓",
    "success": "✓",
    "failed": "✗",
    "error": "✗",
    "stop": "■",
    "retry": "↻",
    "cancelled": "■",
    "skipped": "·",
    "degraded": "!",
}


class Progress:
    """Finished steps as lines, the step under way as a spinner: all on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status = console.status("starting", spinner="dots")

    def __enter__(self) -> Progress:
        self.status.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.status.__exit__(*exc_info)

    def show(self, event: TraceEvent) -> None:
        label = f"{event.phase}" + (f" #{event.attempt}" if event.attempt else "")
        if event.status == "partial":  # the code being written, live under the spinner
            show_partial(self.status, event)
            return
        if event.status == "started":
            self.status.update(f"[{_PHASE_STYLE.get(event.phase, '')}]{label}[/] {event.message}")
            return
        line = Text()
        line.append(f"{_STATUS_MARK.get(event.status, '•')} ", style="bold")
        line.append(f"{label:<13}", style=_PHASE_STYLE.get(event.phase, ""))
        line.append(f"{event.step:<10} ", style="dim")
        line.append(event.message.splitlines()[0][:160] if event.message else event.status)
        extras = []
        if event.duration_ms:
            extras.append(f"{event.duration_ms / 1000:.1f}s")
        if event.tokens:
            extras.append(f"{event.tokens} tok")
        if extras:
            line.append(f"  ({', '.join(extras)})", style="dim")
        self.console.print(line)


def run_command(
    task: Annotated[str, typer.Argument(help="What to do, in plain words.")],
    image: Annotated[
        list[Path] | None,
        typer.Option(
            "--image", "-i", help="An image for the task (repeatable); goes to the vision model."
        ),
    ] = None,
    max_iterations: Annotated[
        int, typer.Option("--max-iterations", "-n", min=1, help="Attempts at most.")
    ] = 3,
    sandbox: Annotated[
        str, typer.Option("--sandbox", "-s", help=f"One of: {', '.join(backend_names())}.")
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole result with its trace as JSON.")
    ] = False,
    no_heal: Annotated[
        bool, typer.Option("--no-heal", help="One attempt, no self-healing.")
    ] = False,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Skip the checks and the model's verdict.")
    ] = False,
    context: Annotated[
        str, typer.Option("--context", "-c", help="Extra context for the task.")
    ] = "",
    timeout: Annotated[
        float, typer.Option(help="Sandbox wall-clock limit per run, seconds.")
    ] = 10.0,
    memory: Annotated[int, typer.Option(help="Sandbox memory limit, MB.")] = 512,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the images and files the code made here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    plugins_dir: Annotated[
        Path | None,
        typer.Option(
            "--plugins-dir",
            help="Also load plugins from the .py files here (default: $MISTRAL_EXECUTOR_PLUGINS_DIR).",
        ),
    ] = None,
    no_tools: Annotated[
        bool, typer.Option("--no-tools", help="Offer the model no plugin tools.")
    ] = False,
    review: Annotated[
        bool,
        typer.Option(
            "--review",
            help="Show each program before it runs and ask: run, edit in $EDITOR, or reject "
            "with a note (needs a terminal; waits $MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S, 300 s).",
        ),
    ] = False,
) -> None:
    """Plan, write, run, check and heal Python for TASK; print what the accepted program printed."""
    images = list(image or [])
    for path in images:
        if not path.is_file():
            typer.echo(f"error: no such image: {path}", err=True)
            raise typer.Exit(2)
    if review and not stdin_is_terminal():
        typer.echo(NO_TTY, err=True)
        raise typer.Exit(2)
    console = Console(stderr=True, quiet=quiet)
    reviewer = TerminalReviewer(Console(stderr=True)) if review else None
    try:
        executor = Executor(
            sandbox=sandbox,
            max_iterations=max_iterations,
            use_self_healing=not no_heal,
            limits=Limits(timeout_s=timeout, memory_mb=memory),
            share_sandbox=True,  # one warm pool per process, however many runs it makes
            plugins=False if no_tools else (load_plugins(plugins_dir) if plugins_dir else True),
            review=reviewer,
        )
        stream = executor.stream(
            task, context=context, validate_output=not no_validate, images=images, partial=True
        )
    except (ValueError, SandboxError, MistralError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    with executor:
        try:
            with Progress(console) as progress:
                if reviewer is not None:
                    reviewer.progress = progress  # its spinner pauses while you review
                for event in stream:
                    progress.show(event)
        except KeyboardInterrupt:
            stream.cancel()
            console.print("cancelled")
        result = stream.result
    if result is None:
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(result.final_output)
        if result.final_output and not result.final_output.endswith("\n"):
            sys.stdout.write("\n")
        if not result.success:
            console.print(f"[red]failed[/]: {result.stop_reason}")
            for error in result.errors:
                console.print(f"  - {error}", markup=False)
    sys.stdout.flush()
    if out is not None:
        _save_outputs(out, result.images, result.artifacts)
        console.print(
            f"saved {len(result.images)} image(s), {len(result.artifacts)} file(s) to {out}"
        )
    raise typer.Exit(0 if result.success else 1)


def _save_outputs(directory: Path, images: list[bytes], files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for number, png in enumerate(images, 1):
        (directory / f"figure_{number}.png").write_bytes(png)
    for name, content in files.items():
        target = directory / Path(name).name  # never let a produced name climb out of DIR
        target.write_bytes(content)


def register(cli: typer.Typer) -> None:
    cli.command("run")(run_command)
