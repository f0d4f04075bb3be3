"""``mistral-executor exec FILE|- [--backend B] [--timeout S] [--memory MB] [--json]``."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.requirements import unavailable
from tests.sandbox.conftest import REPO_ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESULT_KEYS = {
    "ok",
    "stdout",
    "stderr",
    "error",
    "limit_hit",
    "images",
    "files",
    "duration_ms",
    "backend",
}


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["exec", *args], input=stdin)


def write(tmp_path: Path, code: str, name: str = "program.py") -> str:
    path = tmp_path / name
    path.write_text(code)
    return str(path)


def test_runs_a_file_and_shows_its_output(backend, tmp_path):
    result = invoke(write(tmp_path, "print('from a file')\n"), "--backend", backend)
    assert result.exit_code == 0, result.output
    assert result.stdout == "from a file\n"


def test_runs_stdin(backend):
    result = invoke("-", "--backend", backend, stdin="print(6 * 7)\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "42\n"


def test_failing_program_exits_1_and_reports_the_error(backend, tmp_path):
    code = "print('partial')\nx = 1 / 0\n"
    result = invoke(write(tmp_path, code), "--backend", backend)
    assert result.exit_code == 1
    assert result.stdout == "partial\n"
    assert "ZeroDivisionError" in result.stderr


def test_json_shape(backend, tmp_path):
    code = (
        "import numpy as np\n"
        "import matplotlib.pyplot as plt\n"
        "np.save('numbers.npy', np.arange(4))\n"
        "plt.plot([1, 2, 3])\n"
        "print('json run')\n"
    )
    result = invoke(write(tmp_path, code), "--backend", backend, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= RESULT_KEYS
    assert data["ok"] is True
    assert data["stdout"] == "json run\n"
    assert data["error"] is None and data["limit_hit"] is None
    assert data["backend"] == backend
    assert data["backend_reason"] == "asked for by name"
    assert isinstance(data["duration_ms"], float) and data["duration_ms"] > 0
    assert isinstance(data["images"], list) and len(data["images"]) == 1
    assert base64.b64decode(data["images"][0], validate=True).startswith(PNG_MAGIC)
    assert isinstance(data["files"], dict)
    assert base64.b64decode(data["files"]["numbers.npy"], validate=True).startswith(b"\x93NUMPY")


def test_json_says_which_backend_auto_chose_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_SANDBOX", "restricted")
    result = invoke(write(tmp_path, "print(1)\n"), "--backend", "auto", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "restricted"
    assert data["backend_reason"] == "pinned by MISTRAL_EXECUTOR_SANDBOX=restricted"


def test_json_error_carries_type_message_and_line(backend, tmp_path):
    result = invoke(write(tmp_path, "a = 1\nb = [][a]\n"), "--backend", backend, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["error"]["type"] == "IndexError"
    assert data["error"]["lineno"] == 2
    assert data["error"]["message"]
    assert set(data["error"]) >= {"type", "message", "traceback", "lineno"}


def test_timeout_option(backend, tmp_path):
    path = write(tmp_path, "while True:\n    pass\n")
    result = invoke(path, "--backend", backend, "--timeout", "1", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["limit_hit"] == "timeout"


def test_memory_option(backend, tmp_path):
    path = write(tmp_path, "blob = ' ' * (400 * 1024 ** 2)\nprint(len(blob))\n")
    roomy = invoke(path, "--backend", backend, "--memory", "1024", "--json")
    assert json.loads(roomy.stdout)["stdout"] == f"{400 * 1024**2}\n", roomy.output
    tight = invoke(path, "--backend", backend, "--memory", "256", "--json")
    assert tight.exit_code == 1
    assert json.loads(tight.stdout)["limit_hit"] == "memory", tight.stdout


def test_limit_hit_is_reported_without_json(backend, tmp_path):
    result = invoke(
        write(tmp_path, "while True:\n    pass\n"), "--backend", backend, "--timeout", "1"
    )
    assert result.exit_code == 1
    assert "timeout" in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = invoke(str(tmp_path / "nope.py"), "--backend", "restricted")
    assert result.exit_code == 2
    assert "nope.py" in result.stderr


def test_unknown_backend_exits_2(tmp_path):
    result = invoke(write(tmp_path, "print(1)\n"), "--backend", "no-such-backend")
    assert result.exit_code == 2
    assert "no-such-backend" in result.stderr


def test_invalid_limits_exit_2(tmp_path):
    result = invoke(write(tmp_path, "print(1)\n"), "--backend", "restricted", "--timeout", "0")
    assert result.exit_code == 2
    assert "timeout" in result.stderr


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
def test_installed_console_script(tmp_path, as_json):
    """The real entry point, as a user types it, in its own process."""
    script = Path(sys.executable).parent / "mistral-executor"
    if not script.exists():
        unavailable(f"the console script at {script} (scripts/bootstrap.sh installs it)")
    args = [str(script), "exec", "-", "--backend", "restricted", *(["--json"] if as_json else [])]
    completed = subprocess.run(
        args,
        input="print('via the console script')\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    if as_json:
        data = json.loads(completed.stdout)
        assert data["stdout"] == "via the console script\n"
        assert data["backend"] == "restricted"
    else:
        assert completed.stdout == "via the console script\n"
