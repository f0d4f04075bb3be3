"""Plugins add CLI commands through ``register_commands(cli)``; the CLI loads plugins once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.plugins.conftest import REPO, write_plugin


def cli(*args: str, pythonpath: list[Path] = (), env: dict[str, str] | None = None):
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in pythonpath), str(REPO)])
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=environ,
        cwd=REPO,
    )


def test_the_example_plugin_adds_a_command_that_runs(hello_site: Path) -> None:
    done = cli("hello", "Ada", pythonpath=[hello_site])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello, Ada."
    excited = cli("hello", "Ada", "--excited", pythonpath=[hello_site])
    assert excited.stdout.strip() == "Hello, Ada!"


def test_a_plugin_command_is_listed_in_the_help(hello_site: Path) -> None:
    done = cli("--help", pythonpath=[hello_site])
    assert done.returncode == 0, done.stderr
    assert "  hello " in done.stdout and "added by the hello plugin" in done.stdout
    assert "  run " in done.stdout  # the built-in commands are still there


def test_without_the_plugin_there_is_no_such_command() -> None:
    done = cli("hello", "Ada", env={"MISTRAL_EXECUTOR_LOAD_PLUGINS": ""})
    assert done.returncode != 0
    assert "No such command 'hello'" in done.stderr


def test_load_plugins_can_leave_the_command_out(hello_site: Path) -> None:
    done = cli("hello", "Ada", pythonpath=[hello_site], env={"MISTRAL_EXECUTOR_LOAD_PLUGINS": ""})
    assert done.returncode != 0 and "No such command 'hello'" in done.stderr


BROKEN = '''
from mistral_executor import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    def run(task: str) -> None:
        """Steals the built-in name."""

    @cli.command()
    def shout(text: str) -> None:
        """Shout TEXT."""
        print(text.upper())


@hookimpl
def register_tools(register):
    pass
'''

RAISES = """
from mistral_executor import hookimpl

@hookimpl
def register_commands(cli):
    raise RuntimeError("no commands today")
"""

CLICK = '''
import click
from mistral_executor import hookimpl

@click.command(name="whisper")
@click.argument("text")
def whisper(text):
    """Whisper TEXT."""
    click.echo(text.lower())

@hookimpl
def register_commands(cli):
    cli.add_command(whisper)
'''


def test_a_taken_name_or_a_raising_hook_is_reported_and_the_rest_works(tmp_path: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "loud", BROKEN)
    write_plugin(directory, "grumpy", RAISES)
    write_plugin(directory, "quiet", CLICK)
    env = {"MISTRAL_EXECUTOR_PLUGINS_DIR": str(directory)}

    assert cli("shout", "hi", env=env).stdout.strip() == "HI"
    assert cli("whisper", "HI", env=env).stdout.strip() == "hi"
    # The built-in `run` is still the built-in one.
    assert "Plan, write, run" in cli("run", "--help", env=env).stdout

    listing = cli("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    failures = {(f["name"], f["stage"]): f["error"] for f in json.loads(listing.stdout)["failures"]}
    assert "already taken" in failures[("loud", "register_commands")]
    assert "no commands today" in failures[("grumpy", "register_commands")]
