"""The web app's public API, driven with ``gradio_client`` against the app served in-process."""

from __future__ import annotations

import ast
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from app.ui.chat import ChatSession
from tests.app.ui_support import FAKE_KEY, UiModel, patched_env, running_app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('drawn')\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, UiModel, Client]]:
    home = tmp_path_factory.mktemp("home")
    with running_app(home) as (url, fake, model):
        client = Client(url, verbose=False, download_files=False)
        yield url, fake, model, client


def test_the_endpoints_are_public_and_named(app) -> None:
    *_, client = app
    info = client.view_api(print_info=False, return_format="dict")
    named = set(info["named_endpoints"])
    assert {"/run_task", "/run_code", "/list_models"} <= named
    # Everything else (the UI's own events) stays private.
    assert named == {"/run_task", "/run_code", "/list_models"}
    params = {p["parameter_name"] for p in info["named_endpoints"]["/run_task"]["parameters"]}
    assert {"task", "api_key", "files", "images", "sandbox", "max_attempts"} <= params


def test_run_code_returns_the_run_result_with_a_png(app) -> None:
    *_, client = app
    result = client.predict(code=PLOT, backend="restricted", timeout_s=30, api_name="/run_code")
    assert result["ok"] is True and result["stdout"] == "drawn\n"
    assert result["backend"] == "restricted" and result["error"] is None
    assert set(result) >= {"stderr", "limit_hit", "images", "files", "duration_ms"}
    (png,) = result["images"]
    assert base64.b64decode(png).startswith(PNG_MAGIC)

    failed = client.predict(code="1 / 0", api_name="/run_code")
    assert failed["ok"] is False and failed["error"]["type"] == "ZeroDivisionError"

    with pytest.raises(AppError, match="empty"):
        client.predict(code="   ", api_name="/run_code")
    with pytest.raises(AppError, match="unknown sandbox backend 'nope'"):
        client.predict(code="print(1)", backend="nope", api_name="/run_code")


def test_run_code_clamps_the_timeout_to_the_ui_cap(app) -> None:
    *_, client = app
    # Asking for an hour gets the UI's cap; a short loop still finishes normally.
    result = client.predict(code="print(sum(range(10)))", timeout_s=3600, api_name="/run_code")
    assert result["ok"] is True and result["stdout"] == "45\n"


def test_run_task_needs_a_key_when_the_host_has_none(app) -> None:
    *_, client = app
    with pytest.raises(AppError, match="No Mistral API key"):
        client.predict(task="print the fibonacci numbers", api_name="/run_task")
    with pytest.raises(AppError, match="No Mistral API key"):
        client.predict(api_name="/list_models")


def test_run_task_runs_the_loop_with_the_visitors_key_files_and_images(app, tmp_path: Path) -> None:
    _, fake, _, client = app
    notes = tmp_path / "notes.txt"
    notes.write_text("the plot must have two curves\n")
    picture = tmp_path / "picture.png"
    picture.write_bytes(base64.b64decode(_TINY_PNG))
    before = len(fake.requests)

    result = client.predict(
        task="plot sin and cos",
        api_key=FAKE_KEY,
        files=[handle_file(str(notes))],
        images=[handle_file(str(picture))],
        sandbox="restricted",
        max_attempts=2,
        api_name="/run_task",
    )

    assert result["success"] is True, result["errors"]
    assert result["output"].startswith("plotted 126 points")
    assert "plt.plot" in result["code"] and result["run_id"]
    assert result["plan"]["success_criteria"] == ["prints the result"]
    assert len(result["attempts"]) == 1 and result["attempts"][0]["passed"] is True
    assert base64.b64decode(result["images"][0]).startswith(PNG_MAGIC)
    assert isinstance(result["artifacts"], dict)
    # The file reached the planner as context, the image as an image chunk.
    sent = json.dumps([r.json for r in fake.requests[before:]])
    assert "the plot must have two curves" in sent
    assert "data:image/png;base64," in sent

    # Private mode: the run is stored, but no visitor's Traces tab lists it.
    from app.ui import services, traces

    assert services.trace_store().get_run(result["run_id"]).summary.status == "success"
    assert result["run_id"][:12] not in set(traces.list_runs(ChatSession())["run"])


def raw_call(url: str, endpoint: str, data: list[Any]) -> str:
    """Call an endpoint over Gradio's HTTP API directly (no client-side file handling): the
    body of the server-sent event stream that answers."""
    started = httpx.post(f"{url}/gradio_api/call/{endpoint}", json={"data": data}, timeout=60)
    started.raise_for_status()
    event_id = started.json()["event_id"]
    answer = httpx.get(f"{url}/gradio_api/call/{endpoint}/{event_id}", timeout=120)
    return answer.text


def task_args(files: list[Any]) -> list[Any]:
    # task, api_key, files, images, context, sandbox, max_attempts, timeout_s, memory_mb
    return ["read it", FAKE_KEY, files, None, "", "restricted", 1, 5.0, 256]


def test_run_task_refuses_files_that_were_not_uploaded(app) -> None:
    url, fake, _, _ = app
    before = len(fake.requests)
    # A bare path (no FileData marker) is refused by the endpoint itself...
    bare = raw_call(url, "run_task", task_args([{"path": "/etc/passwd"}]))
    assert "event: error" in bare and "uploaded files" in bare
    # ...and a forged FileData naming a path outside the upload cache by Gradio, before it.
    forged = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    answer = raw_call(url, "run_task", task_args([forged]))
    assert "event: error" in answer
    assert "root:" not in answer
    assert len(fake.requests) == before  # no run started, nothing reached the model


def test_list_models_with_the_visitors_key(app) -> None:
    *_, client = app
    listing = client.predict(api_key=FAKE_KEY, api_name="/list_models")
    ids = [m["id"] for m in listing["models"]]
    assert "codestral-latest" in ids
    assert "codestral-latest" in listing["roles"]["coder"]
    assert listing["key_source"] == "session"
    with pytest.raises(AppError, match="401|[Uu]nauthori|key"):
        client.predict(api_key="wrong-key", api_name="/list_models")


def test_the_host_can_serve_the_api_as_an_mcp_server(tmp_path: Path) -> None:
    with patched_env(MISTRAL_EXECUTOR_MCP_SERVER="1"), running_app(tmp_path) as (url, *_):

        async def main() -> Any:
            with anyio.fail_after(120):
                async with (
                    streamable_http_client(f"{url}/gradio_api/mcp/") as (read, write, _),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    tools = await session.list_tools()
                    names = [tool.name for tool in tools.tools]
                    run = next(name for name in names if name.endswith("run_code"))
                    ran = await session.call_tool(run, {"code": "print(6 * 7)"})
                    python = next(name for name in names if name.endswith("run_python"))
                    ran_python = await session.call_tool(python, {"code": "print(6 * 8)"})
                    return names, ran, ran_python

        names, ran, ran_python = anyio.run(main)
    assert any(name.endswith("run_task") for name in names), names
    assert any(name.endswith("list_models") for name in names), names
    assert any(name.endswith("execute_task") for name in names), names  # the CLI server's names
    assert not ran.isError, ran.content
    # Gradio's MCP server sends the endpoint's dict as its Python literal.
    assert ast.literal_eval(ran.content[0].text)["stdout"] == "42\n"
    assert ast.literal_eval(ran_python.content[0].text)["stdout"] == "48\n"


# 2x2 red PNG
_TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb"
    "6QAAAABJRU5ErkJggg=="
)
