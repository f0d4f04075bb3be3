"""The SQLite trace store: streamed writes, partial traces, export/import, redaction."""

from __future__ import annotations

import json
import sqlite3

import pytest

from executor import Conversation, ExecutionResult, TraceEvent, TraceStore
from executor.trace_store import RunNotFoundError, default_db_path


@pytest.fixture
def store(tmp_path):
    with TraceStore(tmp_path / "traces.db", secrets=["sk-very-secret"]) as trace_store:
        yield trace_store


def event(run_id: str, seq: int, phase: str = "scout", **payload) -> TraceEvent:
    return TraceEvent(
        phase=phase, step="plan", status="ok", run_id=run_id, seq=seq, payload=payload
    )


def test_default_location_follows_mistral_executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "custom"))
    assert default_db_path() == tmp_path / "custom" / "traces.db"
    with TraceStore() as store:
        assert store.path.is_file()


def test_events_are_readable_by_another_connection_as_they_are_written(store):
    """A crash mid-run leaves what was written: every event is committed on its own."""
    store.start_run("run1", "a task")
    store.add_event(event("run1", 1, note="first"))
    store.add_event(event("run1", 2, phase="mechanic"))
    # Another process (here: a separate connection) sees the partial run right away.
    other = sqlite3.connect(store.path)
    rows = other.execute(
        "SELECT seq, phase FROM events WHERE run_id='run1' ORDER BY seq"
    ).fetchall()
    status = other.execute("SELECT status FROM runs WHERE id='run1'").fetchone()[0]
    other.close()
    assert rows == [(1, "scout"), (2, "mechanic")] and status == "running"
    partial = TraceStore(store.path).get_run("run1")
    assert partial.summary.status == "running" and partial.result is None
    assert [e.payload for e in partial.events] == [{"note": "first"}, {}]


def test_finish_list_show_and_prefix_lookup(store):
    store.start_run("abcdef123456", "first task")
    store.start_run("abcxyz999999", "second task")
    result = ExecutionResult(success=True, final_output="42\n", run_id="abcdef123456")
    store.finish_run(result)
    assert store.resolve_id("abcd") == "abcdef123456"
    with pytest.raises(RunNotFoundError):
        store.resolve_id("abc")  # ambiguous
    with pytest.raises(RunNotFoundError):
        store.get_run("nope")
    runs = {r.id: r for r in store.list_runs()}
    assert runs["abcdef123456"].status == "success" and runs["abcxyz999999"].status == "running"
    assert store.get_run("abcdef").result["final_output"] == "42\n"


def test_export_import_round_trip(store, tmp_path):
    store.start_run("run1", "task one", meta={"sandbox": "restricted"})
    store.add_event(event("run1", 1, plan={"steps": ["a"]}))
    store.add_event(event("run1", 2, phase="final"))
    store.finish_run(ExecutionResult(success=False, run_id="run1", errors=["x"]))
    exported = store.export_run("run1")
    text = json.dumps(exported)

    with TraceStore(tmp_path / "other.db") as other:
        assert other.import_run(json.loads(text)) == "run1"
        assert other.export_run("run1") == exported
        with pytest.raises(ValueError, match="already exists"):
            other.import_run(exported)
        other.import_run(exported, replace=True)
        with pytest.raises(ValueError, match="format"):
            other.import_run({"run": {}})


def test_secrets_are_redacted_before_they_reach_the_disk(store):
    store.start_run("run1", "use key sk-very-secret please")
    store.add_event(event("run1", 1, leaked="Bearer sk-very-secret"))
    store.finish_run(ExecutionResult(success=True, run_id="run1", final_output="sk-very-secret"))
    store.save_conversation(Conversation(title="sk-very-secret"))
    raw = b"".join(p.read_bytes() for p in store.path.parent.iterdir())
    assert b"sk-very-secret" not in raw
    assert "[REDACTED]" in json.dumps(store.export_run("run1"))


def test_conversations_round_trip(store):
    conversation = Conversation(title="t")
    store.save_conversation(conversation)
    assert store.load_conversation(conversation.id).title == "t"
    with pytest.raises(KeyError):
        store.load_conversation("missing")
