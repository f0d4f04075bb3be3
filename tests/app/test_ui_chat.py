"""The Chat tab's handlers, driven as plain functions against the fake Mistral server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from app.ui import chat
from app.ui.chat_render import StepRenderer
from app.ui.session import NO_KEY_MESSAGE, SessionSettings
from executor import TraceEvent
from tests.app.ui_support import FIBONACCI_CODE, UiModel
from tests.executor.executor_script import kind_of
from tests.fake_mistral import FakeMistral

KEY = "test-key"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path))
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    return tmp_path


@pytest.fixture
def fake(fake_mistral: FakeMistral, home: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMistral:
    """The fake server with the UI's scripted model; the key must come from the session."""
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    fake_mistral.on_chat(UiModel())
    return fake_mistral


def settings() -> SessionSettings:
    return SessionSettings(sandbox="restricted", max_iterations=3, timeout_s=10)


def run(
    task: str | dict, session: chat.ChatSession, history: list | None = None, key: str = KEY
) -> list[list]:
    """Every history the handler yielded, in order."""
    message = task if isinstance(task, dict) else {"text": task, "files": []}
    return [h for h, _ in chat.submit(message, history or [], session, settings(), key)]


def titles(history: list) -> list[str]:
    return [
        m.metadata.get("title", "") for m in history if isinstance(m, gr.ChatMessage) and m.metadata
    ]


def answer_of(history: list) -> gr.ChatMessage:
    """The answer: the last plain (non-step) text message."""
    return [
        m
        for m in history
        if isinstance(m, gr.ChatMessage) and not m.metadata and isinstance(m.content, str)
    ][-1]


def text_of(history: list) -> str:
    return "\n".join(
        m.content for m in history if isinstance(m, gr.ChatMessage) and isinstance(m.content, str)
    )


def test_without_a_key_the_chat_says_how_to_add_one_and_calls_nothing(fake, monkeypatch) -> None:
    monkeypatch.delenv("MISTRAL_SERVER_URL")  # Mistral's cloud: a key is required
    message = {"text": "Print 1+1", "files": []}
    yields = list(chat.submit(message, [], chat.ChatSession(), settings(), ""))
    final, box = yields[-1]
    assert final[-1].content == NO_KEY_MESSAGE
    # The task is not thrown away: the box is left as it is (no new value), still editable.
    assert "value" not in box and box.get("interactive") is not False
    assert fake.chat_requests == []
    # Sending it again once a key is there does not pile up notices.
    again = list(chat.submit(message, final, chat.ChatSession(), settings(), ""))[-1][0]
    assert [m.content for m in again].count(NO_KEY_MESSAGE) == 1


def test_a_task_streams_its_phases_as_steps_then_the_answer(fake) -> None:
    session = chat.ChatSession()
    message = {"text": "Calculate fibonacci up to n=10", "files": []}
    # Steps are updated in place as the run goes on: look at each yield when it is made.
    pending: list[str] = []
    final: list = []
    for history, _ in chat.submit(message, [], session, settings(), KEY):
        pending += [
            m.metadata["title"]
            for m in history
            if isinstance(m, gr.ChatMessage) and m.metadata.get("status") == "pending"
        ]
        final = history
    assert any("Scout" in title for title in pending)
    assert any("Mechanic" in title for title in pending)
    assert any("Inspector" in title for title in pending)

    step_titles = titles(final)
    assert any("Scout · plan" in t for t in step_titles)
    assert any("Mechanic · attempt 1 code" in t for t in step_titles)
    assert any("Inspector · attempt 1 ran" in t for t in step_titles)
    steps = [m for m in final if isinstance(m, gr.ChatMessage) and m.metadata]
    assert all(m.metadata["status"] == "done" for m in steps)
    assert any(m.metadata.get("duration") for m in steps)
    code_step = next(m for m in steps if "Mechanic" in m.metadata["title"])
    assert "```python" in code_step.content and "fibonacci" in code_step.content
    answer = answer_of(final)
    assert (
        "Done" in answer.content
        and "fibonacci: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]" in answer.content
    )
    # The accepted program follows the answer, collapsed, and as a program.py download.
    program = next(
        m for m in final if m.metadata and "The program (accepted)" in m.metadata["title"]
    )
    assert program.metadata["status"] == "done"
    assert "```python" in program.content and "numbers.append(a)" in program.content
    download = final[-1].content
    assert Path(download["path"]).name == "program.py"
    assert Path(download["path"]).read_text() == FIBONACCI_CODE
    assert session.active is None
    assert len(session.run_ids) == 1


def test_the_figures_a_program_draws_are_shown_inline_with_the_answer(fake) -> None:
    final = run("Plot sin and cos", chat.ChatSession())[-1]
    images = [
        m.content
        for m in final
        if isinstance(m, gr.ChatMessage) and isinstance(m.content, gr.Image)
    ]
    assert len(images) == 1
    assert images[0].value is not None
    assert "plotted 126 points" in text_of(final)


def test_a_failed_attempt_shows_the_fix_and_the_healed_answer(fake) -> None:
    final = run("Add 1..10 and heal it", chat.ChatSession())[-1]
    step_titles = titles(final)
    assert any("attempt 1 failed" in t for t in step_titles)
    assert any("Iterate" in t and "runtime" in t for t in step_titles)
    assert any("attempt 2 ran" in t for t in step_titles)
    assert "total: 55" in text_of(final)
    assert "NameError" in text_of(final)


def test_a_follow_up_sees_the_earlier_turn_and_sessions_are_separate(fake) -> None:
    mine, theirs = chat.ChatSession(), chat.ChatSession()
    first = run("Calculate fibonacci up to n=10", mine)[-1]
    run("Now do it again in reverse order", mine, history=first)
    follow_up_plan = [r for r in fake.chat_requests if "Now do it again" in str(r.messages)][0]
    assert "Conversation so far" in str(follow_up_plan.messages)
    assert "Calculate fibonacci up to n=10" in str(follow_up_plan.messages)
    assert len(mine.conversation.turns) == 2

    run("Print the first 20 prime numbers", theirs)
    their_requests = [r for r in fake.chat_requests if "first 20 prime" in str(r.messages)]
    assert their_requests
    assert all("Calculate fibonacci" not in str(r.messages) for r in their_requests)
    assert all("Conversation so far" not in str(r.messages) for r in their_requests)
    assert theirs.conversation.id != mine.conversation.id


def test_new_conversation_forgets_the_turns(fake) -> None:
    session = chat.ChatSession()
    run("Calculate fibonacci up to n=10", session)
    history, *_ = chat.new_conversation(session)
    assert history == [] and session.conversation is None
    run("Print the first 20 prime numbers", session)
    assert "Conversation so far" not in str(fake.chat_requests[-1].messages)


def test_stop_cancels_a_long_run_from_another_thread(fake) -> None:
    session = chat.ChatSession()
    yields: list[list] = []

    def consume() -> None:
        yields.extend(run("Count slowly to ten", session))

    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 20
    while session.active is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.active is not None, "the run never started"
    time.sleep(0.5)  # the Mechanic is now waiting on a 25 s model reply
    stopped_at = time.monotonic()
    chat.stop(session)
    worker.join(15)
    assert not worker.is_alive()
    assert time.monotonic() - stopped_at < 10
    final = yields[-1]
    assert "Stopped" in final[-1].content
    assert session.active is None
    # A second stop with nothing running is harmless.
    chat.stop(session)


def test_a_second_task_while_one_runs_is_refused(fake) -> None:
    session = chat.ChatSession()
    session.active = object()  # a run under way
    final = run("Print 2", session)[-1]
    assert "already under way" in final[-1].content


def test_an_attached_image_reaches_the_vision_model(fake, tmp_path: Path) -> None:
    picture = tmp_path / "receipt.png"
    Image.new("RGB", (40, 30), "white").save(picture)
    final = run({"text": "Add up this receipt", "files": [str(picture)]}, chat.ChatSession())[-1]
    assert isinstance(final[0].content, gr.Image)  # the user's image is shown in the chat
    with_images = [r for r in fake.chat_requests if r.images()]
    assert with_images, "no request carried the image"
    assert with_images[0].json["model"] in {
        "mistral-medium-latest",
        "mistral-large-latest",
        "mistral-small-latest",
        "pixtral-large-latest",
    }


def test_the_key_never_reaches_the_chat_or_the_trace_store(fake, home: Path) -> None:
    final = run("Calculate fibonacci up to n=10", chat.ChatSession())[-1]
    assert KEY not in text_of(final)
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the key was written to {path}"
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.chat_requests)


def test_a_model_error_closes_open_steps_and_says_what_failed() -> None:
    renderer = StepRenderer()
    renderer.add(TraceEvent("scout", "plan", "started"))
    renderer.add(TraceEvent("scout", "model_error", "error", message="Invalid API key"))
    opened, error = renderer.messages
    assert opened.metadata["status"] == "done" and "interrupted" in opened.metadata["title"]
    assert error.content == "Invalid API key" and error.metadata["title"].startswith("❌")


def test_the_renderer_closes_steps_left_open_when_a_run_is_stopped() -> None:
    renderer = StepRenderer()
    renderer.add(TraceEvent("mechanic", "code", "started", attempt=1))
    renderer.add(TraceEvent("mechanic", "cancelled", "cancelled", attempt=1, message="cancelled"))
    (step,) = renderer.messages
    assert step.metadata["status"] == "done"
    assert "stopped" in step.metadata["title"]


def test_split_message_accepts_the_multimodal_value_and_plain_text() -> None:
    assert chat.split_message({"text": "  hi ", "files": [{"path": "/a.png"}, "/b.png"]}) == (
        "hi",
        ["/a.png", "/b.png"],
    )
    assert chat.split_message("plain") == ("plain", [])
    assert chat.split_message(None) == ("", [])


def test_a_refused_key_ends_the_run_with_a_readable_error(fake) -> None:
    final = run("Calculate fibonacci up to n=10", chat.ChatSession(), key="wrong-key")[-1]
    error_steps = [
        m
        for m in final
        if isinstance(m, gr.ChatMessage) and m.metadata.get("title", "").startswith("❌")
    ]
    assert error_steps, titles(final)
    assert "key" in error_steps[0].content.lower()
    assert "wrong-key" not in text_of(final)
    # Spoken to the visitor whose key it is, without the host's advice (env vars, server URL).
    assert "the key you pasted was rejected" in answer_of(final).content.lower()
    assert "the key you pasted was rejected" in error_steps[0].content.lower()
    assert "MISTRAL_API_KEY" not in text_of(final) and "MISTRAL_SERVER_URL" not in text_of(final)


def test_a_tool_call_shows_which_connector_served_it(fake, tmp_path: Path) -> None:
    from app.ui.plugins_tab import upload_documents
    from tests.fake_mistral import reply, tool_call

    session = chat.ChatSession()
    notes = tmp_path / "pump.md"
    notes.write_text("# Pump\n\nThe pump valve must be replaced every 400 hours.\n")
    upload_documents([str(notes)], KEY, settings(), session)
    model = UiModel()
    asked: list[bool] = []

    def with_a_search(request):
        if request.get("tools") and not asked:
            asked.append(True)
            return reply(tool_calls=[tool_call("search_documents", {"query": "valve hours"})])
        return model(request)

    fake.on_chat(with_a_search)
    final = run("How often is the valve replaced? Print it.", session)[-1]
    tool_step = next(
        m
        for m in final
        if isinstance(m, gr.ChatMessage)
        and "Tool · search_documents" in m.metadata.get("title", "")
    )
    # With a key, the upload also went to a Mistral library, so Mistral's connector answered.
    assert "Served by:** mistral (document_library)" in tool_step.content
    assert "400 hours" in tool_step.content and "pump.md" in tool_step.content
    assert any("asks for search_documents" in t for t in titles(final))
    # The Mechanic was given what the tool found.
    mechanic_request = [r for r in fake.chat_requests if kind_of(r) == "code"][-1]
    assert "400 hours" in str(mechanic_request.messages)
