"""``mistral-executor run``: one task through the whole loop, from a terminal.

Progress goes to stderr and the program's output to stdout, so ``run "..." > out.txt`` captures
exactly what the accepted program printed and a script can rely on the exit code (0 only when
the task succeeded).

The executor, the Mistral SDK and plugins are imported when the command runs, not when the CLI
starts (``mistral-executor --help`` and ``run --help`` stay fast).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from app.commands.args import require_text, shown
from app.commands.live_output import show_live_output
from app.commands.run_files import json_result, read_task, save_artifacts
from sandbox import backend_names

if TYPE_CHECKING:
    from executor import TraceEvent

from app.commands.review_prompt import NO_TTY, TerminalReviewer, show_partial, stdin_is_terminal

#: Drawing per phase and per outcome; which phases exist and what a status means is
#: ``executor.events`` (imported when a run starts, not at CLI start-up).
_PHASE_COLOURS = ("cyan", "magenta", "yellow", "red", "bold green")
_OUTCOME_MARK = {
    "good": "✓",
    "bad": "✗",
    "stopped": "■",
    "retry": "↻",
    "skipped": "·",
    "warning": "!",
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
        from executor.events import PARTIAL, PHASES, event_type, outcome

        if event.status == PARTIAL:  # output so far of the step under way, under the spinner
            # the program's output (Inspector), else the code being written (Mechanic)
            if not show_live_output(self.status, event):
                show_partial(self.status, event)
            return
        style = dict(zip(PHASES, _PHASE_COLOURS, strict=True)).get(event.phase, "")
        attempt = f" #{event.attempt}" if event.attempt else ""
        if outcome(event.status) == "running":
            # Text, never a markup string: a model's message may hold "[/x]" (MarkupError).
            update = Text(_label(event) + attempt, style=style)
            update.append(f" {event.message.splitlines()[0][:160] if event.message else ''}")
            self.status.update(update)
            return
        definition = event_type(event.phase, event.step)
        line = Text()
        line.append(f"{_OUTCOME_MARK.get(outcome(event.status), '•')} ", style="bold")
        line.append(_label(event) + attempt, style=style)
        line.append(" ")
        shown = event.message.splitlines()[0][:160] if event.message else event.status
        line.append(shown if definition is not None else f"{event.status}: {shown}")
        extras = []
        if event.duration_ms:
            extras.append(f"{event.duration_ms / 1000:.1f}s")
        if event.tokens:
            extras.append(f"{event.tokens} tok")
        if extras:
            line.append(f"  ({', '.join(extras)})", style="dim")
        self.console.print(line)


def _label(event: TraceEvent) -> str:
    """ "scout · plan": the phase as the trace names it, the step as ``executor.events`` does."""
    from executor.events import event_type

    definition = event_type(event.phase, event.step)
    return f"{event.phase} · {definition.title if definition else event.step}"


def _role_help(role: str) -> str:
    return (
        f"Model for the {role} role (default: $MISTRAL_MODEL_{role.upper()}, else the built-in "
        "choice; see `mistral-executor models`)."
    )


def run_command(
    task: Annotated[
        str | None,
        typer.Argument(help="What to do, in plain words ('-' reads it from stdin)."),
    ] = None,
    task_file: Annotated[
        Path | None,
        typer.Option("--task-file", help="Read the task from this file (UTF-8).", metavar="PATH"),
    ] = None,
    file: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            "-f",
            help="A data file for the task (repeatable): in the program's work dir under its "
            "own name, profiled before planning.",
            metavar="PATH",
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Write the files the accepted program made here (safe names, never outside).",
            metavar="DIR",
        ),
    ] = None,
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
        str,
        typer.Option(
            "--sandbox", "-s", help=f"One of: {', '.join(backend_names())}, or a plugin's."
        ),
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
    model_planner: Annotated[
        str | None, typer.Option("--model-planner", help=_role_help("planner"), metavar="NAME")
    ] = None,
    model_coder: Annotated[
        str | None, typer.Option("--model-coder", help=_role_help("coder"), metavar="NAME")
    ] = None,
    model_vision: Annotated[
        str | None, typer.Option("--model-vision", help=_role_help("vision"), metavar="NAME")
    ] = None,
    model_embeddings: Annotated[
        str | None,
        typer.Option("--model-embeddings", help=_role_help("embeddings"), metavar="NAME"),
    ] = None,
    model_ocr: Annotated[
        str | None, typer.Option("--model-ocr", help=_role_help("ocr"), metavar="NAME")
    ] = None,
    run_timeout: Annotated[
        float | None,
        typer.Option(
            "--run-timeout",
            help="Stop the whole run after S seconds (stop reason 'run deadline'); "
            "default: the executor's. Each model request has its own limit, MISTRAL_TIMEOUT_S.",
            metavar="S",
        ),
    ] = None,
) -> None:
    """Plan, write, run, check and heal Python for TASK; print what the accepted program printed."""
    task = require_text(read_task(task, task_file), "the task")
    context = require_text(context, "--context")
    images = list(image or [])
    for path in images:
        if not path.is_file():
            typer.echo(f"error: no such image: {shown(path)}", err=True)
            raise typer.Exit(2)
    if review and not stdin_is_terminal():
        typer.echo(NO_TTY, err=True)
        raise typer.Exit(2)
    if run_timeout is not None and not 0 < run_timeout < math.inf:
        typer.echo(
            f"error: --run-timeout must be a positive number of seconds, not {run_timeout:g}",
            err=True,
        )
        raise typer.Exit(2)
    # Only a given deadline is passed: without one the executor's default applies.
    deadline = {} if run_timeout is None else {"run_timeout_s": run_timeout}
    chosen = {
        "planner": model_planner,
        "coder": model_coder,
        "vision": model_vision,
        "embeddings": model_embeddings,
        "ocr": model_ocr,
    }
    # Roles without an option keep MISTRAL_MODEL_<ROLE> or the default.
    models = {
        role: require_text(name.strip(), f"--model-{role}")
        for role, name in chosen.items()
        if name and name.strip()
    }
    from executor.assembly import build_executor, choose_backend
    from executor.mistral import MistralError
    from sandbox import Limits, SandboxError

    console = Console(stderr=True, quiet=quiet)
    reviewer = TerminalReviewer(Console(stderr=True)) if review else None
    try:
        loaded: Any = True  # the process's plugins
        if plugins_dir is not None:  # loaded even with --no-tools: they may add the backend
            from plugins import load_plugins

            loaded = load_plugins(plugins_dir)
        choice = choose_backend(sandbox)
        executor = build_executor(
            sandbox=choice.backend,
            max_iterations=max_iterations,
            use_self_healing=not no_heal,
            limits=Limits(timeout_s=timeout, memory_mb=memory),
            models=models or None,
            share_sandbox=True,  # one warm pool per process, however many runs it makes
            plugins=False if no_tools else loaded,
            review=reviewer,
            **deadline,
        )
        stream = executor.stream(
            task,
            context=context,
            validate_output=not no_validate,
            images=images,
            files=list(file or []),
            partial=True,  # the Mechanic's code and the program's output, live
        )
    except (ValueError, SandboxError, MistralError) as exc:
        typer.echo(f"error: {shown(exc)}", err=True)
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
        data = {
            **json_result(result, output_dir),
            "sandbox": {"backend": choice.backend, "reason": choice.reason},
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(result.final_output)
        if result.final_output and not result.final_output.endswith("\n"):
            sys.stdout.write("\n")
        if not result.success:
            console.print(Text.assemble(("failed", "red"), f": {result.stop_reason}"))
            for error in result.errors:
                # Text: no markup, and no highlighter (quadratic on long runs of one character).
                console.print(Text(f"  - {error}"))
    sys.stdout.flush()
    if output_dir is not None:
        save_artifacts(console, result.artifacts, output_dir)
    if out is not None:
        _save_outputs(out, result.images, result.artifacts)
        console.print(
            Text(f"saved {len(result.images)} image(s), {len(result.artifacts)} file(s) to ")
            + Text(shown(out))
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
