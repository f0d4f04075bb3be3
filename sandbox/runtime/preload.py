"""The data stack a fork-server imports once, so a run's ``import pandas`` is a dictionary lookup.

Shared by the jail worker (host CPython) and the Docker runner (the image carries this package):
the heavy imports are paid once per fork-server, never per run. Missing packages are reported,
not fatal: a child can still import anything later, it just pays for it.
"""

from __future__ import annotations

import importlib
import os
import sys

# Imported in the fork-server so a run's `import pandas` is a dictionary lookup. Submodules that
# the packages load lazily are listed too: a child can still import anything later (the files
# are readable), it just pays for it.
DATA_STACK = (
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "pyarrow.csv",
    "openpyxl",
    "scipy",
    "scipy.stats",
    "scipy.optimize",
    "scipy.linalg",
    "scipy.signal",
    "scipy.interpolate",
    "scipy.integrate",
    "scipy.sparse",
    "scipy.special",
    "scipy.spatial",
    "scipy.fft",
    "scipy.ndimage",
    "sklearn",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.model_selection",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "sklearn.cluster",
    "sklearn.tree",
    "sklearn.decomposition",
    "sklearn.datasets",
    "sklearn.neighbors",
    "sklearn.pipeline",
    "sklearn.impute",
    "sklearn.svm",
    "PIL.Image",
    "PIL.ImageDraw",
    "PIL.ImageFont",
    "PIL.ImageFilter",
    "PIL.ImageOps",
    "seaborn",
    "concurrent.futures.thread",
    "asyncio",
    "sqlite3",
    "csv",
    "json",
    "statistics",
    "decimal",
    "fractions",
    "zoneinfo",
    "datetime",
    "collections",
    "itertools",
    "functools",
    "re",
)


def preload_data_stack() -> list[str]:
    """Import the data stack (missing packages are reported, not fatal) and size the thread
    pools that would otherwise follow the machine's core count."""
    environ = dict(os.environ)  # imports may set variables (sklearn: KMP_*)
    missing = []
    for name in DATA_STACK:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.set_cpu_count(1)
        pyarrow.set_io_thread_count(1)
    threadpoolctl = sys.modules.get("threadpoolctl")
    if threadpoolctl is not None and hasattr(threadpoolctl, "_HAS_PROCFS"):
        # scikit-learn asks threadpoolctl which BLAS/OpenMP libraries are loaded; it would read
        # /proc/self/maps, which Landlock hides. dl_iterate_phdr answers the same question.
        threadpoolctl._HAS_PROCFS = False
    # The code sees the environment its backend gave it, not what the imports left behind.
    os.environ.clear()
    os.environ.update(environ)
    return missing
