"""``mistral-executor plugins [--json] [--plugins-dir DIR]``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from tests.plugins.conftest import write_plugin
from tests.plugins.test_manager import GOOD, RAISES_IN_HOOK


def test_plugins_json_lists_hooks_tools_connectors_and_failures(tmp_path: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "shouter", GOOD)
    write_plugin(directory, "buggy", RAISES_IN_HOOK)
    result = CliRunner().invoke(cli, ["plugins", "--json", "--plugins-dir", str(directory)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_name = {entry["name"]: entry for entry in report["plugins"]}
    assert by_name["shouter"]["hooks"] == ["register_tools"]
    assert by_name["shouter"]["tools"] == [
        {"name": "shout", "description": "Upper-case a text.", "connector": None}
    ]
    web = by_name["plugins.builtin.web_search"]
    assert web["connectors"][0]["name"] == "web_search"
    assert web["connectors"][0]["mistral_unavailable"] == "no MISTRAL_API_KEY is set"
    assert [tool["name"] for tool in web["tools"]] == ["web_search"]
    assert report["failures"] == [
        {
            "name": "buggy",
            "source": "directory",
            "stage": "register_tools",
            "error": "RuntimeError: the plugin's own bug",
        }
    ]


def test_plugins_text_output_names_each_plugin_and_the_failures(tmp_path: Path) -> None:
    directory = tmp_path / "plugins"
    write_plugin(directory, "shouter", GOOD)
    write_plugin(directory, "broken", "import nothing_here\n")
    result = CliRunner().invoke(cli, ["plugins", "--plugins-dir", str(directory)])
    assert result.exit_code == 0
    assert "shouter  (plugins dir," in result.output
    assert "  tool shout: Upper-case a text." in result.output
    assert "  connector document_library: local (no MISTRAL_API_KEY is set)" in result.output
    assert "Left out (failed to load):" in result.output
    assert "broken (plugins dir, at import): ModuleNotFoundError" in result.output
