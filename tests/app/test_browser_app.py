"""End to end in a real browser: headless Chromium (Debian's) driven by Playwright.

The app runs in this process on a free localhost port, against the fake Mistral server with a
scripted model and no key in the environment, so the tests see what a visitor of a fresh
deployment sees. Screenshots land in a temp dir; with MISTRAL_EXECUTOR_UPDATE_SCREENSHOTS=1 they
replace the ones in docs/screenshots/ that the README shows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_api  # a dev dependency: never skipped
import pytest

from tests.app.ui_support import FAKE_KEY, running_app
from tests.requirements import unavailable

expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("MISTRAL_EXECUTOR_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "mistral-executor-screenshots"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 30_000
SCROLL_CHAT_TO_TOP = """() => {
  for (const el of document.querySelectorAll('#chatbot *')) {
    if (el.scrollHeight > el.clientHeight + 10) el.scrollTop = 0;
  }
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_app(tmp_path_factory.mktemp("home")) as (url, _fake, _model):
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not CHROMIUM.exists():
        unavailable("Debian's chromium at /usr/bin/chromium (scripts/browser-deps.sh)")
    sync_api = playwright_api
    profile = tmp_path_factory.mktemp("chromium-profile")  # a new, empty user-data dir
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 960},
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, app_url: str):
    """A fresh page is a fresh Gradio session: no key, no conversation."""
    page = browser.new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="Chat").wait_for()
    try:
        yield page
    finally:
        page.close()


def screenshot(page, name: str, **options) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **options)


def add_key(page) -> None:
    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings-api-key input").fill(FAKE_KEY)
    page.locator("#settings-key-status").get_by_text("your API key").wait_for()
    page.get_by_role("tab", name="Chat").click()


def submit_task(page, task: str) -> None:
    box = page.locator("#chat-input textarea")
    box.fill(task)
    box.press("Enter")


def test_the_sandbox_tab_runs_code_with_no_key(page) -> None:
    notice = page.locator("#chat-key-notice")
    notice.get_by_text("No Mistral API key yet").wait_for()
    assert "Settings" in notice.inner_text()
    screenshot(page, "no-key")

    page.get_by_role("tab", name="Sandbox").click()
    page.locator("#sandbox-run").click()
    page.locator("#sandbox-status").get_by_text("Finished").wait_for()
    assert "sum of squares 1..10 = 385" in page.locator("#sandbox-stdout textarea").input_value()
    page.locator("#sandbox-images img").first.wait_for()
    screenshot(page, "sandbox", full_page=True)

    # The Plugins tab works without a key too: every connector says it will serve locally.
    page.get_by_role("tab", name="Plugins").click()
    page.locator("#plugins-connectors").get_by_text("document_library").filter(
        visible=True
    ).wait_for()
    screenshot(page, "plugins", full_page=True)
    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings-key-status").get_by_text("No Mistral API key yet").wait_for()
    screenshot(page, "settings", full_page=True)


def test_a_task_streams_its_phases_shows_the_plot_and_opens_as_a_trace(page) -> None:
    add_key(page)
    submit_task(page, "Plot sin and cos from 0 to 2 pi")
    chat = page.locator("#chatbot")
    # The plan is done while the Mechanic is still writing: the phases arrive one by one.
    chat.get_by_text("Mechanic · writing attempt 1").wait_for()
    chat.get_by_text("Scout · plan").wait_for()
    screenshot(page, "chat-running")

    chat.get_by_text("Done.").wait_for()
    assert "plotted 126 points" in chat.inner_text()
    figure = chat.locator("img").last
    figure.wait_for()
    assert figure.evaluate("img => img.naturalWidth") > 100
    chat.get_by_text("Inspector · attempt 1 ran").wait_for()
    expect(page.locator("#chat-input textarea")).to_be_editable()  # the run's events are over
    # A tall window and the chat scrolled to the top: the steps, the output and the figure.
    page.set_viewport_size({"width": 1280, "height": 1800})
    chat.get_by_text("Mechanic · attempt 1 code").click()  # open the step: show the code
    chat.get_by_text("plt.legend()").wait_for()
    page.evaluate(SCROLL_CHAT_TO_TOP)
    page.wait_for_timeout(800)  # the step's opening animation
    screenshot(page, "chat")
    page.set_viewport_size({"width": 1280, "height": 960})

    page.get_by_role("tab", name="Traces").click()
    page.locator("#traces-refresh").click()
    page.locator("#traces-runs").get_by_text("Plot sin and cos").filter(visible=True).first.click()
    page.locator("#traces-summary").get_by_text("success").wait_for()
    timeline = page.locator("#traces-timeline")
    timeline.get_by_text("mechanic").filter(visible=True).first.wait_for()
    assert "inspector" in timeline.inner_text()
    page.locator("#traces-images img").first.wait_for()
    screenshot(page, "traces", full_page=True)


def test_a_long_run_blocks_no_one_and_the_stop_button_cancels_it(page, browser, app_url) -> None:
    add_key(page)
    submit_task(page, "Count slowly to ten")
    chat = page.locator("#chatbot")
    chat.get_by_text("Mechanic · writing attempt 1").wait_for()

    # Meanwhile another visitor (another session) runs code and gets the answer at once.
    other = browser.new_page()
    try:
        other.goto(app_url)
        other.get_by_role("tab", name="Sandbox").click()
        other.locator("#sandbox-run").click()
        other.locator("#sandbox-status").get_by_text("Finished").wait_for(timeout=15_000)
    finally:
        other.close()
    chat.get_by_text("Mechanic · writing attempt 1").wait_for()  # still running

    page.locator("#chat-stop").click()
    # The model would answer after 25 s; the stop lands well before.
    chat.get_by_text("Stopped.").wait_for(timeout=10_000)
    screenshot(page, "stopped")
    # The box is usable again for the next task.
    expect(page.locator("#chat-input textarea")).to_be_editable()
