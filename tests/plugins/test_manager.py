"""Loading plugins from the three sources, limiting them, and isolating broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins import ConnectorContext, ToolCall, load_plugins
from plugins.manager import BUILTIN_PLUGINS
from sandbox import SandboxError, create_sandbox
from sandbox.factory import backend_specs
from tests.plugins.conftest import write_plugin

GOOD = '''
from plugins import hookimpl

def shout(text: str) -> str:
    """Upper-case a text.

    Args:
        text: what to shout.
    """
    return text.upper()

@hookimpl
def register_tools(register):
    register(shout)
'''


def registry_for(plugins, home: Path):
    return plugins.tool_registry(ConnectorContext(home=home))


def test_builtin_plugins_register_the_connectors(clean_plugin_env: Path) -> None:
    plugins = load_plugins()
    assert plugins.failures == []
    assert list(plugins.infos) == list(BUILTIN_PLUGINS)
    assert {c.name for c in plugins.connectors()} == {
        "web_search",
        "code_interpreter",
        "image_generation",
        "document_library",
    }
    info = plugins.infos["plugins.builtin.web_search"]
    assert info.source == "builtin" and info.hooks == ["register_connectors"]
    registry = registry_for(plugins, clean_plugin_env)
    assert {"web_search", "code_interpreter", "generate_image", "search_documents"} <= set(
        registry.names()
    )
    assert registry.get("search_documents").plugin == "plugins.builtin.document_library"
    assert registry.get("search_documents").connector == "document_library"


def test_a_plugins_directory_from_the_argument_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_plugin_env: Path
) -> None:
    directory = tmp_path / "my-plugins"
    write_plugin(directory, "shouter", GOOD)
    write_plugin(directory, "_private", "raise RuntimeError('never imported')")
    for plugins in (
        load_plugins(directory),
        (monkeypatch.setenv("MISTRAL_EXECUTOR_PLUGINS_DIR", str(directory)), load_plugins())[1],
    ):
        info = plugins.infos["shouter"]
        assert info.source == "directory" and info.path == str(directory / "shouter.py")
        assert info.hooks == ["register_tools"]
        assert [tool.name for tool in info.tools] == ["shout"]
        assert plugins.failures == []
        result = registry_for(plugins, clean_plugin_env).call(ToolCall("shout", {"text": "hi"}))
        assert result.content == "HI" and result.plugin == "shouter"


def test_an_installed_distribution_is_loaded_through_its_entry_point(
    hello_installed: Path, clean_plugin_env: Path
) -> None:
    plugins = load_plugins()
    info = plugins.infos["hello"]
    assert info.source == "entry_point"
    assert info.distribution == "mistral-executor-hello" and info.version == "0.1.0"
    assert info.module == "mistral_executor_hello"
    result = registry_for(plugins, clean_plugin_env).call(
        ToolCall("hello", {"name": "Ada", "excited": True})
    )
    assert result.content == "Hello, Ada! (from the hello plugin)"


def test_load_plugins_env_limits_the_third_party_plugins(
    hello_installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "dir"
    write_plugin(directory, "shouter", GOOD)
    monkeypatch.setenv("MISTRAL_EXECUTOR_PLUGINS_DIR", str(directory))

    monkeypatch.setenv("MISTRAL_EXECUTOR_LOAD_PLUGINS", "")
    assert list(load_plugins().infos) == list(BUILTIN_PLUGINS)

    monkeypatch.setenv("MISTRAL_EXECUTOR_LOAD_PLUGINS", "mistral-executor-hello")
    assert list(load_plugins().infos) == [*BUILTIN_PLUGINS, "hello"]

    monkeypatch.setenv("MISTRAL_EXECUTOR_LOAD_PLUGINS", "shouter, hello")
    assert list(load_plugins().infos) == [*BUILTIN_PLUGINS, "hello", "shouter"]


BROKEN_IMPORT = "import a_module_that_does_not_exist\n"
RAISES_IN_HOOK = '''
from plugins import hookimpl

def half(x: int) -> int:
    """Registered before the hook fails: must not leak into the registry."""
    return x // 2

@hookimpl
def register_tools(register):
    register(half)
    raise RuntimeError("the plugin's own bug")
'''
UNKNOWN_HOOK = """
from plugins import hookimpl

@hookimpl
def register_tool(register):
    pass
"""
WRONG_ARGUMENTS = """
from plugins import hookimpl

@hookimpl
def register_tools(registry):
    pass
"""
EXITS = "import sys\nsys.exit(3)\n"
BAD_TOOL = '''
from plugins import hookimpl

def takes_bytes(data: bytes) -> None:
    """JSON cannot carry bytes."""

@hookimpl
def register_tools(register):
    register(takes_bytes)
'''


def test_broken_plugins_are_reported_and_left_out(tmp_path: Path, clean_plugin_env: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "a_good", GOOD)
    for name, source in {
        "broken_import": BROKEN_IMPORT,
        "raises_in_hook": RAISES_IN_HOOK,
        "unknown_hook": UNKNOWN_HOOK,
        "wrong_arguments": WRONG_ARGUMENTS,
        "exits": EXITS,
        "bad_tool": BAD_TOOL,
        "syntax_error": "def broken(:\n",
    }.items():
        write_plugin(directory, name, source)

    plugins = load_plugins(directory)

    failures = {f.name: f for f in plugins.failures}
    assert set(failures) == {
        "broken_import",
        "raises_in_hook",
        "unknown_hook",
        "wrong_arguments",
        "exits",
        "bad_tool",
        "syntax_error",
    }
    assert failures["broken_import"].stage == "import"
    assert "ModuleNotFoundError" in failures["broken_import"].error
    assert failures["raises_in_hook"].stage == "register_tools"
    assert failures["raises_in_hook"].error == "RuntimeError: the plugin's own bug"
    assert "unknown hook(s) register_tool" in failures["unknown_hook"].error
    assert failures["wrong_arguments"].stage == "register"
    assert failures["exits"].error == "SystemExit: 3"
    assert "unsupported parameter type" in failures["bad_tool"].error
    assert failures["syntax_error"].stage == "import"
    assert "raises_in_hook" in str(failures["raises_in_hook"])

    assert set(plugins.infos) == {*BUILTIN_PLUGINS, "a_good"}
    registry = registry_for(plugins, clean_plugin_env)
    assert "half" not in registry and "shout" in registry
    assert plugins.pm.get_plugin("raises_in_hook") is None


def test_a_missing_plugins_directory_is_reported(tmp_path: Path) -> None:
    plugins = load_plugins(tmp_path / "nowhere")
    assert [f.stage for f in plugins.failures] == ["import"]
    assert "does not exist" in plugins.failures[0].error


def test_a_tool_name_clash_keeps_the_first_and_reports_the_second(
    tmp_path: Path, clean_plugin_env: Path
) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "first", GOOD)
    write_plugin(directory, "second", GOOD.replace("text.upper()", "'second'"))
    plugins = load_plugins(directory)
    registry = registry_for(plugins, clean_plugin_env)
    assert registry.get("shout").plugin == "first"
    assert [(f.name, f.stage) for f in plugins.failures] == [("second", "register_tools")]
    assert "already registered by first" in plugins.failures[0].error


OBSERVER = """
from plugins import hookimpl
SEEN = []

@hookimpl
def on_trace_event(event):
    SEEN.append(event)
"""
FAILING_OBSERVER = """
from plugins import hookimpl

@hookimpl
def on_trace_event(event):
    raise ValueError("observer bug")
"""


def test_trace_observers_see_events_and_a_failing_one_is_silenced(tmp_path: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "watcher", OBSERVER)
    write_plugin(directory, "faulty", FAILING_OBSERVER)
    plugins = load_plugins(directory)
    plugins.emit({"phase": "scout"})
    plugins.emit({"phase": "final"})
    watcher = plugins.pm.get_plugin("watcher")
    assert watcher.SEEN == [{"phase": "scout"}, {"phase": "final"}]
    assert [(f.name, f.stage, f.error) for f in plugins.failures] == [
        ("faulty", "on_trace_event", "ValueError: observer bug")
    ]


SANDBOX_PLUGIN = """
from plugins import hookimpl, BackendSpec
from sandbox import RunResult, Sandbox

class EchoSandbox(Sandbox):
    name = "echo-remote"

    def run(self, code, *, files=None, session_id=None, limits=None):
        return RunResult(ok=True, stdout=f"would run {len(code)} chars remotely",
                         backend=self.name)

    def close(self):
        pass

@hookimpl
def register_sandboxes(register):
    register(BackendSpec("echo-remote", EchoSandbox, description="pretend remote service"))
    register("restricted", EchoSandbox)
"""


def test_plugin_sandboxes_join_the_factory_but_cannot_replace_builtins(tmp_path: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "remote_box", SANDBOX_PLUGIN)
    plugins = load_plugins(directory)
    # The built-in backends arrive through the same hook, from the built-ins plugin.
    owners = {spec.name: info.name for info in plugins.infos.values() for spec in info.sandboxes}
    assert owners == {
        "restricted": "plugins.builtin.sandboxes",
        "jail": "plugins.builtin.sandboxes",
        "docker": "plugins.builtin.sandboxes",
        "echo-remote": "remote_box",
    }
    assert [(f.name, f.stage) for f in plugins.failures] == [("remote_box", "register_sandboxes")]
    assert "'restricted' is reserved" in plugins.failures[0].error
    with create_sandbox("echo-remote") as box:
        assert box.run("print(1)").stdout == "would run 8 chars remotely"
    restricted = backend_specs()["restricted"].factory
    assert getattr(restricted, "__name__", "") != "EchoSandbox"
    with create_sandbox("restricted") as box:
        assert box.run("print(1)").stdout == "1\n"
    with pytest.raises(SandboxError):
        create_sandbox("not-a-backend")


TAKER_PLUGIN = """
from plugins import hookimpl
from sandbox import RunResult, Sandbox

class Taker(Sandbox):
    name = "taker"

    def run(self, code, **options):
        return RunResult(ok=True, stdout="taken", backend=self.name)

    def close(self):
        pass

@hookimpl
def register_sandboxes(register):
    register("echo-remote", Taker)
    register("docker", Taker)
"""


def test_a_plugin_cannot_take_another_plugins_backend_or_a_builtin(tmp_path: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "remote_box", SANDBOX_PLUGIN)
    write_plugin(directory, "taker", TAKER_PLUGIN)
    plugins = load_plugins(directory)
    refused = [f.error for f in plugins.failures if f.name == "taker"]
    assert len(refused) == 2, plugins.failures
    assert any("'echo-remote' is reserved by plugin 'remote_box'" in e for e in refused)
    assert any("'docker' is reserved by the built-in backends" in e for e in refused)
    with create_sandbox("echo-remote") as box:
        assert box.run("print(1)").stdout == "would run 8 chars remotely"
    assert backend_specs()["docker"].factory.__qualname__ == "sandbox.docker.DockerSandbox"
