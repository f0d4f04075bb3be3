"""A Space installs requirements.txt and reads README's front matter: both must match the project."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _requirement_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_requirements_txt_is_the_project_dependencies_without_gradio() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    expected = {dep for dep in project["dependencies"] if not dep.startswith("gradio")}
    assert _requirement_lines((REPO / "requirements.txt").read_text()) == expected


def test_readme_front_matter_describes_a_gradio_space() -> None:
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n")
    front = text.split("---\n")[1]
    fields = dict(line.split(": ", 1) for line in front.splitlines() if ": " in line)
    assert fields["sdk"] == "gradio"
    assert fields["sdk_version"] == version("gradio")
    assert fields["python_version"] == '"3.11"'
    assert (REPO / fields["app_file"]).is_file()
