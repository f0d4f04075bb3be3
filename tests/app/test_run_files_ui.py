"""The Chat tab with data files (handlers driven directly, restricted backend, fake model):
attachments in, upload caps before any run, tables and output files under the answer."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from app.ui import chat, chat_files
from app.ui.session import SessionSettings
from executor import ExecutionResult
from tests.executor.executor_script import last_user_text, scripted

KEY = "test-key"
SALES = b"region,sales\nnorth,10\nsouth,7\nnorth,5\n"
PROGRAM = (
    "import numpy as np\n"
    "data = np.genfromtxt('sales.csv', delimiter=',', names=True, dtype=None, encoding='utf-8')\n"
    "totals = {}\n"
    "for region, sales in zip(data['region'], data['sales']):\n"
    "    totals[str(region)] = totals.get(str(region), 0) + int(sales)\n"
    "display([{'region': k, 'total': v} for k, v in sorted(totals.items())])\n"
    "np.savetxt('summary.csv', [[v] for k, v in sorted(totals.items())], fmt='%d', "
    "header='total', comments='')\n"
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    return tmp_path


def settings() -> SessionSettings:
    return SessionSettings(sandbox="restricted", max_iterations=2, timeout_s=10)


def send(message: dict, session: chat.ChatSession, history: list | None = None):
    first = chat.start(message, history or [], session, settings(), KEY)
    views = [first[:5]]
    if first[5] is not None:
        views += list(chat.run(first[5], first[0], session, settings(), KEY))
    return views[-1][0]


def contents(history: list) -> list:
    return [m.content if isinstance(m, gr.ChatMessage) else m.get("content") for m in history]


def upload(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_a_csv_goes_to_the_work_dir_and_the_table_and_output_file_come_back(fake_mistral, tmp_path):
    model = scripted(fake_mistral, PROGRAM)
    csv_path = upload(tmp_path, "sales.csv", SALES)
    session = chat.ChatSession()
    history = send({"text": "total sales per region", "files": [csv_path]}, session)

    user_side = [m for m in history if isinstance(m, gr.ChatMessage) and m.role == "user"]
    assert {"path": csv_path, "alt_text": "sales.csv"} in [m.content for m in user_side]
    assert "'sales.csv'" in last_user_text(model.seen["plan"][0])
    assert model.seen["plan"][0].images() == []  # a data file is not sent as an image
    texts = [c for c in contents(history) if isinstance(c, str)]
    (table,) = [t for t in texts if "<table" in t]
    assert "<td>north</td><td>15</td>" in table and "<td>south</td><td>7</td>" in table
    (listing,) = [t for t in texts if t.startswith("**Output files**")]
    assert "<code>summary.csv</code> (11 bytes)" in listing
    (download,) = [
        c for c in contents(history) if isinstance(c, dict) and c.get("alt_text") == "summary.csv"
    ]
    assert Path(download["path"]).read_bytes() == b"total\n15\n7\n"


def test_a_later_turn_uses_the_file_of_an_earlier_turn(fake_mistral, tmp_path):
    later = PROGRAM.replace("display(", "print(len(totals))\ndisplay(")
    model = scripted(fake_mistral, PROGRAM, later)
    session = chat.ChatSession()
    history = send(
        {"text": "total sales", "files": [upload(tmp_path, "sales.csv", SALES)]}, session
    )
    history = send({"text": "how many regions?", "files": []}, session, history)
    assert "'sales.csv'" in last_user_text(model.seen["code"][1])
    assert any("2\n" in c for c in contents(history) if isinstance(c, str))


def test_upload_caps_are_checked_before_any_run(fake_mistral, tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_MAX_FILE_MB", "1")
    monkeypatch.setenv("MISTRAL_EXECUTOR_MAX_FILES", "2")
    big = upload(tmp_path, "big.csv", b"a\n" + b"1\n" * 600_000)
    small = [upload(tmp_path, f"s{i}.csv", b"a\n1\n") for i in range(3)]
    session = chat.ChatSession()
    for files, expected in [
        ([big], "**big.csv is too large:** 1.1 MB, over the 1.0 MB per-file limit"),
        (small, "**Too many files:** 3 attached, at most 2 per message"),
        ([upload(tmp_path, "x.exe", b"MZ")], "**x.exe cannot be attached:**"),
    ]:
        first = chat.start({"text": "go", "files": files}, [], session, settings(), KEY)
        assert first[5] is None  # no run
        assert expected in first[0][-1].content
    assert "MISTRAL_EXECUTOR_MAX_FILE_MB" in chat_files.check_uploads([big])
    assert fake_mistral.chat_requests == []


def test_tables_render_escaped_and_capped_in_the_answer():
    table = {
        "kind": "Series",
        "name": "<img src=y onerror=alert(2)>",
        "columns": ["<script>x</script>", "n"],
        "rows": [["<img src=x onerror=alert(1)>", 1]],
        "index_columns": 0,
        "total_rows": 500,
        "total_columns": 2,
    }
    result = ExecutionResult(success=True, tables=[table] * 7, artifacts={"a`b<i>.csv": b"1"})
    messages = chat_files.output_messages(result)
    assert len(messages) == chat_files.MAX_TABLES_SHOWN + 2  # + the file list and the link
    listing = messages[-2].content
    assert "<i>" not in listing and "a`b&lt;i&gt;.csv" in listing
    html = messages[0].content
    assert "<script>" not in html and "<img" not in html
    assert "500 rows x 2 columns (showing 1 x 2)" in html
