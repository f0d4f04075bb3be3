"""Review before running and live Mechanic code, in a real browser (Debian's Chromium).

With "Review code before it runs" on, a run pauses after the Mechanic writes code and the chat
shows it in an editable box with Run, Edit & run and Reject + note. Live code: the fake model's
stream is held half-way, so the code is seen in the Mechanic's step *before* that step
completes -- by order, never by a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import playwright.sync_api as playwright_api
import pytest

from tests.app.test_browser_app import browser, screenshot  # noqa: F401 - a fixture, shared
from tests.app.ui_support import FAKE_KEY, running_app
from tests.executor.executor_script import code_reply, kind_of, plan, verdict
from tests.fake_mistral import FakeMistral, RecordedRequest, reply

expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LONG_MS = 60_000
HOLD = 0.0421  # the event gap marking the reply whose stream is held
LIVE_PROGRAM = "\n".join(f"x{i} = {i}" for i in range(12)) + "\nprint('sum', sum([x0, x11]))"


class ReviewModel:
    """Plans, judges, and writes: 'hello' (in capitals once a note asks for it), or -- for a
    task about live code -- a program streamed slowly and held half-way until released."""

    def __init__(self, fake: FakeMistral) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        sent = {"n": 0}
        original = fake._sleep

        def sleep(seconds: float) -> None:
            if seconds != HOLD:
                original(seconds)
                return
            sent["n"] += 1
            if sent["n"] == 25:
                self.held.set()
                self.release.wait(120)

        fake._sleep = sleep

    def __call__(self, request: RecordedRequest):
        kind = kind_of(request)
        if kind == "plan":
            return reply(json=plan())
        if kind == "verdict":
            return reply(json=verdict(True, "done"))
        if kind == "tools":
            return reply("READY")
        asked = "\n".join(str(m.get("content")) for m in request.messages)
        if "live code" in asked:
            return reply(code_reply(LIVE_PROGRAM), event_gap_s=HOLD)
        return reply(code_reply("print('HELLO')" if "capital" in asked else "print('hello')"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ReviewModel]]:
    with running_app(tmp_path_factory.mktemp("home")) as (url, fake, _model):
        model = ReviewModel(fake)
        fake.on_chat(model)
        yield url, model
        model.release.set()


@pytest.fixture
def page(browser, served):  # noqa: F811 - the shared browser fixture
    url, _ = served
    page = browser.new_page()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.set_default_timeout(LONG_MS)
    page.goto(url)
    page.get_by_role("tab", name="Chat").wait_for()
    page.evaluate("localStorage.clear()")
    page.reload()
    page.get_by_role("tab", name="Chat").wait_for()
    page.locator("#chat-key-input input").fill(FAKE_KEY)
    page.locator("#chat-key-use").click()
    expect(page.locator("#chat-key-notice")).to_be_hidden(timeout=LONG_MS)
    try:
        yield page
    finally:
        page.close()


def turn_review_on(page) -> None:
    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings-review input").check()
    page.locator("#settings-saved").get_by_text("Review on").wait_for()
    page.get_by_role("tab", name="Chat").click()


def submit(page, task: str) -> None:
    box = page.locator("#chat-input textarea")
    box.fill(task)
    box.press("Enter")


def wait_for_review(page, attempt: int, code: str) -> None:
    """The run is paused on ``attempt``: its step says so and the box holds its code."""
    chat(page).get_by_text(f"Review · attempt {attempt} waits for you").wait_for()
    expect(review_box(page)).to_be_visible(timeout=LONG_MS)
    expect(page.locator("#chat-review-code .cm-content")).to_contain_text(code, timeout=LONG_MS)


def chat(page):
    return page.locator("#chatbot")


def review_box(page):
    return page.locator("#chat-review")


def code_in_box(page) -> str:
    return page.locator("#chat-review-code .cm-content").inner_text()


def replace_code(page, code: str) -> None:
    editor = page.locator("#chat-review-code .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)


def test_review_is_off_by_default_and_run_runs_the_code(page) -> None:
    submit(page, "Say hello")
    chat(page).get_by_text("Done.").wait_for()
    expect(review_box(page)).to_be_hidden(timeout=LONG_MS)  # off by default: nothing paused

    turn_review_on(page)
    submit(page, "Say hello again")
    wait_for_review(page, 1, "print('hello')")
    screenshot(page, "review")
    page.locator("#chat-review-run").click()
    expect(review_box(page)).to_be_hidden(timeout=LONG_MS)
    chat(page).get_by_text("Review · attempt 1 approved").wait_for()
    expect(chat(page).get_by_text("Done.")).to_have_count(2, timeout=LONG_MS)


def test_edit_and_run_runs_the_visitors_version(page) -> None:
    turn_review_on(page)
    submit(page, "Say hello")
    wait_for_review(page, 1, "print('hello')")
    replace_code(page, "print('edited by hand')")
    assert "edited by hand" in code_in_box(page)
    page.locator("#chat-review-edit").click()
    expect(review_box(page)).to_be_hidden(timeout=LONG_MS)
    chat(page).get_by_text("Review · attempt 1 edited by you").wait_for()
    chat(page).get_by_text("Done.").wait_for()
    expect(chat(page).get_by_text("edited by hand").first).to_be_attached(timeout=LONG_MS)


def test_reject_with_a_note_gets_a_new_version_to_review(page) -> None:
    turn_review_on(page)
    submit(page, "Say hello")
    wait_for_review(page, 1, "print('hello')")
    page.locator("#chat-review-reject").click()  # no note yet: asked for one, still paused
    page.locator("#chat-review-feedback").get_by_text("Write a note first").wait_for()
    expect(review_box(page)).to_be_visible(timeout=LONG_MS)
    page.locator("#chat-review-note textarea").fill("Use capital letters.")
    page.locator("#chat-review-reject").click()
    chat(page).get_by_text("Review · attempt 1 rejected").wait_for()
    wait_for_review(page, 2, "print('HELLO')")  # the Mechanic's next version, in the box
    page.locator("#chat-review-run").click()
    chat(page).get_by_text("Review · attempt 2 approved").wait_for()
    chat(page).get_by_text("Done.").wait_for()


def test_the_code_shows_in_the_mechanic_step_while_it_is_written(page, served) -> None:
    _, model = served
    submit(page, "Show live code as it is written")
    assert model.held.wait(LONG_MS / 1000), "the model's stream never reached the hold"
    # The stream is held half-way: the step is still running, yet its code is already there.
    chat(page).get_by_text("x1 = 1").first.wait_for()
    expect(chat(page).get_by_text("Mechanic · writing attempt 1")).to_be_visible(timeout=LONG_MS)
    expect(chat(page).get_by_text("x11 = 11")).to_have_count(0, timeout=LONG_MS)
    screenshot(page, "live-code")
    model.release.set()
    chat(page).get_by_text("Done.").wait_for()
    expect(chat(page).get_by_text("Mechanic · attempt 1 code")).to_be_visible(timeout=LONG_MS)
