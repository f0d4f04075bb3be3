"""One settings module: every variable parsed once, bad values named, docs that cannot drift."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mistral_executor
from mistral_executor.settings import (
    VARIABLES,
    Settings,
    SettingsError,
    get_settings,
    markdown_table,
)

REPO = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("app", "executor", "plugins", "sandbox")

#: Files that still read the environment themselves (none left: every read goes through
#: mistral_executor/settings.py). A new entry needs a reason.
NOT_YET_MIGRATED: set[str] = set()
#: Code that runs inside the sandbox, not in the host process: its environment is the sandbox's.
SANDBOX_SIDE = {
    "sandbox/docker/runner.py",
    "sandbox/runtime/warmup.py",  # a worker's own environment, handed to its warm-up imports
}

#: Writes to the environment are not reads (the worker empties it; the app turns analytics off).
WRITES = {"clear", "setdefault", "pop", "update"}


def reads_environment(source: str) -> list[int]:
    """Lines that read ``os.environ`` / ``os.getenv`` (found in the syntax tree, not the text:
    a docstring that mentions os.environ is not a read)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "getenv", "environb")
        ):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.attr in WRITES:
            continue
        lines.append(node.lineno)
    return sorted(lines)


def env_readers() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for package in PROJECT_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            lines = reads_environment(path.read_text(encoding="utf-8"))
            if lines:
                found[path.relative_to(REPO).as_posix()] = lines
    return found


def test_the_detector_sees_reads_and_ignores_writes_and_words():
    source = (
        "import os\n"
        "a = os.environ.get('MISTRAL_API_KEY')\n"
        "b = os.getenv('X')\n"
        "env = os.environ if a else {}\n"
        "os.environ.clear()\n"
        "os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')\n"
        "'''empty os.environ after preload'''\n"
    )
    assert reads_environment(source) == [2, 3, 4]


def test_no_module_reads_the_environment_outside_settings():
    readers = set(env_readers())
    unexpected = readers - NOT_YET_MIGRATED - SANDBOX_SIDE
    assert not unexpected, (
        f"{sorted(unexpected)} read os.environ directly: add the variable to "
        "mistral_executor/settings.py and use get_settings()"
    )


def test_the_allow_list_only_shrinks():
    """A file that no longer reads the environment must leave the allow-list."""
    stale = NOT_YET_MIGRATED - set(env_readers())
    assert not stale, f"remove {sorted(stale)} from NOT_YET_MIGRATED"


def test_every_mistral_variable_the_code_names_is_a_setting():
    names = {var.env for var in VARIABLES}
    pattern = re.compile(r"\"(MISTRAL_[A-Z_]+)\"")
    named: dict[str, str] = {}
    for package in PROJECT_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for match in pattern.finditer(path.read_text(encoding="utf-8")):
                named.setdefault(match.group(1), path.relative_to(REPO).as_posix())
    missing = {name: where for name, where in named.items() if name not in names}
    assert not missing, f"variables named in code but not in settings.py: {missing}"


def test_the_docs_table_is_the_dataclass():
    text = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert markdown_table() in text, (
        "docs/settings.md is out of date: regenerate it with "
        "`python -c 'from mistral_executor.settings import markdown_table as t; print(t())'`"
    )
    field_names = {f for f in Settings.__dataclass_fields__}
    assert {var.field for var in VARIABLES} == field_names  # no field without its variable


def test_defaults_when_nothing_is_set(tmp_path):
    settings = Settings.from_env({})
    assert settings.api_key is None and settings.server_url is None
    assert settings.timeout_s == 60.0 and settings.max_retries == 3
    assert settings.home == Path.home() / ".mistral-executor"
    assert settings.sandbox == "auto" and settings.run_timeout_s == 600.0
    assert settings.load_plugins is None and settings.mistral_connectors is None
    assert settings.private is False and settings.mcp_server is False


def test_home_expands_the_tilde_once_for_everybody(monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", "~/x")
    from executor.trace_store import default_db_path, executor_home
    from plugins.connectors import ConnectorContext
    from plugins.connectors import executor_home as plugins_home

    expected = Path.home() / "x"
    assert get_settings().home == expected
    assert executor_home() == plugins_home() == expected
    assert default_db_path().parent == expected
    assert ConnectorContext().home == expected  # documents live next to the traces


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("MISTRAL_TIMEOUT_S", "soon", "must be a number"),
        ("MISTRAL_TIMEOUT_S", "-1", "positive"),
        ("MISTRAL_MAX_RETRIES", "many", "whole number"),
        ("MISTRAL_EXECUTOR_RUN_TIMEOUT_S", "nan", "positive"),
        ("MISTRAL_EXECUTOR_UI_PRIVATE", "maybe", "1/true/yes"),
        ("MISTRAL_EXECUTOR_MCP_SERVER", "sure", "1/true/yes"),
        ("GRADIO_SERVER_PORT", "70000", "port number"),
        ("MISTRAL_EXECUTOR_WEB_SEARCH", "bing", "web_search_premium"),
    ],
)
def test_a_bad_value_names_its_variable(name, value, words):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert name in str(raised.value) and words in str(raised.value)
    assert repr(value) in str(raised.value)


def test_values_are_parsed():
    settings = Settings.from_env(
        {
            "MISTRAL_API_KEY": " secret-key ",
            "MISTRAL_TIMEOUT_S": "12.5",
            "MISTRAL_MAX_RETRIES": "0",
            "MISTRAL_MODEL_CODER": "devstral-small-latest",
            "MISTRAL_EXECUTOR_LOAD_PLUGINS": "",
            "MISTRAL_EXECUTOR_MISTRAL_CONNECTORS": "web_search, document_library",
            "MISTRAL_EXECUTOR_UI_PRIVATE": "no",
            "SPACE_ID": "me/space",
            "GRADIO_SERVER_PORT": "8080",
        }
    )
    assert settings.api_key == "secret-key" and "secret-key" not in repr(settings)
    assert settings.timeout_s == 12.5 and settings.max_retries == 0
    assert settings.models == {"coder": "devstral-small-latest"}
    assert settings.load_plugins == ()  # empty: no third-party plugins
    assert settings.mistral_connectors == ("web_search", "document_library")
    assert settings.private is False and settings.on_hf_space  # the flag wins over SPACE_ID
    assert settings.gradio_server_port == 8080


def test_read_once_and_reset(monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_SANDBOX", "restricted")
    first = get_settings()
    assert get_settings() is first and first.sandbox == "restricted"
    monkeypatch.setenv("MISTRAL_EXECUTOR_SANDBOX", "docker")  # the suite's fixture resets
    assert get_settings().sandbox == "docker"


def test_settings_is_a_leaf_module():
    tree = ast.parse((REPO / "mistral_executor" / "settings.py").read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {*PROJECT_PACKAGES, "mistral_executor"}, imported


def test_the_facade_is_cheap_and_complete():
    probe = (
        "import sys, mistral_executor; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'app', 'executor', 'plugins', 'sandbox', 'mistralai', 'pluggy'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    for name in mistral_executor.__all__:
        assert getattr(mistral_executor, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mistral_executor.nope  # noqa: B018


def test_the_facade_names_are_the_packages_names():
    import executor
    import plugins
    import sandbox

    assert mistral_executor.Executor is executor.Executor
    assert mistral_executor.hookimpl is plugins.hookimpl
    assert mistral_executor.create_sandbox is sandbox.create_sandbox
    assert mistral_executor.FunctionTool is executor.FunctionTool is plugins.Tool
    assert issubclass(executor.SimpleToolProvider, plugins.ToolRegistry)


def test_the_cli_reports_a_bad_variable_without_a_traceback(tmp_path):
    import os

    env = {**os.environ, "MISTRAL_TIMEOUT_S": "soon", "MISTRAL_EXECUTOR_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "traces", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: MISTRAL_TIMEOUT_S must be a number, got 'soon'"
