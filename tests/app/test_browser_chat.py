"""The web app's second round, in a real browser (Debian's Chromium driven by Playwright).

One test (or more) per point of issue 16: the program in the answer, the key checked at once, no
sideways scrolling at 390 px, the vision step, the first screen, typed work kept, what a failed
run offers, a readable Traces tab, and progress from the first instant. Waits are Playwright's
own, with generous timeouts; the "instant" feedback is asserted by *order* (it shows while the
fake model still holds its reply), never by a clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_api
import pytest
from PIL import Image

from app.ui.chat_history import STORE_KEY
from tests.app.test_browser_app import browser, screenshot  # noqa: F401 - a fixture, shared
from tests.app.ui_support import FAKE_KEY, RECEIPT_OBSERVATIONS, UiModel, running_app

expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TABS = ["Chat", "Vision", "Traces", "Sandbox", "Plugins", "Settings"]
LONG_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, UiModel]]:
    with running_app(tmp_path_factory.mktemp("home")) as (url, _fake, model):
        yield url, model


@pytest.fixture
def page(browser, served):  # noqa: F811 - the shared browser fixture
    """A fresh page is a fresh Gradio session, with an empty browser store."""
    url, _ = served
    page = browser.new_page()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.set_default_timeout(LONG_MS)
    page.goto(url)
    page.get_by_role("tab", name="Chat").wait_for()
    page.evaluate("localStorage.clear()")  # the browser profile is shared between tests
    page.reload()
    page.get_by_role("tab", name="Chat").wait_for()
    try:
        yield page
    finally:
        page.close()


def use_key(page, key: str = FAKE_KEY) -> None:
    """Paste the key in the chat's own banner (reachable on any screen size)."""
    page.locator("#chat-key-input input").fill(key)
    page.locator("#chat-key-use").click()
    expect(page.locator("#chat-key-notice")).to_be_hidden()


def submit(page, task: str) -> None:
    box = page.locator("#chat-input textarea")
    box.fill(task)
    box.press("Enter")


def chat(page):
    return page.locator("#chatbot")


def no_sideways_scroll(page) -> dict[str, int]:
    widths = {}
    for name in TABS:
        tab = page.get_by_role("tab", name=name)
        expect(tab).to_be_visible()  # every tab in the bar: none behind a "more" menu
        tab.click()
        page.wait_for_timeout(300)  # the tab's layout settles
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
    return widths


# ------------------------------------------------------------------ 1. the program in the answer


def test_the_answer_shows_its_program_collapsed_with_copy_and_download(page, tmp_path) -> None:
    use_key(page)
    submit(page, "Calculate fibonacci up to n=10")
    chat(page).get_by_text("Done.").wait_for()
    title = chat(page).get_by_text("The program (accepted)")
    expect(title).to_be_visible()
    code_line = chat(page).get_by_text("numbers.append(a)")
    # Collapsed at first (the Mechanic's step shows the same code, also collapsed).
    expect(code_line).to_have_count(0)
    title.click()
    expect(code_line).to_be_visible()
    program = title.locator("xpath=ancestor::div[contains(@class,'thought-group')][1]")
    expect(program.locator(".copy_code_button")).to_have_count(1)
    link = chat(page).locator("a[download='program.py']")
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "program.py"
    info.value.save_as(saved)
    assert "numbers.append(a)" in saved.read_text()


# ------------------------------------------------------------------ 2. the key, checked at once


def test_a_rejected_key_is_said_at_once_and_in_the_run(page) -> None:
    notice = page.locator("#chat-key-notice")
    expect(notice).to_be_visible()  # no key here: the banner is part of the first paint
    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings-api-key input").fill("not-the-key")
    page.locator("#settings-save").click()
    check = page.locator("#settings-key-check")
    check.get_by_text("The key you pasted was rejected").wait_for()
    assert "MISTRAL_API_KEY" not in check.inner_text()

    page.get_by_role("tab", name="Chat").click()
    submit(page, "Calculate fibonacci up to n=10")
    chat(page).get_by_text("The key you pasted was rejected").first.wait_for()
    assert "MISTRAL_API_KEY" not in chat(page).inner_text()
    assert "MISTRAL_SERVER_URL" not in chat(page).inner_text()
    # Nothing typed is lost: the refused task is back in the box.
    expect(page.locator("#chat-input textarea")).to_have_value("Calculate fibonacci up to n=10")

    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings-api-key input").fill(FAKE_KEY)
    page.locator("#settings-save").click()
    check.get_by_text("Your key works").wait_for()


# ------------------------------------------------------------------ 3. 390 px


def test_at_390_px_no_tab_scrolls_sideways_and_the_key_entry_is_reachable(page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    expect(page.locator("#chat-key-input input")).to_be_visible()
    screenshot(page, "mobile")
    widths = no_sideways_scroll(page)
    assert all(width <= 390 for width in widths.values()), widths
    # Tables scroll inside their own box instead of widening the page.
    page.get_by_role("tab", name="Plugins").click()
    page.locator("#plugins-tools").get_by_text("web_search").filter(visible=True).first.wait_for()
    inner = page.evaluate("""() => [...document.querySelectorAll('#plugins-tools *')]
        .some(el => el.scrollWidth > el.clientWidth + 20 &&
                    ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))""")
    assert inner, "the tools table should scroll inside its own box"
    # After a run, too (long code lines, the answer, the program).
    page.get_by_role("tab", name="Chat").click()
    use_key(page)
    submit(page, "Plot sin and cos from 0 to 2 pi")
    chat(page).get_by_text("Done.").wait_for()
    chat(page).get_by_text("The program (accepted)").click()
    page.get_by_role("tab", name="Traces").click()
    page.locator("#traces-refresh").click()
    page.locator("#traces-runs").get_by_text("Plot sin").filter(visible=True).first.click()
    page.locator("#traces-summary").get_by_text("success").wait_for()
    widths = no_sideways_scroll(page)
    assert all(width <= 390 for width in widths.values()), widths


# ------------------------------------------------------------------ 4. vision


def test_a_step_shows_what_the_vision_model_read_from_the_image(page, tmp_path: Path) -> None:
    use_key(page)
    picture = tmp_path / "receipt.png"
    Image.new("RGB", (120, 160), "white").save(picture)
    page.locator("#chat-input input[type=file]").set_input_files(str(picture))
    page.locator("#chat-input img").first.wait_for()  # uploaded
    submit(page, "Add up this receipt")
    step = chat(page).get_by_text("Vision · what the model read from the image")
    step.wait_for()
    # Open by default: what was read is in plain sight, to check against the receipt.
    expect(chat(page).get_by_text(RECEIPT_OBSERVATIONS)).to_be_visible()
    chat(page).get_by_text("Done.").wait_for()


# ------------------------------------------------------------------ 5. the first screen


def test_the_first_screen_fits_and_offers_examples(page) -> None:
    use_key(page)
    box = page.locator("#chat-input")
    bottom = box.evaluate("el => el.getBoundingClientRect().bottom")
    assert bottom <= 900, f"the input box ends at {bottom}px, below a 900px window"
    assert page.locator("#chat-new").evaluate("el => el.getBoundingClientRect().bottom") <= 900
    expect(page.locator("#chat-stop")).to_be_hidden()  # nothing runs: no Stop
    # No "Run" label over the chat (it used to cover the first step).
    expect(page.locator("#chatbot").get_by_text("Run", exact=True)).to_have_count(0)
    example = chat(page).get_by_text("Print the first 20 prime numbers.")
    expect(example).to_be_visible()  # the examples are in the empty chat itself
    screenshot(page, "first-screen")
    example.click()
    expect(page.locator("#chat-stop")).to_be_visible()
    chat(page).get_by_text("Done.").wait_for()
    expect(page.locator("#chat-stop")).to_be_hidden()


# ------------------------------------------------------------------ 6. typed work is never lost


def test_a_task_refused_for_lack_of_a_key_keeps_its_text(page) -> None:
    submit(page, "Print the first 20 prime numbers")
    chat(page).get_by_text("No Mistral API key yet").wait_for()
    expect(page.locator("#chat-input textarea")).to_have_value("Print the first 20 prime numbers")


def test_stop_gives_the_task_back_to_the_box(page) -> None:
    use_key(page)
    submit(page, "Count slowly to ten")
    chat(page).get_by_text("Mechanic · writing attempt 1").wait_for()
    page.locator("#chat-stop").click()
    chat(page).get_by_text("Stopped.").wait_for()
    expect(page.locator("#chat-input textarea")).to_have_value("Count slowly to ten")
    screenshot(page, "stopped-text-kept")


def test_the_conversation_survives_a_reload_and_can_be_reopened_and_edited(page) -> None:
    use_key(page)
    submit(page, "Calculate fibonacci up to n=10")
    chat(page).get_by_text("Done.").wait_for()
    expect(page.locator("#chat-recent input")).to_have_value(re.compile("Calculate fibonacci"))

    page.reload()
    page.get_by_role("tab", name="Chat").wait_for()
    chat(page).get_by_text("Calculate fibonacci up to n=10").wait_for()
    chat(page).get_by_text("fibonacci: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]").wait_for()

    # A new conversation; the old one stays in the recent list and reopens.
    page.locator("#chat-new").click()
    expect(chat(page).get_by_text("Calculate fibonacci up to n=10")).to_have_count(0)
    page.locator("#chat-recent").click()
    page.get_by_role("option", name="Calculate fibonacci").first.click()
    chat(page).get_by_text("Calculate fibonacci up to n=10").wait_for()

    # Continue it, then Edit & resend the last task: it comes back to the box, its turn goes.
    use_key(page)  # the reload forgot the key (it is never stored)
    submit(page, "Print the first 20 prime numbers")
    expect(chat(page).get_by_text("Done.")).to_have_count(2, timeout=LONG_MS)
    page.locator("#chat-edit").click()
    expect(page.locator("#chat-input textarea")).to_have_value("Print the first 20 prime numbers")
    expect(chat(page).get_by_text("Done.")).to_have_count(1)

    # After "New conversation", a reload opens the empty chat (the old one stays listed).
    stored = f"localStorage.getItem('{STORE_KEY}')"
    before = page.evaluate(stored)
    page.locator("#chat-new").click()
    page.wait_for_function(f"before => {stored} !== before", arg=before)  # written
    page.reload()
    page.get_by_role("tab", name="Chat").wait_for()
    page.locator("#chat-recent").click()
    expect(page.get_by_role("option", name=re.compile("Calculate fibonacci"))).to_have_count(1)
    expect(chat(page).get_by_text("Calculate fibonacci up to n=10")).to_have_count(0)


def test_editing_an_earlier_message_branches_the_conversation(page) -> None:
    use_key(page)
    submit(page, "Calculate fibonacci up to n=10")
    chat(page).get_by_text("Done.").wait_for()
    submit(page, "Print the first 20 prime numbers")
    expect(chat(page).get_by_text("Done.")).to_have_count(2, timeout=LONG_MS)
    # One Edit button per user message, in order: the first is the first task's.
    chat(page).get_by_role("button", name="Edit").first.click()
    editor = chat(page).locator("textarea").first
    editor.fill("Print the first 20 prime numbers twice")
    chat(page).get_by_role("button", name="Submit").click()
    chat(page).get_by_text("Print the first 20 prime numbers twice").wait_for()
    expect(chat(page).get_by_text("Done.")).to_have_count(1, timeout=LONG_MS)
    # The branch and the original are both in the recent list.
    expect(page.locator("#chat-recent input")).to_have_value(re.compile("branch at turn 1"))
    page.locator("#chat-recent").click()
    expect(page.get_by_role("option", name=re.compile("Calculate fibonacci"))).to_have_count(2)


# ------------------------------------------------------------------ 7. a failed run is no dead end


def test_a_failed_run_offers_retry_and_the_sandbox(page) -> None:
    use_key(page)
    submit(page, "This never works")
    chat(page).get_by_text("Not solved").wait_for()
    expect(chat(page).get_by_text("best attempt's program")).to_be_visible()
    for button in ("#chat-retry", "#chat-retry-more", "#chat-open-sandbox"):
        expect(page.locator(button)).to_be_visible()
    screenshot(page, "failed-run")
    page.locator("#chat-retry-more").click()
    expect(page.locator("#chat-actions")).to_be_hidden()
    chat(page).get_by_text("Not solved").wait_for()
    assert "attempt 4" in chat(page).inner_text()  # the retry had two more attempts
    page.locator("#chat-open-sandbox").click()
    expect(page.get_by_role("tab", name="Sandbox")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#sandbox-code")).to_contain_text("totl")


# ------------------------------------------------------------------ 8. Traces


def test_traces_says_no_runs_yet_then_numbers_rows_and_colours_the_diff(page) -> None:
    page.get_by_role("tab", name="Traces").click()
    expect(page.locator("#traces-empty")).to_contain_text("No runs yet")
    expect(page.locator("#traces-details")).to_be_hidden()
    page.get_by_role("tab", name="Chat").click()
    use_key(page)
    submit(page, "Add 1..10 and heal it")
    chat(page).get_by_text("Done.").wait_for()
    page.get_by_role("tab", name="Traces").click()
    expect(page.locator("#traces-empty")).to_be_hidden()
    page.locator("#traces-runs").get_by_text("heal it").filter(visible=True).first.click()
    page.locator("#traces-summary").get_by_text("success").wait_for()
    page.locator("#traces-timeline").get_by_text("mechanic").filter(visible=True).first.wait_for()
    shown = page.evaluate("""() => [...document.querySelectorAll(
        '#traces-timeline .virtual-row')].map(row => row.querySelector('[role=gridcell]')
        .innerText.trim())""")
    assert shown and shown == [str(n) for n in range(1, len(shown) + 1)], shown
    # Headers stay on one line (no letter-by-letter wrapping).
    heights = page.evaluate("""() => [...document.querySelectorAll('#traces-timeline th')]
        .filter(th => th.offsetParent).map(th => th.getBoundingClientRect().height)""")
    assert heights and max(heights) < 60, heights
    diff = page.locator("#traces-diff")
    expect(diff).to_contain_text("Changes from attempt 1 to attempt 2")
    added = diff.locator(".add").filter(has_text="total = sum").first
    assert added.evaluate("el => getComputedStyle(el).backgroundColor") not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )
    screenshot(page, "traces-diff", full_page=True)


# ------------------------------------------------------------------ 9. progress from the start


def test_the_message_and_a_starting_step_show_before_the_model_answers(page, served) -> None:
    _, model = served
    model.release.clear()
    model.held.clear()
    use_key(page)
    try:
        submit(page, "Hold on, then print 7")
        # While the fake model holds its first reply, the visitor already sees their message,
        # the run's first step, Stop, and then the running step's time against its limit.
        chat(page).get_by_text("Hold on, then print 7").wait_for()
        chat(page).get_by_text("Start", exact=False).first.wait_for()
        expect(page.locator("#chat-stop")).to_be_visible()
        chat(page).get_by_text("s limit").first.wait_for()
        assert not model.release.is_set()
        screenshot(page, "progress")
    finally:
        model.release.set()
    chat(page).get_by_text("Done.").wait_for()
    expect(chat(page).get_by_text("s limit")).to_have_count(0)  # finished steps show durations
