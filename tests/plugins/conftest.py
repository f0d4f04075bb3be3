"""Fixtures for the plugin tests: a clean plugin environment and the example plugin, pip-installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.loading import reset_plugins

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "mistral-executor-hello"
# Nothing listens on port 9 of loopback: ddgs fails at once with "connection refused" instead of
# waiting on DNS or a firewall, so offline web search is deterministic.
DEAD_PROXY = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No plugin settings leak in from the machine; local state goes to a temp home; the
    process-wide plugins (``get_plugins()``) are loaded afresh in each test."""
    for name in (
        "MISTRAL_EXECUTOR_PLUGINS_DIR",
        "MISTRAL_EXECUTOR_LOAD_PLUGINS",
        "MISTRAL_EXECUTOR_MISTRAL_CONNECTORS",
        "MISTRAL_EXECUTOR_WEB_SEARCH",
        "MISTRAL_API_KEY",
        "MISTRAL_SERVER_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(home))
    monkeypatch.setenv("DDGS_PROXY", DEAD_PROXY)
    reset_plugins()
    yield home
    reset_plugins()


def _pip_install(source: Path, target: Path) -> None:
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    # Offline first (works when the venv's setuptools can build wheels by itself); otherwise let
    # pip fetch a build backend from PyPI, the one registry these machines can reach.
    for extra in (["--no-build-isolation"], []):
        done = subprocess.run([*base, *extra, str(source)], capture_output=True, text=True)
        if done.returncode == 0:
            return
    pytest.fail(f"pip could not install the example plugin:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin pip-installed into a private directory (the venv stays untouched).

    It is built from a copy so the checkout gets no build/ or egg-info litter.
    """
    work = tmp_path_factory.mktemp("hello-plugin")
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    _pip_install(source, target)
    assert list(target.glob("mistral_executor_hello-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def hello_installed(hello_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin importable and discoverable through its entry point, for one test."""
    monkeypatch.syspath_prepend(str(hello_site))
    yield hello_site
    sys.modules.pop("mistral_executor_hello", None)


def write_plugin(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path
