"""MCP servers as a tool source: a real MCP server process (written here with the mcp SDK)
declared in mcp.json or by a plugin, its tools listed, validated, timed out, and called by the
fake model during a run; a server that fails or crashes is reported and never breaks a run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugins import ToolCall, load_plugins
from plugins.mcp_servers import McpServerSpec, read_config
from sandbox import create_sandbox
from tests.fake_mistral import FakeMistral, RecordedRequest, reply, tool_call
from tests.plugins.conftest import REPO, write_plugin

SERVER = '''
import os
import sys

import anyio
from mcp.server.fastmcp import FastMCP

mcp = FastMCP("calc")

@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers exactly."""
    return a + b

@mcp.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer (without blocking the server's other requests)."""
    await anyio.sleep(seconds)
    return "woke up"

@mcp.tool()
def fail() -> str:
    """Always raises."""
    raise ValueError("the abacus is broken")

@mcp.tool()
def die() -> str:
    """The server process exits at once."""
    os._exit(3)

@mcp.tool()
def env_key() -> str:
    """What this server sees of the host's API key."""
    return os.environ.get("MISTRAL_API_KEY", "<none>") + "|" + os.environ.get("CALC_MODE", "")

if len(sys.argv) > 2 and sys.argv[1] == "http":
    mcp.settings.port = int(sys.argv[2])
    mcp.run("streamable-http")
else:
    mcp.run("stdio")
'''


@pytest.fixture
def calc_server(tmp_path: Path) -> Path:
    path = tmp_path / "calc_server.py"
    path.write_text(SERVER, encoding="utf-8")
    return path


def write_config(home: Path, servers: dict[str, Any]) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


@pytest.fixture
def calc_plugins(calc_server: Path, clean_plugin_env: Path) -> Iterator[Any]:
    write_config(
        clean_plugin_env,
        {
            "calc": {
                "command": sys.executable,
                "args": [str(calc_server)],
                "env": {"CALC_MODE": "exact"},
                "timeout": 3,
            },
            "ghost": {"command": str(clean_plugin_env / "no-such-server")},
        },
    )
    plugins = load_plugins(load=[])
    yield plugins
    plugins.close()


def failures_of(plugins: Any) -> dict[str, str]:
    return {f.name: f.error for f in plugins.failures}


def test_mcp_json_servers_offer_their_tools_and_a_dead_one_is_reported(
    calc_plugins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "host-secret")
    registry = calc_plugins.tool_registry()

    add = registry.get("add")
    assert add is not None and add.description == "Add two integers exactly."
    assert add.parameters["required"] == ["a", "b"]
    assert calc_plugins.mcp_tool_servers()["add"] == "calc"
    assert "ghost" not in {s for s in calc_plugins.mcp_tool_servers().values()}
    assert "failed to start" in failures_of(calc_plugins)["mcp:ghost"]

    ok = registry.call(ToolCall("add", {"a": 2, "b": 40}, id="c1"))
    assert ok.ok and ok.content == "42" and ok.served_by == "mcp:calc"
    # Validated against the server's schema before anything is sent.
    bad = registry.call(ToolCall("add", {"a": "two", "b": 40}, id="c2"))
    assert not bad.ok and "invalid arguments for 'add'" in bad.content and "$.a" in bad.content
    raised = registry.call(ToolCall("fail", {}, id="c3"))
    assert not raised.ok and "the abacus is broken" in raised.content
    slow = registry.call(ToolCall("slow", {"seconds": 30}, id="c4"))
    assert (
        not slow.ok and slow.content == "Error: MCP server 'calc' did not answer 'slow' within 3s"
    )
    # The server saw its own env, never the host's key.
    assert registry.call(ToolCall("env_key", {}, id="c5")).content == "<none>|exact"
    # The server is still usable after a timeout.
    assert registry.call(ToolCall("add", {"a": 1, "b": 1}, id="c6")).content == "2"


def test_a_server_that_crashes_is_reported_and_left_out(calc_plugins: Any) -> None:
    registry = calc_plugins.tool_registry()
    died = registry.call(ToolCall("die", {}, id="c1"))
    assert not died.ok
    after = registry.call(ToolCall("add", {"a": 1, "b": 2}, id="c2"))
    assert not after.ok and "unavailable" in after.content  # fails fast, not at the timeout
    assert "stopped" in failures_of(calc_plugins)["mcp:calc"]
    assert "add" not in calc_plugins.tool_registry()  # left out of the next run's tools


def test_the_cli_lists_mcp_tools_with_their_server(
    calc_server: Path, clean_plugin_env: Path, tmp_path: Path
) -> None:
    write_config(
        clean_plugin_env, {"calc": {"command": sys.executable, "args": [str(calc_server)]}}
    )
    plugin_dir = tmp_path / "plugin-dir"
    write_plugin(
        plugin_dir,
        "abacus",
        f"""
from plugins import hookimpl

@hookimpl
def register_mcp_servers(register):
    register("abacus", {{"command": {sys.executable!r}, "args": [{str(calc_server)!r}]}})
    register("broken", command={str(tmp_path / "missing")!r})
""",
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "MISTRAL_EXECUTOR_HOME": str(clean_plugin_env),
        "MISTRAL_EXECUTOR_PLUGINS_DIR": str(plugin_dir),
        "DDGS_PROXY": "http://127.0.0.1:9",
    }
    run = [sys.executable, "-m", "app.cli", "plugins"]
    done = subprocess.run(
        [*run, "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    servers = {row["name"]: row for row in report["mcp_servers"]}
    assert servers["calc"]["source"] == "mcp.json" and servers["calc"]["status"] == "running"
    assert {"name": "add", "description": "Add two integers exactly.", "mcp_server": "calc"} in (
        servers["calc"]["tools"]
    )
    # The plugin's server offers the same tool names: they clash with calc's and are left out.
    assert servers["abacus"]["source"] == "abacus" and servers["abacus"]["tools"] == []
    assert servers["broken"]["status"] == "failed"
    (abacus,) = [e for e in report["plugins"] if e["name"] == "abacus"]
    assert abacus["hooks"] == ["register_mcp_servers"]
    assert abacus["mcp_servers"] == ["abacus", "broken"]
    errors = {(f["name"], f["source"]): f["error"] for f in report["failures"]}
    assert "failed to start" in errors[("mcp:broken", "abacus")]
    assert "already registered" in errors[("mcp:abacus", "abacus")]

    text = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert text.returncode == 0, text.stderr
    assert "tool add (MCP server calc): Add two integers exactly." in text.stdout


def test_a_url_server_over_streamable_http(calc_server: Path, clean_plugin_env: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(calc_server), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the test server did not start"
                time.sleep(0.2)
        write_config(clean_plugin_env, {"remote": {"url": url, "headers": {"X-Team": "qa"}}})
        plugins = load_plugins(load=[])
        try:
            registry = plugins.tool_registry()
            result = registry.call(ToolCall("add", {"a": 20, "b": 22}, id="c1"))
            assert result.ok and result.content == "42" and result.served_by == "mcp:remote"
            assert plugins.mcp_tool_servers()["add"] == "remote"
        finally:
            plugins.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_server_name_declared_twice_keeps_the_first(
    clean_plugin_env: Path, tmp_path: Path
) -> None:
    write_config(clean_plugin_env, {"calc": {"command": str(tmp_path / "missing")}})
    write_plugin(
        tmp_path / "dir",
        "twin",
        "from plugins import hookimpl\n\n"
        "@hookimpl\n"
        "def register_mcp_servers(register):\n"
        "    register('calc', command='elsewhere')\n",
    )
    plugins = load_plugins(tmp_path / "dir", load=["twin"])
    try:
        servers = plugins.mcp_servers()
        assert [(s.name, s.source) for s in servers.specs] == [("calc", "mcp.json")]
        twin = [f for f in plugins.failures if f.source == "twin"]
        assert len(twin) == 1 and "already declared by mcp.json" in twin[0].error
    finally:
        plugins.close()


def test_bad_config_entries_are_reported_not_fatal(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "both": {"command": "x", "url": "http://127.0.0.1:1/mcp"},
            "neither": {"args": ["x"]},
            "typo": {"command": "x", "argz": []},
            "fine": {"url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": "Bearer s"}},
            "off": {"command": "x", "disabled": True},
        },
    )
    specs, problems = read_config(path)
    assert [s.name for s in specs] == ["fine"]
    assert "secret" not in json.dumps(specs[0].describe()) and "Bearer" not in str(
        specs[0].describe()
    )
    assert {name for name, _ in problems} == {"both", "neither", "typo"}
    assert "argz" in dict(problems)["typo"]
    path.write_text("{not json")
    assert read_config(path)[1][0][1].startswith(f"{path} is not valid JSON")
    with pytest.raises(ValueError, match="http"):
        McpServerSpec("x", url="file:///etc/passwd")


class Model:
    """The Scout's plan call offers the tools: the model calls the MCP server's ``add`` first,
    then plans with the answers; the Mechanic prints the sum."""

    def __init__(self) -> None:
        self.tool_rounds: list[RecordedRequest] = []

    def __call__(self, request: RecordedRequest) -> Any:
        schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        if request.get("tools"):
            self.tool_rounds.append(request)
        answered = any(m["role"] == "tool" for m in request.messages)
        if schema == "plan" and request.get("tools") and not answered:
            return reply(
                tool_calls=[
                    tool_call("add", {"a": 1200, "b": 34}),
                    tool_call("die_unknown", {}),
                ]
            )
        if schema == "plan":
            return reply(
                json={
                    "needs_code": True,
                    "answer": "",
                    "summary": "print the sum",
                    "steps": ["print the sum the add tool returned"],
                    "edge_cases": [],
                    "success_criteria": ["prints 1234"],
                    "checks": ["assert '1234' in program_output"],
                    "observations": "",
                }
            )
        if schema == "verdict":
            return reply(json={"complete": True, "reason": "prints the sum"})
        return reply("```python\nprint(1234)\n```")


def test_the_model_calls_an_mcp_tool_during_a_run(
    fake_mistral: FakeMistral, calc_plugins: Any
) -> None:
    from executor import Executor

    model = Model()
    fake_mistral.on_chat(model)
    with (
        create_sandbox("restricted") as sandbox,
        Executor(sandbox=sandbox, plugins=calc_plugins, store=False, max_retries=0) as executor,
    ):
        result = executor.execute("Add 1200 and 34 with the calculator, then print the sum")

    assert result.success, result.errors
    assert result.final_output.strip() == "1234"
    offered = {tool["function"]["name"] for tool in model.tool_rounds[0]["tools"]}
    assert {"add", "slow", "fail"} <= offered
    answers = [m for m in model.tool_rounds[1].messages if m["role"] == "tool"]
    assert answers[0]["content"] == "1234"
    assert "unknown tool 'die_unknown'" in answers[1]["content"]
    calls = {e.payload["tool"]: e.payload for e in result.trace if e.step == "tool_call"}
    assert calls["add"]["ok"] is True and calls["add"]["served_by"] == "mcp:calc"
    assert calls["add"]["plugin"] == "mcp.json"
