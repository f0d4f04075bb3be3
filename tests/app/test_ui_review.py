"""Review before running in the Chat tab, without a browser: the handlers over the fake server.

The run handler is a generator: each test steps through it, and when a yielded view shows the
review panel, presses a panel button (a plain function) before asking for the next view -- as
the browser does from another request while the run waits.
"""

from __future__ import annotations

import gradio as gr
import pytest

from app.ui import chat, chat_review
from app.ui.chat_render import StepRenderer
from app.ui.session import SessionSettings
from app.ui.settings import apply_settings, set_review
from executor import TraceEvent
from tests.executor.executor_script import code_reply, kind_of, plan, verdict
from tests.fake_mistral import FakeMistral, RecordedRequest, reply

KEY = "test-key"
HELLO = "print('hello')\n"


@pytest.fixture
def fake(fake_mistral: FakeMistral, tmp_path, monkeypatch) -> FakeMistral:
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path))
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S", raising=False)

    def model(request: RecordedRequest):
        kind = kind_of(request)
        if kind == "plan":
            return reply(json=plan())
        if kind == "verdict":
            return reply(json=verdict(True, "done"))
        if kind == "tools":
            return reply("READY")
        asked = "\n".join(str(m.get("content")) for m in request.messages)
        return reply(code_reply("print('HELLO')" if "capital" in asked else HELLO))

    fake_mistral.on_chat(model)
    return fake_mistral


def reviewing(iterations: int = 2) -> SessionSettings:
    return SessionSettings(sandbox="restricted", max_iterations=iterations, review=True)


def drive(session: chat.ChatSession, task: str, *decisions, settings=None) -> list[tuple]:
    """Run ``task``; each time the panel shows, call the next decision(session, code shown)."""
    first = chat.start({"text": task, "files": []}, [], session, settings or reviewing(), KEY)
    views = []
    pending = list(decisions)
    last = None
    for view in chat_review.run(first[5], first[0], session, settings or reviewing(), KEY):
        views.append(view)
        panel, _status, code = view[5], view[6], view[7]
        state = (panel.get("visible"), code.get("value"))
        if state == last:  # the same state repeated (Gradio sends nothing for it)
            continue
        last = state
        if panel.get("visible") is True and pending:
            views.append(("decision", pending.pop(0)(session, code.get("value", ""))))
    assert not pending, "the panel did not show for every scripted decision"
    return views


def final_history(views: list[tuple]) -> list:
    return [v for v in views if v[0] != "decision"][-1][0]


def panel_visible(views: list[tuple]) -> bool:
    """Whether the panel is showing after these views (the last update that set it)."""
    states = [v[5]["visible"] for v in views if v[0] != "decision" and "visible" in v[5]]
    return bool(states) and states[-1] is True


def step_titles(history: list) -> list[str]:
    return [
        m.metadata.get("title", "") for m in history if isinstance(m, gr.ChatMessage) and m.metadata
    ]


def answer_text(history: list) -> str:
    return "\n".join(str(m.content) for m in history if isinstance(m, gr.ChatMessage))


def test_run_shows_the_code_in_the_panel_then_runs_it(fake) -> None:
    session = chat.ChatSession()
    shown: list[str] = []

    def press_run(session, code):
        shown.append(code)
        assert chat_review._waiting(session).code == code
        return chat_review.review_run(session, code)

    views = drive(session, "say hello", press_run)
    assert shown == [HELLO]
    history = final_history(views)
    assert "Done" in answer_text(history) and "hello" in answer_text(history)
    assert any("Review · attempt 1 approved" in t for t in step_titles(history))
    decision = next(v for v in views if v[0] == "decision")[1]
    assert decision[0]["visible"] is False  # the panel hides at the press
    assert not panel_visible(views) and session.review_desk is None


def test_run_with_changes_in_the_box_runs_them_as_an_edit(fake) -> None:
    session = chat.ChatSession()
    views = drive(session, "say hello", lambda s, code: chat_review.review_run(s, "print('bye')\n"))
    history = final_history(views)
    titles = step_titles(history)
    assert any("attempt 1 edited by you" in t for t in titles)
    edited = next(m for m in history if "edited by you" in m.metadata.get("title", ""))
    assert "```diff" in edited.content and "+print('bye')" in edited.content
    assert "bye" in answer_text(history)


def test_edit_and_run_needs_a_change_and_then_runs_it(fake) -> None:
    session = chat.ChatSession()
    said: list[str] = []

    def unchanged_then_changed(session, code):
        panel, status = chat_review.review_edit(session, code)
        said.append(status["value"])
        assert "visible" not in panel  # still waiting: the panel stays
        return chat_review.review_edit(session, "print('edited')\n")

    views = drive(session, "say hello", unchanged_then_changed)
    assert "unchanged" in said[0]
    assert "edited" in answer_text(final_history(views))


def test_reject_needs_a_note_which_reaches_the_model(fake) -> None:
    session = chat.ChatSession()
    said: list[str] = []

    def reject(session, code):
        _, status = chat_review.review_reject(session, "  ")
        said.append(status["value"])
        return chat_review.review_reject(session, "Use capital letters.")

    views = drive(session, "say hello", reject, lambda s, code: chat_review.review_run(s, code))
    assert "Write a note first" in said[0]
    history = final_history(views)
    titles = step_titles(history)
    assert any("Review · attempt 1 rejected" in t for t in titles)
    assert any("Review · attempt 2 approved" in t for t in titles)
    assert "HELLO" in answer_text(history)
    codes = [r for r in fake.chat_requests if kind_of(r) == "code"]
    assert "Use capital letters." in str(codes[1].messages[-1]["content"])


def test_stop_while_the_code_waits_for_review(fake) -> None:
    session = chat.ChatSession()

    def stop(session, code):
        chat.stop(session)
        return None

    views = drive(session, "say hello", stop)
    history = final_history(views)
    assert "Stopped" in answer_text(history)
    assert not panel_visible(views) and session.active is None


def test_a_review_left_too_long_stops_the_run(fake, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S", "1")
    session = chat.ChatSession()
    views = drive(session, "say hello", lambda s, code: None)  # nobody decides
    history = final_history(views)
    assert any("Review · attempt 1 not decided" in t for t in step_titles(history))
    assert "no review decision within 1 s" in answer_text(history)
    assert not panel_visible(views)
    # Too late: a press after the timeout changes nothing and just hides the panel.
    assert chat_review.review_run(session, HELLO)[0]["visible"] is False


def test_without_review_nothing_pauses(fake) -> None:
    session = chat.ChatSession()
    views = drive(session, "say hello", settings=SessionSettings(sandbox="restricted"))
    assert all(v[5].get("visible") is False for v in views)
    assert "hello" in answer_text(final_history(views))


def test_the_review_setting_is_per_session_and_off_by_default() -> None:
    assert SessionSettings().review is False
    on, message = set_review(SessionSettings(), True)
    assert on.review is True and "Review on" in message
    off, message = set_review(on, False)
    assert off.review is False and "Review off" in message
    kept, summary = apply_settings(on, "", "", "restricted", 3, 10, 512)
    assert kept.review is True and "code reviewed before it runs" in summary


def test_the_renderer_shows_the_pause_and_each_decision() -> None:
    def event(status, attempt=1, **payload):
        return TraceEvent("mechanic", "review", status, attempt=attempt, payload=payload)

    renderer = StepRenderer()
    renderer.add(event("started", code=HELLO, review_timeout_s=300))
    (waiting,) = renderer.messages
    assert "waits for you" in waiting.metadata["title"] and waiting.metadata["status"] == "pending"
    renderer.tick()
    assert "/ 300 s limit" in waiting.metadata["log"]
    renderer.add(event("edited", diff="-a\n+b\n", note="why not"))
    assert "edited by you" in waiting.metadata["title"] and "```diff" in waiting.content
    assert "why not" in waiting.content and waiting.metadata["status"] == "done"
    renderer.add(event("started", attempt=2))
    renderer.add(event("rejected", attempt=2, note="nope"))
    assert "rejected" in renderer.messages[-1].metadata["title"]
    assert "nope" in renderer.messages[-1].content
