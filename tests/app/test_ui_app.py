"""The assembled app: its tabs, its queue limits, and what it exposes."""

from __future__ import annotations

import gradio as gr
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.ui import build_app


@pytest.fixture(scope="module")
def demo() -> gr.Blocks:
    return build_app()


def test_the_app_has_every_tab(demo: gr.Blocks) -> None:
    labels = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    for tab in ("Chat", "Vision", "Traces", "Sandbox", "Plugins", "Settings"):
        assert tab in labels


def test_long_events_have_their_own_concurrency_limits(demo: gr.Blocks) -> None:
    """Several visitors run at once; a long chat run never holds the sandbox or vision queue."""
    limits = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values()}
    assert limits["run"] == ("chat", 4)
    assert limits["run_in_sandbox"] == ("sandbox", 2)
    assert limits["ask_image"][0] == limits["ocr_document"][0] == "vision"
    stop = next(fn for fn in demo.fns.values() if fn.name == "stop")
    assert stop.queue is False  # the stop button never waits behind the runs it stops


def test_no_handler_is_published_as_an_api_endpoint(demo: gr.Blocks) -> None:
    """Handlers receive the visitor's key; none of them belongs in the public API docs. The
    public API is app/ui/api.py's endpoints alone (tests/app/test_api.py), in the UI's queues."""
    public = {fn.name: fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert sorted(public) == ["list_models", "run_code", "run_task"]
    assert (public["run_task"].concurrency_id, public["run_task"].concurrency_limit) == ("chat", 4)
    assert public["run_code"].concurrency_id == "sandbox"


def test_the_key_box_is_a_password_field(demo: gr.Blocks) -> None:
    (key_box,) = [
        b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "settings-api-key"
    ]
    assert key_box.type == "password"


def test_the_ui_command_is_registered() -> None:
    result = CliRunner().invoke(cli, ["ui", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def _notice_visible(demo: gr.Blocks) -> bool:
    notice = next(
        b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "chat-key-notice"
    )
    return bool(notice.visible)


def test_the_no_key_banner_is_decided_at_first_paint(monkeypatch) -> None:
    """Part of the page as served, so it never flashes on a server that has a key."""
    monkeypatch.delenv("MISTRAL_SERVER_URL", raising=False)
    monkeypatch.setenv("MISTRAL_API_KEY", "host-key")
    assert not _notice_visible(build_app())
    monkeypatch.delenv("MISTRAL_API_KEY")
    assert _notice_visible(build_app())
