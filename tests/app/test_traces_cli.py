"""``mistral-executor traces``: interrupted runs, large and hostile stored text, imports."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from app.cli import cli
from executor import TraceEvent, TraceStore

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "traces.db"


def traces(*args: str, db_path=None, **kwargs):
    extra = ["--db", str(db_path)] if db_path is not None else []
    return runner.invoke(cli, ["traces", *args, *extra], **kwargs)


def store_run(path, run_id="run-1", task="a task", messages=("planned",)):
    with TraceStore(path) as store:
        store.start_run(run_id, task)
        for seq, message in enumerate(messages, 1):
            store.add_event(
                TraceEvent(
                    phase="scout", step="plan", status="ok", run_id=run_id, seq=seq, message=message
                )
            )
    return run_id


def test_list_and_show_say_a_run_was_interrupted(db):
    run_id = store_run(db)
    with sqlite3.connect(db) as raw:  # its owner: our pid, but another start time (gone)
        raw.execute("UPDATE runs SET owner_start = '1' WHERE id = ?", (run_id,))
    listing = traces("list", db_path=db)
    assert listing.exit_code == 0 and "interrupted" in listing.stdout
    as_json = json.loads(traces("list", "--json", db_path=db).stdout)
    assert as_json[0]["status"] == "interrupted" and as_json[0]["interrupted_at"]
    shown = traces("show", run_id, db_path=db)
    assert shown.exit_code == 0
    assert "interrupted: its process was gone" in shown.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "task",
    [
        "a" * 120_000,  # one long run of a character: rich's highlighter was quadratic on it
        "x = [1, 2, 3]\n" * 9_000,
        "https://example.com/" + "a/" * 60_000,
    ],
    ids=["one-character", "lines", "url"],
)
def test_show_answers_for_a_120_kb_task(db, task):
    run_id = store_run(db, task=task, messages=(task, task))
    shown = traces("show", run_id, db_path=db)
    assert shown.exit_code == 0
    flat = shown.stdout.replace("\n", "")
    assert ("task: " + task[:100]).replace("\n", "") in flat


def test_stored_text_is_never_read_as_markup(db):
    run_id = store_run(db, run_id="[/x]", task="[/bad] [bold]task", messages=("[/oops]",))
    shown = traces("show", run_id, db_path=db)
    assert shown.exit_code == 0, shown.output
    assert "[/bad] [bold]task" in shown.stdout and "[/oops]" in shown.stdout
    listing = traces("list", db_path=db)
    assert listing.exit_code == 0 and "[/bad]" in listing.stdout
