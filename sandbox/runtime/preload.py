"""The data stack a fork-server imports once, so a run's ``import pandas`` is a dictionary lookup.

The jail and docker workers import it after ``ready``, between requests (``warmup_steps``;
see ``sandbox.runtime.warmup``).

Shared by the jail worker (host CPython) and the Docker runner (the image carries this package):
the heavy imports are paid once per fork-server, never per run. Missing packages are reported,
not fatal: a child can still import anything later, it just pays for it.
"""

from __future__ import annotations

import io
import os
import sys

from sandbox.runtime.warmup import WarmupStep, import_steps

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


def size_thread_pools() -> None:
    """One thread for pyarrow's pools, and no /proc for threadpoolctl (the warm-up's last step,
    after the imports)."""
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.set_cpu_count(1)
        pyarrow.set_io_thread_count(1)
    threadpoolctl = sys.modules.get("threadpoolctl")
    if threadpoolctl is not None and hasattr(threadpoolctl, "_HAS_PROCFS"):
        # scikit-learn asks threadpoolctl which BLAS/OpenMP libraries are loaded; it would read
        # /proc/self/maps, which Landlock hides. dl_iterate_phdr answers the same question.
        threadpoolctl._HAS_PROCFS = False


def warm_matplotlib() -> None:
    """Import matplotlib (Agg) and render one figure, so that neither the imports nor the lazy
    font loading land in a user's run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure = pyplot.figure()
    axes = figure.add_subplot()
    axes.plot([0, 1], [1, 0], label="warm")
    axes.set_title("warm")
    axes.legend()
    figure.savefig(io.BytesIO(), format="png")
    pyplot.close("all")


def load_matplotlib_fonts() -> None:
    """Before a root process drops its privileges: resolve matplotlib's config and cache dir
    and load its font list, which only root may read (the rest is imported in the warm-up,
    unprivileged). A process that keeps its user needs none of this."""
    if os.geteuid() != 0:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.font_manager  # noqa: F401 - loads (or builds) the font cache
    except ImportError:
        pass


def warmup_steps(data_stack: bool = True) -> list[WarmupStep]:
    """The warm-up of a worker that runs real CPython (jail, docker): numpy, matplotlib with a
    rendered figure, then the data stack module by module, then the thread pools."""
    steps = [*import_steps(["numpy"]), WarmupStep("matplotlib", warm_matplotlib)]
    if data_stack:
        steps += [*import_steps(DATA_STACK), WarmupStep("thread pools", size_thread_pools)]
    return steps


# Code importing one of these waits for the warm-up; the standard library's modules are cheap
# enough for a cold child to import itself.
WARM_PACKAGES = frozenset(
    {"numpy", "matplotlib", "mpl_toolkits", "pylab"} | {name.split(".")[0] for name in DATA_STACK}
) - frozenset(sys.stdlib_module_names)
