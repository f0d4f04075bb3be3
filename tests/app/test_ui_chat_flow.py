"""The Chat tab's flow around a run: the instant echo, what a failed run offers, rewinding,
branching, the vision step, elapsed time, and conversations kept in the browser."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from app.ui import chat, chat_history
from app.ui.chat_render import StepRenderer, final_messages, program_messages
from app.ui.session import SessionSettings
from executor import ExecutionResult, TraceEvent
from executor.conversation import Conversation
from executor.results import Attempt, Failure
from sandbox.contract import ErrorInfo
from tests.app.ui_support import BROKEN_CODE, RECEIPT_OBSERVATIONS, UiModel, broken_code
from tests.fake_mistral import FakeMistral

KEY = "test-key"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path))
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    return tmp_path


@pytest.fixture
def model(fake_mistral: FakeMistral, home: Path, monkeypatch: pytest.MonkeyPatch) -> UiModel:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    brain = UiModel()
    fake_mistral.on_chat(brain)
    return brain


def settings(iterations: int = 2) -> SessionSettings:
    return SessionSettings(sandbox="restricted", max_iterations=iterations, timeout_s=10)


def send(
    task: str | dict, session: chat.ChatSession, history: list | None = None, iterations: int = 2
) -> tuple[list, list]:
    """start + run like the browser does; (every view yielded, the final history)."""
    message = task if isinstance(task, dict) else {"text": task, "files": []}
    first = chat.start(message, history or [], session, settings(iterations), KEY)
    views = [first[:5]]
    views += list(chat.run(first[5], first[0], session, settings(iterations), KEY))
    return views, views[-1][0]


def titles(history: list) -> list[str]:
    return [
        m.metadata.get("title", "") for m in history if isinstance(m, gr.ChatMessage) and m.metadata
    ]


# ------------------------------------------------------------------ point 9: instant echo


def test_the_message_and_a_starting_step_show_before_any_work(model) -> None:
    session = chat.ChatSession()
    history, box, stop, actions, edit, pending = chat.start(
        {"text": "Print 2", "files": []}, [], session, settings(), KEY
    )
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[0].content == "Print 2"
    assert (
        history[1].metadata["title"] == "🚀 Starting" and history[1].metadata["status"] == "pending"
    )
    assert box["value"] is None and box["interactive"] is False
    assert stop["visible"] is True and actions["visible"] is False
    assert pending["text"] == "Print 2"
    assert session.active is None and model.code_requests == 0  # nothing has run yet


def test_running_steps_show_elapsed_time_against_their_limit() -> None:
    renderer = StepRenderer(run_limit_s=10, model_limit_s=60)
    renderer.add(TraceEvent("inspector", "run", "started", attempt=1))
    renderer.add(TraceEvent("mechanic", "code", "started", attempt=2))
    started = renderer._started[("inspector", "run", 1)]
    assert renderer.tick(started + 3.2)
    run_step, code_step = renderer.messages
    assert run_step.metadata["log"] == "3 s / 10 s limit"
    assert code_step.metadata["log"].endswith("/ 60 s limit")
    assert not renderer.tick(started + 3.3)  # nothing visible changed: no new yield needed
    # A running step's content can be replaced as output arrives (for live output later).
    assert renderer.update_running(("inspector", "run", 1), "partial stdout")
    assert run_step.content == "partial stdout"
    renderer.add(TraceEvent("inspector", "run", "ok", attempt=1, payload={"stdout": "done"}))
    assert not renderer.update_running(("inspector", "run", 1), "late")
    assert "log" not in run_step.metadata and run_step.metadata["status"] == "done"


def test_partial_output_updates_the_running_step_and_the_final_event_replaces_it() -> None:
    renderer = StepRenderer()
    renderer.add(TraceEvent("mechanic", "code", "started", attempt=1))
    renderer.add(TraceEvent("mechanic", "code", "partial", attempt=1, payload={"code": "a = 1"}))
    (step,) = renderer.messages
    assert "a = 1" in step.content and step.metadata["status"] == "pending"
    renderer.add(TraceEvent("mechanic", "code", "ok", attempt=1, payload={"code": "a = 2"}))
    assert "a = 2" in step.content and "a = 1" not in step.content
    renderer.add(TraceEvent("inspector", "run", "started", attempt=1))
    renderer.add(TraceEvent("inspector", "run", "partial", attempt=1, payload={"stdout": "1\n"}))
    assert "stdout (so far)" in renderer.messages[-1].content
    # A late partial event (its step already closed) changes nothing.
    renderer.add(TraceEvent("mechanic", "code", "partial", attempt=1, payload={"code": "late"}))
    assert "late" not in step.content


def test_the_starting_step_becomes_started_when_the_first_event_arrives() -> None:
    renderer = StepRenderer()
    renderer.start()
    renderer.add(TraceEvent("scout", "plan", "started"))
    started, planning = renderer.messages
    assert started.metadata["title"] == "🚀 Started" and started.metadata["status"] == "done"
    assert "duration" in started.metadata and planning.metadata["status"] == "pending"


# ------------------------------------------------------------------ point 1: the program


def test_a_failed_run_shows_the_best_attempts_code_and_its_error() -> None:
    attempt = Attempt(
        number=1,
        code=BROKEN_CODE,
        error=ErrorInfo(
            type="NameError",
            message="name 'totl' is not defined",
            traceback="NameError: name 'totl' is not defined",
        ),
        failure=Failure(kind="runtime", message="NameError"),
    )
    result = ExecutionResult(
        success=False,
        code=BROKEN_CODE,
        iterations=[attempt],
        best_attempt=1,
        total_attempts=1,
        stop_reason="max iterations",
    )
    step, download = program_messages(result)
    assert "best attempt's program #1 (not accepted)" in step.metadata["title"]
    assert step.metadata["status"] == "done"  # collapsed
    assert "totl" in step.content and "NameError: name 'totl' is not defined" in step.content
    assert Path(download.content["path"]).read_text() == BROKEN_CODE
    # Nothing to show without code (e.g. a question answered in words).
    assert program_messages(ExecutionResult(success=True, final_output="Paris")) == []


def test_the_program_is_never_clipped() -> None:
    code = "\n".join(f"print({i})" for i in range(3000))
    step, _ = program_messages(ExecutionResult(success=True, code=code))
    assert "print(2999)" in step.content and "clipped" not in step.content


def test_a_host_key_rejection_is_not_blamed_on_the_visitor() -> None:
    trace = [
        TraceEvent(
            "scout",
            "model_error",
            "error",
            payload={"type": "AuthenticationError"},
            message="The Mistral API key was rejected (401). Set MISTRAL_API_KEY",
        )
    ]
    result = ExecutionResult(
        success=False,
        stop_reason="model error",
        trace=trace,
        errors=["model error during scout: ... Set MISTRAL_API_KEY"],
    )
    visitor = final_messages(result, key_source="session")[0].content
    host = final_messages(result, key_source="environment")[0].content
    assert "The key you pasted was rejected" in visitor
    assert "The app's API key was rejected" in host
    assert "MISTRAL_API_KEY" not in visitor + host


# ------------------------------------------------------------------ point 4: vision


def test_a_task_with_an_image_shows_what_the_vision_model_read(model, tmp_path: Path) -> None:
    picture = tmp_path / "receipt.png"
    Image.new("RGB", (40, 30), "white").save(picture)
    _, final = send({"text": "Add up this receipt", "files": [str(picture)]}, chat.ChatSession())
    vision = [m for m in final if m.metadata and "what the model read" in m.metadata["title"]]
    assert len(vision) == 1
    assert RECEIPT_OBSERVATIONS in vision[0].content
    assert "status" not in vision[0].metadata  # open, in plain sight


def test_a_task_without_an_image_has_no_vision_step(model) -> None:
    _, final = send("Add up this receipt", chat.ChatSession())
    assert not any("what the model read" in t for t in titles(final))


# ------------------------------------------------------------------ points 6, 7: redo and rewind


def test_a_failed_run_offers_retry_and_its_code_opens_in_the_sandbox(model) -> None:
    session = chat.ChatSession()
    views, final = send("This never works", session)
    _, box, stop, actions, edit = views[-1]
    assert actions["visible"] is True and stop["visible"] is False and edit["visible"] is True
    assert any("Not solved" in str(m.content) for m in final)
    code, tabs = chat.open_in_sandbox(session)
    assert code["value"] in {broken_code(1), broken_code(2)} and tabs.selected == "sandbox"

    # Retry with more attempts: the failed turn is replaced, with a bigger budget.
    before = model.code_requests
    history, *_, pending = chat.retry_more(final, session, settings(), KEY)
    assert pending["extra"] == chat.EXTRA_ATTEMPTS
    assert [m.content for m in history if m.role == "user"] == ["This never works"]
    final = list(chat.run(pending, history, session, settings(), KEY))[-1][0]
    assert model.code_requests - before == 2 + chat.EXTRA_ATTEMPTS
    assert len(session.turns) == 1 and len(session.conversation.turns) == 1


def test_a_successful_run_hides_the_failure_actions_and_clears_the_box(model) -> None:
    views, _ = send("Print the first 20 prime numbers", chat.ChatSession())
    _, box, _, actions, _ = views[-1]
    assert actions["visible"] is False and box["value"] is None and box["interactive"] is True


def test_a_stopped_run_gives_its_task_back_to_the_box(model) -> None:
    session = chat.ChatSession()
    views: list = []
    worker = threading.Thread(target=lambda: views.extend(send("Count slowly to ten", session)[0]))
    worker.start()
    deadline = time.monotonic() + 30
    while session.active is None and time.monotonic() < deadline:
        time.sleep(0.05)
    chat.stop(session)
    worker.join(30)
    _, box, stop, actions, _ = views[-1]
    assert box["value"] == {"text": "Count slowly to ten", "files": []}
    assert box["interactive"] is True and stop["visible"] is False and actions["visible"] is True


def test_edit_and_resend_puts_the_last_task_back_and_forgets_its_turn(model) -> None:
    session = chat.ChatSession()
    _, first = send("Calculate fibonacci up to n=10", session)
    _, second = send("Print the first 20 prime numbers", session, first)
    assert len(session.conversation.turns) == 2
    history, box, *_ = chat.edit_last(second, session)
    assert box["value"]["text"] == "Print the first 20 prime numbers"
    assert len(history) == len(first) and len(session.conversation.turns) == 1
    assert [t.task for t in session.conversation.turns] == ["Calculate fibonacci up to n=10"]


def test_editing_an_earlier_message_branches_and_keeps_the_original(model) -> None:
    session = chat.ChatSession()
    _, first = send("Calculate fibonacci up to n=10", session)
    _, second = send("Print the first 20 prime numbers", session, first)
    original_id = session.record_id
    original = session.conversation
    index = next(i for i, m in enumerate(second) if m.role == "user")  # the first task
    edit = gr.EditData(None, {"index": index, "value": "Print 2+2", "previous_value": ""})
    history, *_, pending = chat.edit_message(second, session, settings(), KEY, edit)
    assert pending["text"] == "Print 2+2"
    assert [m.content for m in history if m.role == "user"] == ["Print 2+2"]
    assert session.record_id != original_id and "branch" in session.title
    assert session.conversation is not original and session.conversation.turns == []
    assert len(original.turns) == 2  # the original conversation is untouched


def test_editing_the_second_turn_keeps_the_first_in_the_model_history(model, fake_mistral) -> None:
    session = chat.ChatSession()
    _, first = send("Calculate fibonacci up to n=10", session)
    _, second = send("Print the first 20 prime numbers", session, first)
    index = max(i for i, m in enumerate(second) if m.role == "user")
    edit = gr.EditData(None, {"index": index, "value": "Print 3+3", "previous_value": ""})
    history, *_, pending = chat.edit_message(second, session, settings(), KEY, edit)
    list(chat.run(pending, history, session, settings(), KEY))
    assert [t.task for t in session.conversation.turns] == [
        "Calculate fibonacci up to n=10",
        "Print 3+3",
    ]
    prompt = str(fake_mistral.chat_requests[-1].messages)
    assert "fibonacci" in prompt and "prime" not in prompt


# ------------------------------------------------------------------ point 6: browser storage


def test_a_conversation_survives_a_round_trip_through_the_browser_store(model) -> None:
    session = chat.ChatSession()
    _, first = send("Calculate fibonacci up to n=10", session)
    _, second = send("Print the first 20 prime numbers", session, first)
    store, dropdown = chat.save_conversation(second, session, chat_history.empty_store())
    assert dropdown["value"] == session.record_id and len(dropdown["choices"]) == 2
    assert dropdown["choices"][0] == (chat_history.NO_CHOICE_LABEL, chat_history.NO_CHOICE)
    assert KEY not in json.dumps(store)  # the browser keeps the chat, never the key

    reloaded = chat.ChatSession()  # a reload is a new Gradio session
    messages, recent, _ = chat.restore(store, reloaded)
    assert recent["value"] == session.record_id
    assert [t.task for t in reloaded.conversation.turns] == [
        "Calculate fibonacci up to n=10",
        "Print the first 20 prime numbers",
    ]
    texts = [m.content for m in messages if m.role == "user"]
    assert texts == ["Calculate fibonacci up to n=10", "Print the first 20 prime numbers"]
    assert len(reloaded.turns) == 2 and messages[reloaded.turns[1]["start"]].role == "user"
    # Continuing it: the model sees both earlier turns.
    send("Now print them reversed", reloaded, messages)
    assert len(reloaded.conversation.turns) == 3


def test_a_forged_store_cannot_serve_host_files_or_break_the_app(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    forged = {
        "current": "abc",
        "conversations": [
            {
                "id": "abc",
                "title": 5,
                "history": [
                    {
                        "role": "user",
                        "content": [{"type": "file", "path": str(secret), "component": "image"}],
                    },
                    {"role": "assistant", "content": [{"type": "file", "path": "/etc/passwd"}]},
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x" * 100_000}],
                        "turn": 0,
                    },
                    "garbage",
                    {"content": None},
                ],
                "turns": [{"start": "zero", "conv_before": 0}, {"start": 2, "conv_before": 99}],
                "conversation": {"turns": [{"task": "t"}, "junk"], "id": "../../etc"},
            },
            "not a record",
        ],
    }
    session = chat.ChatSession()
    messages, recent, _ = chat.restore(forged, session)
    shown = [m.content for m in messages]
    assert chat_history.FILE_GONE in shown and not any(isinstance(c, gr.Image) for c in shown)
    assert all(not isinstance(c, dict) for c in shown)  # no file left to serve
    assert (
        len(max((c for c in shown if isinstance(c, str)), key=len)) == chat_history.MAX_TEXT_CHARS
    )
    assert session.conversation.id != "../../etc" and len(session.conversation.turns) == 1
    assert all(mark["conv_before"] <= 1 for mark in session.turns)
    assert chat.restore("nonsense", chat.ChatSession())[0] == []


def test_a_cached_upload_is_shown_again_after_a_reload() -> None:
    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    cache.mkdir(parents=True, exist_ok=True)
    picture = Path(tempfile.mkdtemp(dir=cache)) / "figure.png"
    Image.new("RGB", (8, 8), "red").save(picture)
    stored = chat_history.storable_messages(
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "component", "component": "image", "value": {"path": str(picture)}}
                ],
            },
        ]
    )
    messages, _ = chat_history.restore_messages(stored)
    assert isinstance(messages[0].content, gr.Image)


def test_the_store_keeps_only_the_newest_conversations() -> None:
    store = chat_history.empty_store()
    for number in range(chat_history.MAX_CONVERSATIONS + 3):
        store = chat_history.save(
            store,
            f"id{number}",
            f"task {number}",
            Conversation(),
            [],
            [{"start": 0, "conv_before": 0}],
        )
    ids = [record["id"] for record in store["conversations"]]
    assert len(ids) == chat_history.MAX_CONVERSATIONS and ids[0] == f"id{number}"


def test_a_reload_after_new_conversation_opens_the_empty_chat() -> None:
    store = chat_history.save(chat_history.empty_store(), "abc", "t", Conversation(), [], [])
    assert store["current"] == "abc"
    cleared = chat_history.with_current(store, "")
    assert cleared["current"] == "" and chat_history.find(cleared, "abc") is not None
    assert chat.restore(cleared, chat.ChatSession())[0] == []
    assert chat_history.with_current(store, "forged")["current"] == ""


def test_new_conversation_keeps_what_is_typed_and_the_old_one_listed(model) -> None:
    session = chat.ChatSession()
    _, final = send("Calculate fibonacci up to n=10", session)
    store, _ = chat.save_conversation(final, session, chat_history.empty_store())
    history, box, *_, recent = chat.new_conversation(session)
    assert history == [] and "value" not in box and recent["value"] == chat_history.NO_CHOICE
    # Picking the list's heading changes nothing.
    assert all(
        update == {"__type__": "update"}
        for update in chat.open_conversation(chat_history.NO_CHOICE, store, session)
    )
    assert chat_history.find(store, store["current"]) is not None
    reopened = chat.open_conversation(store["current"], store, session)[0]
    assert [m.content for m in reopened if m.role == "user"] == ["Calculate fibonacci up to n=10"]


def test_stop_pressed_while_the_run_is_set_up_still_stops_it(model) -> None:
    session = chat.ChatSession()
    first = chat.start({"text": "Count slowly to ten", "files": []}, [], session, settings(), KEY)
    chat.stop(session)  # no stream yet: remembered
    final = list(chat.run(first[5], first[0], session, settings(), KEY))[-1][0]
    assert any("Stopped" in str(m.content) for m in final)  # else "Done" after the slow reply
    assert session.stop_requested is False  # the next run is not affected


def test_edit_and_resend_works_on_a_conversation_reopened_after_a_reload(model) -> None:
    session = chat.ChatSession()
    _, final = send("Calculate fibonacci up to n=10", session)
    store, _ = chat.save_conversation(final, session, chat_history.empty_store())
    reloaded = chat.ChatSession()
    messages, *_ = chat.restore(store, reloaded)
    history, box, *_ = chat.edit_last(messages, reloaded)
    assert box["value"]["text"] == "Calculate fibonacci up to n=10"
    assert history == [] and reloaded.conversation.turns == []


def test_a_late_page_load_never_replaces_what_the_chat_already_shows(model) -> None:
    """On a slow server the load event can come after the visitor's first message."""
    session = chat.ChatSession()
    _, first = send("Calculate fibonacci up to n=10", session)
    store, _ = chat.save_conversation(first, session, chat_history.empty_store())

    quick = chat.ChatSession()  # a reload, and a message sent before the load event ran
    shown = [{"role": "user", "content": "Print the first 20 prime numbers"}]
    messages, recent, edit = chat.restore(store, quick, shown)
    assert messages == gr.update() and edit == gr.update()  # the chat is left as it is
    assert quick.conversation is None  # the stored conversation was not reopened under it
    assert len(recent["choices"]) == 2  # the recent list is still filled in
