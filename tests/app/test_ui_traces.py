"""The Traces tab: runs listed from the store, a run's timeline, attempts with diffs, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.ui import chat, traces
from app.ui.session import SessionSettings
from tests.app.ui_support import UiModel
from tests.fake_mistral import FakeMistral


@pytest.fixture
def fake(fake_mistral: FakeMistral, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMistral:
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path))
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    fake_mistral.on_chat(UiModel())
    return fake_mistral


def run_task(task: str, session: chat.ChatSession) -> str:
    settings = SessionSettings(sandbox="restricted")
    for _ in chat.submit({"text": task, "files": []}, [], session, settings, "test-key"):
        pass
    return session.run_ids[-1]


def test_a_healed_run_shows_its_timeline_attempts_and_diff(fake) -> None:
    session = chat.ChatSession()
    run_id = run_task("Add 1..10 and heal it", session)

    runs = traces.list_runs(session)
    assert list(runs.columns) == traces.RUN_COLUMNS
    assert runs.iloc[0]["run"] == run_id[:12]
    assert runs.iloc[0]["status"] == "success"

    summary, timeline, chart, picker, details = traces.open_run(run_id[:8], session)
    assert details["visible"] is True
    assert "heal it" in summary and "success" in summary and "total: 55" in summary
    phases = list(timeline["phase"])
    assert phases[0] == "scout" and phases[-1] == "final"
    assert {"mechanic", "inspector", "iterate"} <= set(phases)
    assert (timeline[timeline["step"] == "run"]["attempt"].tolist()) == [1, 2]
    # Rows are numbered 1..n (no gaps where "started" events were folded in), and the chart
    # labels its bars with the same numbers.
    assert timeline["#"].tolist() == list(range(1, len(timeline) + 1))
    assert all(label[:2].isdigit() and int(label[:2]) <= len(timeline) for label in chart["step"])
    assert (chart["duration (ms)"] >= 0).all() and "result" not in " ".join(chart["step"])
    assert picker["choices"] == ["Attempt 1 (runtime)", "Attempt 2 (passed)"]
    assert picker["value"] == "Attempt 2 (passed)"

    code, diff, stdout, errors, images = traces.show_attempt(run_id, "Attempt 1 (runtime)", session)
    assert "totl" in code and "NameError" in errors and stdout == ""
    assert "first attempt" in diff

    code, diff, stdout, errors, images = traces.show_attempt(run_id, "Attempt 2 (passed)", session)
    assert "sum(range(1, 11))" in code
    # A labelled, coloured diff: removed lines red ("del"), added green ("add"), escaped HTML.
    assert "Changes from attempt 1 to attempt 2" in diff
    assert "<span class='del'>-print(&#x27;total:&#x27;, totl)</span>" in diff
    assert "<span class='add'>+total = sum(range(1, 11))</span>" in diff
    assert stdout.strip() == "total: 55" and errors == ""


def test_a_plot_run_keeps_its_figure_per_attempt(fake) -> None:
    session = chat.ChatSession()
    run_id = run_task("Plot sin and cos", session)
    *_, images = traces.show_attempt(run_id, "Attempt 1 (passed)", session)
    assert len(images) == 1


def test_export_writes_the_run_as_json_in_the_cli_format(fake) -> None:
    session = chat.ChatSession()
    run_id = run_task("Calculate fibonacci up to n=10", session)
    path = traces.export_run(run_id, session)
    data = json.loads(Path(path).read_text())
    assert data["format"] == "mistral-executor-run"
    assert data["run"]["id"] == run_id
    assert [e["phase"] for e in data["events"]][-1] == "final"
    assert "test-key" not in Path(path).read_text()


def test_an_unknown_run_is_reported_not_raised(fake) -> None:
    summary, timeline, _, picker, details = traces.open_run("nope", chat.ChatSession())
    assert "No run `nope`" in summary and timeline.empty and picker["choices"] == []
    assert details["visible"] is False
    assert traces.open_run("", chat.ChatSession())[0] == traces.NO_RUN
    assert traces.show_attempt("nope", "Attempt 1 (passed)", None) == ("", "", "", "", [])


def test_in_private_mode_a_session_sees_only_its_own_runs(fake, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_EXECUTOR_UI_PRIVATE", "1")
    mine, theirs = chat.ChatSession(), chat.ChatSession()
    my_run = run_task("Calculate fibonacci up to n=10", mine)
    their_run = run_task("Print the first 20 prime numbers", theirs)

    frame, empty, table = traces.runs_view(chat.ChatSession())
    assert frame.empty and empty["visible"] is True and table["visible"] is False
    frame, empty, table = traces.runs_view(mine)
    assert len(frame) == 1 and empty["visible"] is False and table["visible"] is True
    assert list(traces.list_runs(mine)["run"]) == [my_run[:12]]
    assert list(traces.list_runs(theirs)["run"]) == [their_run[:12]]
    assert "No run" in traces.open_run(their_run, mine)[0]
    with pytest.raises(Exception, match="Open a run first"):
        traces.export_run(their_run, mine)

    monkeypatch.setenv("MISTRAL_EXECUTOR_UI_PRIVATE", "0")
    assert len(traces.list_runs(mine)) == 2  # locally, the whole store is visible
