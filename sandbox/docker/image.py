"""Is the image on the engine built from the runtime sources next to this code?

The image carries a copy of sandbox/runtime and the runner; after they change, an old image would
speak an old protocol. build-image.sh labels the image with a hash of those sources, computed
exactly as ``runtime_hash()`` does here, so the backend can say "rebuild" instead of failing oddly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

RUNTIME_HASH_LABEL = "mistral-executor.runtime-hash"
SANDBOX_DIR = Path(__file__).resolve().parents[1]


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
    """A sentence when the image was built from other sources than ours; None when it matches
    or cannot be told (an image built elsewhere without our label)."""
    built_from = (labels or {}).get(RUNTIME_HASH_LABEL)
    ours = runtime_hash()
    if not built_from or not ours or built_from == ours:
        return None
    return (
        f"the sandbox image {image!r} was built from other runtime sources than this checkout "
        "(rebuild it with `bash sandbox/docker/build-image.sh`)"
    )
