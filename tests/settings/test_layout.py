"""The structure docs/architecture.md describes: imports point one way, one schema formatter."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: package -> the project packages it must not import (app -> executor -> {plugins, sandbox}).
FORBIDDEN = {
    "sandbox": {"app", "executor", "plugins"},
    "plugins": {"app", "executor"},
    "executor": {"app"},
}


def imports_of(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
    return found


def test_imports_point_one_way():
    wrong = []
    for package, forbidden in FORBIDDEN.items():
        for path in (REPO / package).rglob("*.py"):
            for module, line in imports_of(path):
                if module.split(".")[0] in forbidden:
                    wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, wrong


def test_one_json_schema_error_formatter():
    users = sorted(
        str(path.relative_to(REPO))
        for package in ("app", "executor", "plugins", "sandbox", "mistral_executor")
        for path in (REPO / package).rglob("*.py")
        if any(module.split(".")[0] == "jsonschema" for module, _ in imports_of(path))
    )
    assert users == ["plugins/schema.py"], (
        "format JSON-schema errors with plugins.schema.validate, not jsonschema directly"
    )


def test_the_facade_exports_only_what_exists():
    import mistral_executor

    tree = ast.parse((REPO / "mistral_executor" / "__init__.py").read_text(encoding="utf-8"))
    typed = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if node.module != "__future__" and node.module not in ("typing", "importlib")
    }
    # The names type checkers see are the names served at run time.
    assert typed - {"TYPE_CHECKING", "Any"} == set(mistral_executor.__all__)


def test_the_space_image_and_the_wheel_carry_every_package():
    import re
    import tomllib

    include = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in include}
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name != "tests"}
    assert packages == on_disk, "pyproject's packages include must list every package"
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (REPO / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"the Dockerfile does not copy {sorted(packages - copied)}"
    # .dockerignore starts from "*": a package it does not let in breaks the COPY above.
    let_in = set(re.findall(r"^!(\w+)/$", (REPO / ".dockerignore").read_text(), re.M))
    assert packages <= let_in, f".dockerignore keeps out {sorted(packages - let_in)}"
