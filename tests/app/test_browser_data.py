"""Data analysis in a real browser (Debian's Chromium driven by Playwright): attach a CSV to a
chat message, run a data task, see the table and the plot, download the output file and check
its bytes. The restricted backend runs the program (numpy, matplotlib); the fake Mistral server
plays the model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_api
import pytest

from tests.app.test_browser_app import browser  # noqa: F401 - a fixture, shared
from tests.app.ui_support import FAKE_KEY, free_port, patched_env, wait_for_http
from tests.executor.executor_script import code_reply, kind_of, plan, verdict
from tests.fake_mistral import FakeMistral, RecordedRequest, reply

expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
LONG_MS = 60_000

SALES = b"region,sales\nnorth,10\nsouth,7\nnorth,5\neast,3\n"
SUMMARY = b"total\n3\n15\n7\n"
PROGRAM = """\
import numpy as np
import matplotlib.pyplot as plt

data = np.genfromtxt("sales.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
totals = {}
for region, sales in zip(data["region"], data["sales"]):
    totals[str(region)] = totals.get(str(region), 0) + int(sales)
names = sorted(totals)
display([{"region": name, "total sales": totals[name]} for name in names])
plt.bar(names, [totals[name] for name in names])
plt.title("sales per region")
np.savetxt("summary.csv", [[totals[name]] for name in names], fmt="%d", header="total", comments="")
"""


class DataModel:
    """Plans, writes PROGRAM once the profile showed the file, and accepts the result."""

    def __init__(self) -> None:
        self.saw_profile = False

    def __call__(self, request: RecordedRequest) -> object:
        kind = kind_of(request)
        if kind == "plan":
            text = str(request.messages[-1].get("content"))
            self.saw_profile = "'sales.csv'" in text and "region (str)" in text
            return reply(json=plan(criteria=["shows totals per region"]))
        if kind == "verdict":
            return reply(json=verdict(True, "totals shown"))
        if kind == "tools":
            return reply("READY")
        return reply(code_reply(PROGRAM, "Totals per region, a bar chart and summary.csv."))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DataModel]]:
    from app.ui import launch

    model = DataModel()
    with FakeMistral(api_key=FAKE_KEY) as fake:
        fake.on_chat(model)
        env = {
            "MISTRAL_SERVER_URL": fake.url,
            "MISTRAL_API_KEY": FAKE_KEY,
            "MISTRAL_EXECUTOR_HOME": str(tmp_path_factory.mktemp("home")),
            "MISTRAL_EXECUTOR_SANDBOX": "restricted",
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        with patched_env(**env):
            port = free_port()
            demo = launch("127.0.0.1", port, block=False, quiet=True)
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for_http(url + "/")
                yield url, model
            finally:
                demo.close()


def test_attach_a_csv_see_the_table_and_plot_and_download_the_output(
    browser,  # noqa: F811 - the shared browser fixture
    served,
    tmp_path: Path,
) -> None:
    url, model = served
    page = browser.new_page()
    page.set_default_timeout(LONG_MS)
    try:
        page.goto(url)
        page.get_by_role("tab", name="Chat").wait_for()
        data = tmp_path / "sales.csv"
        data.write_bytes(SALES)
        page.locator("#chat-input input[type=file]").set_input_files(str(data))
        chat = page.locator("#chatbot")
        box = page.locator("#chat-input textarea")
        box.fill("total sales per region, with a bar chart, saved as summary.csv")
        # The upload has finished: its thumbnail replaced the "Uploading" spinner.
        expect(page.locator("#chat-input [aria-label='Uploading']")).to_have_count(0)
        expect(page.locator("#chat-input .thumbnail-item")).to_have_count(1)
        box.press("Enter")
        chat.get_by_text("Done.").wait_for()
        assert model.saw_profile
        # The attachment on the user's message, the profile step, the table, the plot.
        expect(chat.get_by_text("sales.csv").first).to_be_visible()
        expect(chat.get_by_text("file(s) profiled")).to_be_visible()
        table = chat.locator("table.mx-table")
        expect(table).to_have_count(1)
        expect(table.locator("th").first).to_have_text("region")
        expect(table.locator("tr", has_text="north")).to_contain_text("15")
        figure = chat.locator("img[src*='gradio_api/file=']")
        expect(figure).to_have_count(1)  # the bar chart (the CSV is not shown as an image)
        expect(figure).to_be_visible()
        assert figure.evaluate("img => img.complete && img.naturalWidth > 100")
        # The output file, as a download link with its size.
        expect(chat.get_by_text("summary.csv", exact=False).last).to_be_visible()
        expect(chat.get_by_text("(13 bytes)")).to_be_visible()
        link = chat.locator("a[download='summary.csv']")
        with page.expect_download() as info:
            link.click()
        saved = tmp_path / "downloaded.csv"
        info.value.save_as(saved)
        assert saved.read_bytes() == SUMMARY
    finally:
        page.close()
