"""What a worker process of the restricted (and jail) host side starts with: where the project's
code is, its environment, and matplotlib's font cache.

The workers run with ``python -I`` and this environment only -- never the host's, which holds the
API keys -- so everything they need from outside is named here.
"""

from __future__ import annotations

import os
import tempfile

import sandbox
from mistral_executor.settings import get_settings

WORKER_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def project_root() -> str:
    """The directory holding the ``sandbox`` package: the workers' only entry on sys.path."""
    return os.path.dirname(os.path.dirname(os.path.abspath(sandbox.__file__)))


def matplotlib_cache_dir(fallback_parent: str) -> str:
    """Where matplotlib keeps its font cache between sandboxes (built once, ~1 s); the worker
    reads it as root before it drops privileges. A temp dir only if no cache dir is usable."""
    path = os.path.join(get_settings().cache_home, "mistral-executor", "matplotlib")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="matplotlib-", dir=fallback_parent)
