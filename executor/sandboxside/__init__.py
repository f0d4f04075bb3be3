"""Programs the executor runs INSIDE the sandbox (never imported by the host).

Each module here is sent as source text: ``probe_basic`` profiles the input files with numpy
and json only (what the restricted backend allows: no ``open()``, no names that start with an
underscore), ``probe_rich`` adds pandas, openpyxl, pyarrow and a PDF reader where the backend
has real CPython, and ``display`` defines the notebook-style ``display(obj)`` helper.
"""

from pathlib import Path


def source(name: str) -> str:
    """The source text of one of the programs in this directory."""
    return (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
