"""``mistral-executor run --review`` on the fake server: run, edit in $EDITOR, reject with a note,
the refusal without a terminal, and one run on a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from app.cli import cli
from app.commands import review_prompt
from executor import TraceStore
from tests.executor.executor_script import last_user_text, plan, scripted

runner = CliRunner()
GENEROUS_S = 120.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MISTRAL_MAX_RETRIES", "0")
    monkeypatch.delenv("MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S", raising=False)


@pytest.fixture
def terminal(monkeypatch):
    """CliRunner's stdin is a pipe; these tests script it and stand in for the TTY check."""
    monkeypatch.setattr(review_prompt, "stdin_is_terminal", lambda: True)
    import app.commands.run_cmd as run_cmd

    monkeypatch.setattr(run_cmd, "stdin_is_terminal", lambda: True)


def run(*args: str, answers: str = ""):
    return runner.invoke(
        cli, ["run", *args, "--sandbox", "restricted", "--no-tools"], input=answers
    )


def test_review_refuses_without_a_terminal(fake_mistral):
    result = run("print one", "--review", answers="r\n")
    assert result.exit_code == 2
    assert "--review" in result.stderr and "not a terminal" in result.stderr
    assert fake_mistral.chat_requests == []  # refused before anything was asked


def test_run_shows_the_code_and_runs_it(fake_mistral, terminal):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '42' in program_output"]))
    result = run("six times seven", "--review", answers="r\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "42\n"
    assert "review · attempt 1" in result.stderr and "print(6 * 7)" in result.stderr
    assert "[r]un" in result.stderr


def test_edit_runs_the_edited_code_and_stores_the_diff(
    fake_mistral, terminal, tmp_path, monkeypatch
):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '43' in program_output"]))
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "path = sys.argv[1]\n"
        "text = open(path).read().replace('6 * 7', '6 * 7 + 1')\n"
        "open(path, 'w').write(text)\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    result = run("forty-three", "--review", "--json", answers="e\n")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["final_output"] == "43\n" and data["code"] == "print(6 * 7 + 1)\n"
    edited = [e for e in data["trace"] if e["step"] == "review" and e["status"] == "edited"]
    assert "+print(6 * 7 + 1)" in edited[0]["payload"]["diff"]
    with TraceStore() as store:
        events = store.get_run(data["run_id"]).events
    assert [e.payload["diff"] for e in events if e.status == "edited"] == [
        edited[0]["payload"]["diff"]
    ]


def test_reject_asks_for_a_note_and_the_model_gets_it(fake_mistral, terminal):
    model = scripted(fake_mistral, "print('hello')", "print('HELLO')")
    answers = "x\nj\n\nUse capital letters.\nr\n"  # a wrong key, then an empty note: asked again
    result = run("greet", "--review", answers=answers)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "HELLO\n"
    assert "Please answer r, e or j" in result.stderr
    assert result.stderr.count("Note for the model") == 2
    assert "Use capital letters." in last_user_text(model.seen["code"][1])


def test_closing_stdin_mid_review_stops_the_run(fake_mistral, terminal):
    scripted(fake_mistral, "print(1)")
    result = run("one", "--review", answers="")
    assert result.exit_code == 1
    assert "review error" in result.stderr


def test_the_live_code_is_drawn_under_the_spinner():
    from executor import TraceEvent

    console = Console(record=True, width=80, force_terminal=True)
    status = console.status("starting")
    code = "\n".join(f"line_{i} = {i}" for i in range(30))
    event = TraceEvent("mechanic", "code", "partial", attempt=2, payload={"code": code})
    event.message = "writing code (30 lines so far)"
    review_prompt.show_partial(status, event)
    console.print(status.renderable)
    shown = console.export_text()
    assert "line_29 = 29" in shown and "line_0 = 0" not in shown  # the tail only
    assert "mechanic #2" in shown


def test_review_on_a_real_pseudo_terminal(fake_mistral, tmp_path):
    """The whole CLI in a subprocess whose stdin is a pty: it asks, and a typed "r" runs."""
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '42' in program_output"]))
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "MISTRAL_SERVER_URL": fake_mistral.url,
        "MISTRAL_API_KEY": "test-key",
        "MISTRAL_EXECUTOR_HOME": str(tmp_path / "home"),
        "MISTRAL_MAX_RETRIES": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", "six times seven", "--review"]
        + ["--sandbox", "restricted", "--no-tools"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    os.close(slave)
    try:
        errors = b""
        deadline = time.monotonic() + GENEROUS_S
        while b"[r]un" not in errors and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(process.stderr.fileno(), 65536)
                if not chunk:
                    break
                errors += chunk
        assert b"[r]un" in errors, errors.decode(errors="replace")
        os.write(master, b"r\n")
        out, rest = process.communicate(timeout=GENEROUS_S)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert process.returncode == 0, (errors + rest).decode(errors="replace")
    assert out == b"42\n"
