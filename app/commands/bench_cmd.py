"""``mistral-executor bench``: benchmarks that need a model (a real key to mean anything)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sandbox import backend_names

if TYPE_CHECKING:
    from executor.humaneval import ProblemResult

bench_app = typer.Typer(help="Benchmarks of the whole loop.", no_args_is_help=True)


@bench_app.command("humaneval")
def humaneval_command(
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="First N problems only.")
    ] = None,
    no_heal: Annotated[
        bool, typer.Option("--no-heal", help="Only the run without self-healing.")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model for the planner and coder roles.")
    ] = None,
    max_iterations: Annotated[int, typer.Option("--max-iterations", min=1)] = 3,
    sandbox: Annotated[
        str,
        typer.Option(
            "--sandbox", "-s", help=f"One of: {', '.join(backend_names())}, or a plugin's."
        ),
    ] = "restricted",
    data: Annotated[
        Path | None,
        typer.Option("--data", help="HumanEval.jsonl(.gz); default ../shared/benchmarks/."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """pass@1 on HumanEval, with and without self-healing, with tokens and time per problem."""
    from executor.humaneval import MODES, load_problems, run_benchmark  # not at CLI start
    from executor.mistral import MistralError
    from sandbox import SandboxError

    console = Console(stderr=True)
    try:
        problems = load_problems(data, limit)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    modes = ("no-heal",) if no_heal else MODES
    from plugins.sandboxes import choose_backend

    try:
        options: dict = {"sandbox": choose_backend(sandbox).backend}
    except SandboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if model:
        options["models"] = {"planner": model, "coder": model}

    def show(row: ProblemResult) -> None:
        mark = ("pass", "green") if row.passed else ("fail", "red")
        console.print(
            Text.assemble(
                f"{row.mode:<8} {row.task_id:<16} ",  # Text: a task id is not markup
                mark,
                f"  attempts={row.attempts} tokens={row.tokens} {row.duration_ms / 1000:.1f}s",
            )
        )

    try:
        report = run_benchmark(
            problems,
            modes=modes,
            max_iterations=max_iterations,
            executor_options=options,
            on_result=None if as_json else show,
        )
    except (SandboxError, MistralError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    table = Table("mode", "problems", "passed", "pass@1", "mean tokens", "mean s")
    for summary in report.summaries:
        table.add_row(
            summary.mode,
            str(summary.problems),
            str(summary.passed),
            f"{summary.pass_at_1:.1%}",
            f"{summary.mean_tokens:.0f}",
            f"{summary.mean_seconds:.2f}",
        )
    Console().print(table)


def register(cli: typer.Typer) -> None:
    cli.add_typer(bench_app, name="bench")
