"""``mistral-executor exec``: run a file or stdin in a sandbox, no model involved."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sandbox import Limits, SandboxError, backend_names, create_sandbox


def exec_command(
    source: Annotated[str, typer.Argument(help="A Python file to run, or '-' for stdin.")],
    backend: Annotated[
        str,
        typer.Option(
            "--backend", "-b", help=f"One of: {', '.join(backend_names())}, or a plugin's."
        ),
    ] = "auto",
    timeout: Annotated[float, typer.Option(help="Wall-clock limit in seconds.")] = 10.0,
    memory: Annotated[int, typer.Option(help="Memory limit in MB.")] = 512,
    as_json: Annotated[bool, typer.Option("--json", help="Print the RunResult as JSON.")] = False,
) -> None:
    """Run untrusted Python in the sandbox and show its output."""
    if source == "-":
        code = sys.stdin.read()
    else:
        path = Path(source)
        if not path.is_file():
            typer.echo(f"error: no such file: {source}", err=True)
            raise typer.Exit(2)
        code = path.read_text(encoding="utf-8", errors="replace")
    try:
        limits = Limits(timeout_s=timeout, memory_mb=memory)
        # Not known yet: the plugins load and may register it (their register_sandboxes hook).
        from plugins.sandboxes import choose_backend
        from sandbox.shared import accepts_on_output

        choice = choose_backend(backend)
        live = None if as_json else LiveEcho()  # the output as it comes, when it is for people
        with create_sandbox(choice.backend, limits=limits) as sandbox:
            # A plugin backend written before on_output existed shows its output at the end.
            live_option = {"on_output": live} if live and accepts_on_output(sandbox) else {}
            result = sandbox.run(code, **live_option)
    except (SandboxError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        # Which backend ran is result.backend; why it was that one, backend_reason.
        typer.echo(json.dumps({**result.to_dict(), "backend_reason": choice.reason}, indent=2))
    else:
        assert live is not None
        live.finish(result.stdout, result.stderr)
        if result.limit_hit:
            typer.echo(f"limit hit: {result.limit_hit}", err=True)
        if result.error:
            typer.echo(result.error.traceback or str(result.error), err=True)
    raise typer.Exit(0 if result.ok else 1)


class LiveEcho:
    """``on_output`` for ``exec``: each stream echoed to ours as the program writes it; then
    ``finish`` writes what was not streamed (notes the backend added to the result)."""

    def __init__(self) -> None:
        self.written = {"stdout": "", "stderr": ""}

    def __call__(self, stream: str, text: str) -> None:
        target = sys.stdout if stream == "stdout" else sys.stderr
        target.write(text)
        target.flush()
        self.written[stream] += text

    def finish(self, stdout: str, stderr: str) -> None:
        for name, full, target in (("stdout", stdout, sys.stdout), ("stderr", stderr, sys.stderr)):
            shown = self.written[name]
            rest = full[len(shown) :] if full.startswith(shown) else ("\n" if shown else "") + full
            if rest:
                target.write(rest)
            target.flush()


def register(cli: typer.Typer) -> None:
    cli.command("exec")(exec_command)
