"""A plugin's sandbox backend works at every entry point that takes a backend name.

The backend comes from a plugins directory (``MISTRAL_EXECUTOR_PLUGINS_DIR``) through the
``register_sandboxes`` hook, and nothing else registers it: ``exec --backend``, ``run --no-tools
--sandbox`` (which offers no plugin tools), ``run --sandbox``, the web app's two dropdowns, its
Sandbox tab and the MCP server's ``sandbox_backends`` must all find it in the one registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import gradio as gr
import pytest
from typer.testing import CliRunner

import sandbox.factory as factory
import sandbox.shared as shared
from app.cli import cli
from tests.executor.executor_script import plan, scripted
from tests.plugins.conftest import write_plugin

MYBOX_PLUGIN = """
from mistral_executor import hookimpl
from sandbox import BackendSpec, RunResult, Sandbox, create_sandbox


class MyBox(Sandbox):
    '''Runs code in a restricted sandbox of its own and signs the results "mybox".'''

    name = "mybox"

    def __init__(self, limits=None, **options):
        super().__init__(limits)
        self.inner = create_sandbox("restricted", limits=limits, pool_size=1)
        self.allowed_imports = self.inner.allowed_imports

    def run(self, code, *, files=None, session_id=None, limits=None, cancel=None):  # no on_output
        result = self.inner.run(
            code, files=files, session_id=session_id, limits=limits or self.limits, cancel=cancel
        )
        result.backend = self.name
        return result

    def close(self):
        self.inner.close()


@hookimpl
def register_sandboxes(register):
    register(BackendSpec("mybox", MyBox, description="a plugin's own backend"))
"""

runner = CliRunner()


@pytest.fixture(autouse=True)
def mybox_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin in a plugins directory; afterwards the registry and the shared sandboxes are
    as before (no other test sees "mybox")."""
    directory = tmp_path / "plugins"
    write_plugin(directory, "mybox", MYBOX_PLUGIN)
    monkeypatch.setenv("MISTRAL_EXECUTOR_PLUGINS_DIR", str(directory))
    monkeypatch.setenv("MISTRAL_MAX_RETRIES", "0")
    backends, owners = dict(factory._BACKENDS), dict(factory._OWNERS)
    assert "mybox" not in backends
    yield directory
    box = shared._SHARED.pop("mybox", None)
    if box is not None:
        box.close()
    factory._BACKENDS.clear()
    factory._BACKENDS.update(backends)
    factory._OWNERS.clear()
    factory._OWNERS.update(owners)


def test_exec_backend_takes_a_plugin_backend(tmp_path: Path) -> None:
    source = tmp_path / "hello.py"
    source.write_text("print(6 * 7)\n")
    result = runner.invoke(cli, ["exec", "--backend", "mybox", "--json", str(source)])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stdout"] == "42\n" and data["backend"] == "mybox"
    assert data["backend_reason"] == "asked for by name"
    # Its run() takes no on_output: the output is shown when the run ends, not lost.
    plain = runner.invoke(cli, ["exec", "--backend", "mybox", str(source)])
    assert plain.exit_code == 0 and plain.stdout == "42\n", plain.stderr


def test_exec_still_refuses_a_name_no_plugin_registers(tmp_path: Path) -> None:
    source = tmp_path / "hello.py"
    source.write_text("print(1)\n")
    result = runner.invoke(cli, ["exec", "--backend", "nobox", str(source)])
    assert result.exit_code == 2
    assert "unknown sandbox backend 'nobox'" in result.stderr and "mybox" in result.stderr


@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "with-tools"])
def test_run_sandbox_takes_a_plugin_backend(fake_mistral, tools: bool) -> None:
    scripted(
        fake_mistral, "print(sum(range(11)))", plan_=plan(checks=["assert '55' in program_output"])
    )
    args = ["run", "sum 0..10", "--sandbox", "mybox", "--json", *([] if tools else ["--no-tools"])]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["success"] and data["final_output"] == "55\n"
    assert data["sandbox"] == {"backend": "mybox", "reason": "asked for by name"}
    assert data["backend"] == "mybox"
    offered = [r for r in fake_mistral.chat_requests if r.get("tools")]
    assert bool(offered) is tools  # --no-tools offers no plugin tools, yet finds the backend


def test_the_web_apps_dropdowns_and_sandbox_tab_offer_a_plugin_backend() -> None:
    from app.ui import build_app
    from app.ui.sandbox_tab import run_in_sandbox

    demo = build_app()
    dropdowns = {
        block.elem_id: [
            choice[0] if isinstance(choice, tuple) else choice for choice in block.choices
        ]
        for block in demo.blocks.values()
        if isinstance(block, gr.Dropdown)
        and block.elem_id in ("sandbox-backend", "settings-backend")
    }
    assert set(dropdowns) == {"sandbox-backend", "settings-backend"}
    for choices in dropdowns.values():
        assert "mybox" in choices and {"auto", "restricted", "jail", "docker"} <= set(choices)
    status, stdout, _errors, _images = run_in_sandbox("print('in mybox')", "mybox", 10, 256)
    assert stdout == "in mybox\n"
    assert "Backend `mybox`" in status


def test_the_mcp_server_lists_and_runs_a_plugin_backend() -> None:
    from app.mcp import service
    from app.mcp.server import build_server

    server = build_server()

    async def call(name: str, arguments: dict) -> dict:
        result = await server.call_tool(name, arguments)
        if isinstance(result, tuple):  # (content, structured output)
            result = result[1]
        if hasattr(result, "structuredContent"):  # a whole CallToolResult
            assert not result.isError, result.content
            result = result.structuredContent
        return result.get("result", result)

    report = anyio.run(call, "sandbox_backends", {})
    rows = {row["name"]: row for row in report["backends"]}
    assert rows["mybox"]["available"] is True
    assert rows["mybox"]["description"] == "a plugin's own backend"
    ran = anyio.run(call, "run_python", {"code": "print(7)", "backend": "mybox"})
    assert ran["stdout"] == "7\n" and ran["backend"] == "mybox"
    assert service.check_backend("mybox") == "mybox"


def test_run_no_tools_finds_a_backend_from_plugins_dir(
    fake_mistral, mybox_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--plugins-dir`` with ``--no-tools``: the plugins load for their backend alone."""
    monkeypatch.delenv("MISTRAL_EXECUTOR_PLUGINS_DIR")
    scripted(fake_mistral, "print(3)", plan_=plan(checks=["assert '3' in program_output"]))
    args = ["run", "three", "--no-tools", "--plugins-dir", str(mybox_plugin), "--sandbox", "mybox"]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["backend"] == "mybox"
