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


@pytest.mark.timeout(60)
def test_show_answers_for_a_run_with_thousands_of_events(db):
    run_id = store_run(db, messages=[f"event number {n}" for n in range(5000)])
    shown = traces("show", run_id, db_path=db)
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert lines[2].split() == [
        "#",
        "phase",
        "attempt",
        "step",
        "status",
        "ms",
        "tokens",
        "message",
    ]
    assert lines[-1].split()[0] == "5000" and lines[-1].endswith("event number 4999")


def test_stored_text_is_never_read_as_markup(db):
    run_id = store_run(db, run_id="[/x]", task="[/bad] [bold]task", messages=("[/oops]",))
    shown = traces("show", run_id, db_path=db)
    assert shown.exit_code == 0, shown.output
    assert "[/bad] [bold]task" in shown.stdout and "[/oops]" in shown.stdout
    listing = traces("list", db_path=db)
    assert listing.exit_code == 0 and "[/bad]" in listing.stdout


# ---------------------------------------------------------------- traces import checks its input


def exported(**run_fields) -> dict:
    return {
        "format": "mistral-executor-run",
        "version": 1,
        "run": {"id": "imported-1", "task": "a task", "status": "success", **run_fields},
        "result": None,
        "events": [
            {"seq": 1, "phase": "scout", "step": "plan", "status": "ok", "tokens": 3},
            {"seq": 2, "phase": "final", "step": "done", "status": "success"},
        ],
    }


def with_events(*events) -> dict:
    data = exported()
    data["events"] = list(events)
    return data


def ok_event(seq, **fields):
    return {"seq": seq, "phase": "scout", "step": "plan", "status": "ok", **fields}


def import_text(text: str, db_path):
    return traces("import", "-", db_path=db_path, input=text)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("[1, 2]", "$: [1, 2] is not of type 'object'"),
        ('"a run"', "is not of type 'object'"),
        ("{", "not JSON: "),
        ('{"format": "something-else", "run": {"id": "x"}}', "$.format: not an exported"),
        (json.dumps({**exported(), "version": 9}), "$.version: exported with a newer format"),
        (json.dumps(exported(id="../etc/passwd")), "$.run.id: "),
        (json.dumps(exported(total_tokens="12")), "$.run.total_tokens: '12' is not of type"),
        (json.dumps(exported(created_at=True)), "$.run.created_at: True is not of type"),
        (json.dumps({**exported(), "events": {"seq": 1}}), "$.events: "),
        (json.dumps(with_events(ok_event(1), "not an event")), "$.events.1: 'not an event'"),
        (json.dumps(with_events(ok_event(1), ok_event("2"))), "$.events.1.seq: '2' is not of"),
        (json.dumps(with_events(ok_event(1), ok_event(2, tokens=-1))), "$.events.1.tokens: -1"),
        (json.dumps(with_events(ok_event(1), ok_event(2, payload=[]))), "$.events.1.payload: []"),
        (json.dumps(with_events(ok_event(1), {"seq": 2})), "$.events.1: 'phase' is a required"),
        (json.dumps(with_events(ok_event(5), ok_event(5))), "$.events.1.seq: 5 is also the seq"),
        ('{"format": "mistral-executor-run", "run": {"id": "x", "created_at": NaN}}', "NaN"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_import_refuses_a_bad_file_naming_the_first_problem_and_imports_nothing(
    db, document, problem
):
    store_run(db, run_id="already-here")
    result = import_text(document, db)
    assert result.exit_code == 1, result.output
    assert problem in result.stderr and "nothing was imported" in result.stderr
    assert "Traceback" not in result.output
    with TraceStore(db) as store:
        assert [r.id for r in store.list_runs()] == ["already-here"]


def test_import_names_the_first_problem_in_document_order(db):
    data = with_events(*[ok_event(n) for n in range(12)])
    data["events"][10]["seq"] = "ten"
    data["events"][2]["attempt"] = "two"
    result = import_text(json.dumps(data), db)
    assert "$.events.2.attempt" in result.stderr and "(and 1 more)" in result.stderr


def test_import_of_a_valid_file_stores_it(db):
    result = import_text(json.dumps(exported()), db)
    assert result.exit_code == 0 and result.stdout.strip() == "imported-1"
    with TraceStore(db) as store:
        run = store.get_run("imported-1")
    assert [e.seq for e in run.events] == [1, 2] and run.events[0].tokens == 3


def test_import_refuses_to_overwrite_without_replace(db):
    assert import_text(json.dumps(exported()), db).exit_code == 0
    again = import_text(json.dumps(exported(task="changed")), db)
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert (
        traces("import", "-", "--replace", db_path=db, input=json.dumps(exported())).exit_code == 0
    )


def test_import_of_a_file_that_is_not_utf8_or_missing(db, tmp_path):
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"task": "caf\xe9"}')
    result = traces("import", str(latin), db_path=db)
    assert result.exit_code == 1 and "is not UTF-8 text (byte 0xe9 at offset 13)" in result.stderr
    missing = traces("import", str(tmp_path / "missing.json"), db_path=db)
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


# ---------------------------------------------------------------- undecodable bytes


def test_undecodable_bytes_in_an_imported_task_are_stored_as_replacement_characters(db):
    document = json.dumps(exported(task="caf\udce9 ok"))  # JSON may carry a lone surrogate
    assert import_text(document, db).exit_code == 0
    shown = traces("show", "imported-1", db_path=db)
    assert shown.exit_code == 0 and "caf\ufffd ok" in shown.stdout


def test_a_run_id_argument_with_undecodable_bytes_is_simply_not_found(db):
    store_run(db)
    for command in ("show", "export"):
        result = traces(command, "run-\udcff", db_path=db)
        assert result.exit_code == 1 and "no run with id" in result.stderr
