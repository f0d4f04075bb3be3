"""Is the image on the engine built from the runtime sources next to this code, and does it
carry the host's library versions?

The image carries a copy of sandbox/runtime and the runner; after they change, an old image would
speak an old protocol. build-image.sh labels the image with a hash of those sources, computed
exactly as ``runtime_hash()`` does here, so the backend can say "rebuild" instead of failing oddly.
It also installs the host's data stack at the host's versions (``host_stack()``) and records them
in a label: code that runs on one backend then behaves the same on the others.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

RUNTIME_HASH_LABEL = "mistral-executor.runtime-hash"
STACK_LABEL = "mistral-executor.stack"
SANDBOX_DIR = Path(__file__).resolve().parents[1]
# The libraries every backend offers (pyproject's dependencies), as distribution names.
DATA_STACK = (
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "scikit-learn",
    "pillow",
    "openpyxl",
    "pyarrow",
    "seaborn",
)


def host_stack() -> list[str]:
    """``name==version`` of each data-stack library installed here; empty if one is missing."""
    try:
        return [f"{name}=={metadata.version(name)}" for name in DATA_STACK]
    except metadata.PackageNotFoundError:
        return []


def _source_files() -> list[str]:
    """Relative to sandbox/, as `find docker/Dockerfile docker/runner.py runtime -type f` lists
    them (bytecode left out)."""
    paths = ["docker/Dockerfile", "docker/runner.py"]
    paths += [
        str(path.relative_to(SANDBOX_DIR))
        for path in (SANDBOX_DIR / "runtime").rglob("*")
        if path.is_file() and path.suffix != ".pyc" and "__pycache__" not in path.parts
    ]
    return sorted(paths)


def runtime_hash() -> str | None:
    """sha256 over `sha256sum` lines of the sources (C-sorted), first 16 hex digits."""
    try:
        lines = "".join(
            f"{hashlib.sha256((SANDBOX_DIR / rel).read_bytes()).hexdigest()}  {rel}\n"
            for rel in _source_files()
        )
    except OSError:
        return None
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def staleness(labels: dict[str, str] | None, image: str) -> str | None:
    """A sentence when the image was built from other sources than ours or carries other library
    versions than this host; None when it matches or cannot be told (no label of ours)."""
    labels = labels or {}
    built_from = labels.get(RUNTIME_HASH_LABEL)
    ours = runtime_hash()
    if built_from and ours and built_from != ours:
        return (
            f"the sandbox image {image!r} was built from other runtime sources than this "
            "checkout (rebuild it with `bash sandbox/docker/build-image.sh`)"
        )
    carried = set(labels.get(STACK_LABEL, "").split())
    here = set(host_stack())
    if carried and here and carried != here:
        differ = ", ".join(sorted(here - carried))
        return (
            f"the sandbox image {image!r} carries other library versions than this host "
            f"(here: {differ}); rebuild it with `bash sandbox/docker/build-image.sh`"
        )
    return None
