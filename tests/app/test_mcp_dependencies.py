"""The dependency trap: gradio[mcp] wants mcp<2 and pydantic<=2.12.5, mistralai[agents] mcp>=2.2.

The project declares gradio[mcp] and no mistralai extra (docs/mcp.md says why). These tests read
the declared set from pyproject.toml and the installed distributions' own ``Requires-Dist``, so a
change that brings the conflict back (a new extra, a loosened pin, a stale environment) fails here
rather than at a visitor's ``pip install``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def _applies(requirement: Requirement, extra: str = "") -> bool:
    if requirement.marker is None:
        return not extra
    return requirement.marker.evaluate({**default_environment(), "extra": extra})


def _closure_of_extras() -> list[tuple[str, Requirement]]:
    """Every declared requirement plus what each declared extra pulls in, with who asked."""
    found: list[tuple[str, Requirement]] = []
    for requirement in _declared():
        found.append(("pyproject.toml", requirement))
        for extra in sorted(requirement.extras):
            for line in distribution(requirement.name).requires or []:
                wanted = Requirement(line)
                if _applies(wanted, extra):
                    found.append((f"{requirement.name}[{extra}]", wanted))
    return found


def test_every_declared_requirement_and_extra_is_satisfied_by_the_installed_set() -> None:
    unmet = []
    for source, requirement in _closure_of_extras():
        try:
            installed = distribution(requirement.name).version
        except PackageNotFoundError:
            unmet.append(f"{source} needs {requirement}: not installed")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(f"{source} needs {requirement}, installed {installed}")
    assert unmet == []


def test_the_declared_mcp_range_fits_gradio_mcp_and_excludes_mistralai_mcp_extras() -> None:
    declared = {r.name: r for r in _declared()}
    assert "mcp" in declared["gradio"].extras, "the web app's MCP server needs gradio[mcp]"
    assert not declared["mistralai"].extras & {"agents", "mcp"}, (
        "mistralai[agents]/[mcp] need mcp>=2.2, which gradio[mcp] refuses"
    )
    gradio_wants = [
        Requirement(line)
        for line in distribution("gradio").requires or []
        if _applies(Requirement(line), "mcp")
    ]
    gradio_mcp = next(r for r in gradio_wants if r.name == "mcp")
    mistral_mcp = next(
        Requirement(line)
        for line in distribution("mistralai").requires or []
        if Requirement(line).name == "mcp"
    )
    ours = declared["mcp"].specifier
    # Every mcp release our range allows is one gradio[mcp] accepts and mistralai's extras refuse.
    for probe in ("1.21.0", "1.25.0", "1.30.0", "1.99.0", "2.0.0", "2.2.0", "2.3.0"):
        if ours.contains(probe):
            assert gradio_mcp.specifier.contains(probe), probe
            assert not mistral_mcp.specifier.contains(probe), probe


def test_pip_check_finds_no_broken_requirement() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_gradio_mcp_server_support_imports() -> None:
    import gradio.mcp  # noqa: F401  (fails when gradio's mcp extra is missing or mismatched)
    import mcp.server.fastmcp  # noqa: F401
