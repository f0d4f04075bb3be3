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


# ---------------------------------------------------------------- runs whose process is gone


def _set_owner(path, run_id, **columns):
    with sqlite3.connect(path) as db:
        for name, value in columns.items():
            db.execute(f"UPDATE runs SET {name} = ? WHERE id = ?", (value, run_id))


def test_a_run_of_a_live_process_stays_running(tmp_path):
    path = tmp_path / "traces.db"
    with TraceStore(path) as store:
        store.start_run("mine", "a task")
    with TraceStore(path) as again:  # this process is the owner, and it is alive
        assert again.get_run("mine").summary.status == "running"
        assert again.mark_interrupted() == []


def test_a_run_whose_pid_was_reused_is_interrupted(tmp_path):
    path = tmp_path / "traces.db"
    with TraceStore(path) as store:
        store.start_run("old", "a task")
        store.add_event(event("old", 1))
    # Same pid as a live process (ours), but another start time: the owner is gone.
    _set_owner(path, "old", owner_start="1")
    with TraceStore(path) as again:
        run = again.get_run("old")
    assert run.summary.status == "interrupted"
    assert run.summary.interrupted_at is not None
    assert run.summary.finished_at == run.events[-1].timestamp  # the last sign of life


def test_a_run_of_another_host_or_of_unknown_owner_is_left_alone(tmp_path):
    path = tmp_path / "traces.db"
    with TraceStore(path) as store:
        store.start_run("elsewhere", "a task")
        store.start_run("legacy", "a task")
    _set_owner(path, "elsewhere", owner_start="1", owner_host="another-host.example")
    _set_owner(path, "legacy", owner_pid=None)
    with TraceStore(path) as again:
        assert {r.id: r.status for r in again.list_runs()} == {
            "elsewhere": "running",
            "legacy": "running",
        }


def test_a_store_made_before_owners_were_recorded_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, task TEXT NOT NULL, status TEXT NOT NULL, "
            "created_at REAL NOT NULL, finished_at REAL, conversation_id TEXT, "
            "total_duration_ms REAL, total_tokens INTEGER, meta TEXT NOT NULL DEFAULT '{}', "
            "result TEXT);"
            "INSERT INTO runs (id, task, status, created_at) VALUES ('r', 't', 'success', 1.0);"
        )
    with TraceStore(path) as store:
        assert store.get_run("r").summary.status == "success"
        store.start_run("new", "task")
        assert store.get_run("new").summary.status == "running"


_KILLED_RUN = """
import sys
from executor import Executor
Executor(sandbox="restricted", store=sys.argv[1], max_retries=0).execute("never answered")
"""


def test_a_run_killed_with_its_process_is_marked_interrupted(tmp_path, fake_mistral):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.fake_mistral import silent

    fake_mistral.on_chat(lambda request: silent())
    path = tmp_path / "traces.db"
    env = {**os.environ, "MISTRAL_TIMEOUT_S": "600", "MISTRAL_EXECUTOR_HOME": str(tmp_path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(path)], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not fake_mistral.chat_requests:  # the run is under way, waiting for the model
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never called the model"
            time.sleep(0.1)
        with TraceStore(path) as store:  # its process is alive: still running
            assert [r.status for r in store.list_runs()] == ["running"]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stderr.close()
    with TraceStore(path) as store:
        (run,) = store.list_runs()
        assert run.status == "interrupted" and run.interrupted_at >= run.created_at


# ---------------------------------------------------------------- text that is not text


def test_undecodable_text_is_stored_with_replacement_characters(store):
    task = "sort \udcff\udcfe these"  # what argv gives for the bytes ff fe
    store.start_run("run\udcff", task, meta={"note": "\udcff"})
    store.add_event(
        TraceEvent(
            phase="scout",
            step="plan\udcff",
            status="ok",
            run_id="run\udcff",
            seq=1,
            message="said \udcff",
            payload={"text": "\udcfe"},
        )
    )
    run = store.get_run("run\udcff")
    assert run.summary.task == "sort \ufffd\ufffd these"
    assert run.events[0].message == "said \ufffd" and run.events[0].step == "plan\ufffd"
    assert run.events[0].payload == {"text": "\ufffd"} and run.meta == {"note": "\ufffd"}
    json.dumps(store.export_run(run.summary.id), ensure_ascii=False).encode("utf-8")


def test_non_ascii_text_survives_unchanged(store):
    store.start_run("r", "café ☕ 🚀 naïve")
    store.add_event(event("r", 1, note="🚀"))
    run = store.get_run("r")
    assert run.summary.task == "café ☕ 🚀 naïve" and run.events[0].payload == {"note": "🚀"}


def test_import_checks_the_whole_document_before_storing_anything(store):
    from executor.trace_export import InvalidExportError

    good = store.export_run(_a_finished_run(store))
    bad = json.loads(json.dumps(good))
    bad["run"]["id"] = "other"
    bad["events"].append({**bad["events"][0], "tokens": "many"})
    with pytest.raises(InvalidExportError, match=r"\$\.events\.\d+\.tokens: 'many'"):
        store.import_run(bad)
    assert [r.id for r in store.list_runs()] == [good["run"]["id"]]


def _a_finished_run(store) -> str:
    store.start_run("finished", "task")
    store.add_event(event("finished", 1))
    store.add_event(event("finished", 2, phase="final"))
    store.mark_run("finished", "success")
    return "finished"


def test_a_store_kept_open_notices_a_death_when_it_lists_or_reads(tmp_path):
    path = tmp_path / "traces.db"
    with TraceStore(path) as reader:  # like the UI: opened once, read many times
        with TraceStore(path) as writer:
            writer.start_run("r", "task")
        assert reader.list_runs()[0].status == "running"
        _set_owner(path, "r", owner_start="1")  # its process is gone now
        assert reader.list_runs()[0].status == "interrupted"
        assert reader.get_run("r").summary.interrupted_at is not None
