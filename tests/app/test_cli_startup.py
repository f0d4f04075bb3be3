"""The CLI starts without importing what its commands need (executor, SDK, gradio...)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli import COMMANDS, cli, load_command

HEAVY = ("executor", "mistralai", "gradio", "numpy", "docker", "httpx2", "plugins", "pandas")

_PROBE = """
import json, sys
sys.argv = ["mistral-executor", *json.loads(sys.argv[1])]
from app.cli import main
try:
    main()
except SystemExit:
    pass
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], [], ["run", "--help"], ["traces", "--help"], ["models", "--help"]],
    ids=lambda args: " ".join(args) or "no args",
)
def test_help_imports_none_of_the_heavy_modules(args):
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "Usage" in done.stdout + done.stderr
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_command_list_is_the_commands_own_help():
    for name, (_, line) in COMMANDS.items():
        command = load_command(name)
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert own == line, name


def test_top_level_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout


def test_an_unknown_command_is_an_error():
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2 and "No such command 'nope'" in result.output
