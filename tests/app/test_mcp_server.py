"""``mistral-executor mcp`` in its own process, driven by the mcp SDK's own client (stdio, HTTP)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.executor.executor_script import plan, scripted
from tests.requirements import unavailable

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOT = """
import matplotlib.pyplot as plt
plt.plot([0, 1, 2], [0, 1, 4])
print("plotted", 3, "points")
"""


def console_script() -> Path:
    script = Path(sys.executable).parent / "mistral-executor"
    if not script.exists():
        unavailable(f"the console script at {script} (scripts/bootstrap.sh installs it)")
    return script


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
    env.update(MISTRAL_EXECUTOR_HOME=str(home), MISTRAL_EXECUTOR_SANDBOX="restricted", **extra)
    env["MISTRAL_EXECUTOR_LOAD_PLUGINS"] = ""  # built-ins only
    return env


def with_stdio_session(
    env: dict[str, str],
    body: Callable[[ClientSession], Awaitable[Any]],
    errlog: Path | None = None,
) -> Any:
    """Start ``mistral-executor mcp`` and run ``body`` with a session; the server's stderr
    goes to ``errlog`` when given."""
    params = StdioServerParameters(
        command=str(console_script()), args=["mcp"], env=env, cwd=str(REPO)
    )

    async def main() -> Any:
        with (
            anyio.fail_after(240),
            open(errlog or os.devnull, "w") as stderr,  # a real file: Popen needs its fd
        ):
            async with (
                stdio_client(params, errlog=stderr) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await body(session)

    return anyio.run(main)


def text_json(result: Any) -> dict[str, Any]:
    assert result.content[0].type == "text"
    return json.loads(result.content[0].text)


def test_stdio_server_lists_tools_and_runs_python_with_a_plot(tmp_path: Path) -> None:
    async def body(session: ClientSession) -> dict[str, Any]:
        tools = await session.list_tools()
        plot = await session.call_tool("run_python", {"code": PLOT})
        await session.call_tool("run_python", {"code": "x = 41", "session_id": "s1"})
        kept = await session.call_tool("run_python", {"code": "print(x + 1)", "session_id": "s1"})
        other = await session.call_tool("run_python", {"code": "print(x)", "session_id": "s2"})
        empty = await session.call_tool("run_python", {"code": "  "})
        bad_backend = await session.call_tool("run_python", {"code": "1", "backend": "nope"})
        listed = await session.list_resources()
        resource = await session.read_resource("sandbox://backends")
        return locals()

    got = with_stdio_session(server_env(tmp_path), body)

    tools = {tool.name: tool for tool in got["tools"].tools}
    assert {"run_python", "execute_task", "sandbox_backends"} <= set(tools)
    schema = tools["run_python"].inputSchema
    assert schema["required"] == ["code"]
    assert {"code", "session_id", "backend", "timeout"} <= set(schema["properties"])

    plot = got["plot"]
    assert not plot.isError
    summary = text_json(plot)
    assert summary["ok"] is True and summary["stdout"] == "plotted 3 points\n"
    assert plot.structuredContent == summary
    assert summary["error"] is None and summary["backend"] == "restricted"
    images = [c for c in plot.content if c.type == "image"]
    assert len(images) == 1 and images[0].mimeType == "image/png"
    assert base64.b64decode(images[0].data).startswith(PNG_MAGIC)

    assert text_json(got["kept"])["stdout"] == "42\n"  # the session kept x
    other = text_json(got["other"])  # another session id does not see it
    assert other["ok"] is False and other["error"]["type"] == "NameError"

    assert got["empty"].isError and "empty" in got["empty"].content[0].text
    assert got["bad_backend"].isError and "unknown sandbox backend" in (
        got["bad_backend"].content[0].text
    )
    assert [str(r.uri) for r in got["listed"].resources] == ["sandbox://backends"]
    backends = json.loads(got["resource"].contents[0].text)
    names = {row["name"]: row for row in backends["backends"]}
    assert names["restricted"]["available"] is True
    assert "isolation" in names["restricted"]  # it ran above, so its isolation is known


NOISY_PLUGIN = """
import os, subprocess, sys
from plugins import hookimpl

print("noisy plugin: print() at import")
os.write(1, b"noisy plugin: raw bytes on fd 1\\n")
subprocess.run([sys.executable, "-c", "print('noisy plugin: a child process')"])

@hookimpl
def on_trace_event(event):
    print("noisy plugin saw", event.phase, event.step)
"""


def test_stdio_execute_task_needs_a_key_then_runs_the_loop(tmp_path: Path, fake_mistral) -> None:
    async def without_key(session: ClientSession) -> Any:
        return await session.call_tool("execute_task", {"task": "print 2+2"})

    refused = with_stdio_session(server_env(tmp_path / "a"), without_key)
    assert refused.isError
    assert "MISTRAL_API_KEY" in refused.content[0].text

    scripted(fake_mistral, PLOT, plan_=plan(checks=["assert 'plotted' in program_output"]))

    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def with_key(session: ClientSession) -> Any:
        return await session.call_tool(
            "execute_task",
            {"task": "plot three points", "max_attempts": 2},
            progress_callback=on_progress,
        )

    env = server_env(
        tmp_path / "b", MISTRAL_API_KEY="test-key", MISTRAL_SERVER_URL=fake_mistral.url
    )
    env["MISTRAL_MAX_RETRIES"] = "0"
    # A plugin that writes to stdout every way it can must not corrupt the protocol stream.
    noisy = tmp_path / "plugins" / "noisy.py"
    noisy.parent.mkdir()
    noisy.write_text(NOISY_PLUGIN)
    env.update(
        MISTRAL_EXECUTOR_PLUGINS_DIR=str(noisy.parent), MISTRAL_EXECUTOR_LOAD_PLUGINS="noisy"
    )
    errlog = tmp_path / "server-stderr.log"
    done = with_stdio_session(env, with_key, errlog)
    assert not done.isError, done.content
    data = text_json(done)
    assert data["success"] is True, data["errors"]
    assert data["output"] == "plotted 3 points\n"
    assert "plt.plot" in data["code"] and data["run_id"]
    assert data["plan"]["checks"] == ["assert 'plotted' in program_output"]
    assert len(data["attempts"]) == 1
    pngs = [base64.b64decode(c.data) for c in done.content if c.type == "image"]
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC)
    # Everything the plugin wrote to "stdout" went to the server's stderr instead.
    noise = errlog.read_text()
    for line in ("print() at import", "raw bytes on fd 1", "a child process", "saw final"):
        assert f"noisy plugin: {line}" in noise or f"noisy plugin {line}" in noise, line
    # Each step of the run was reported as MCP progress while it ran.
    assert progress[0].startswith("scout") and any(m.startswith("final") for m in progress)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_server_answers_the_sdk_client(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(console_script()), "mcp", "--http", str(port)],
        env=server_env(tmp_path),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the HTTP MCP server did not start listening")
                time.sleep(0.3)

        async def main() -> Any:
            with anyio.fail_after(240):
                async with (
                    streamable_http_client(url) as (read, write, _),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    tools = await session.list_tools()
                    ran = await session.call_tool("run_python", {"code": "print(6 * 7)"})
                    return tools, ran

        tools, ran = anyio.run(main)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert "run_python" in {tool.name for tool in tools.tools}
    assert text_json(ran)["stdout"] == "42\n"
