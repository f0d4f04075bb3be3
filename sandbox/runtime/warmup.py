"""Warm-up after ``ready``: a fork-server serves at once and imports the data stack while idle.

Importing pandas, scipy, scikit-learn and matplotlib takes one to three seconds; a first run
that prints a sum needs none of it. So a fork-server sends ``ready`` as soon as it is locked
down, and imports the heavy modules one step at a time *between* requests, never during a run
and never while a request waits. Every child forked after the warm-up inherits the modules
(a run's ``import pandas`` is a dictionary lookup); a child forked before it imports what it
needs itself, which is correct, only slower.

A run whose code names one of the warm modules (or imports dynamically) does not take a cold
child: the server first finishes the warm-up (telling the host with a ``warming`` frame, so the
host's deadline allows for it) and then forks. The user's time limit starts with the child, so
the warm-up never eats into it.

The steps run with the environment the backend gave the process (thread-pool sizes are read
when a library loads), and the process's environment is empty again before the next fork. The
thread-pool sizes themselves (no secret: small integers) stay in the C environment of cold
children, so that a library a cold child loads itself does not start a thread per core.
"""

from __future__ import annotations

import ast
import gc
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sandbox.runtime import lockdown

# Read by the native thread pools when their library loads; constants, never secrets.
THREAD_LIMIT_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
    "OMP_THREAD_LIMIT",
    "ARROW_IO_THREADS",
    "JE_ARROW_MALLOC_CONF",
    "LOKY_MAX_CPU_COUNT",
    "JOBLIB_MULTIPROCESSING",
    "MPLBACKEND",
)
# What a host allows for the warm-up on top of a run's own time: before the server takes a
# request (it reads them between two imports, and one import can take seconds on a loaded
# machine), and after a ``warming`` frame (the whole warm-up, for code that needs it).
BEFORE_ACCEPT_S = 30.0
WARMUP_ALLOWANCE_S = 120.0
# Code longer than this is not parsed to decide: it waits for the warm-up.
MAX_SCANNED_CHARS = 1_000_000
_DYNAMIC_IMPORT_NAMES = frozenset({"__import__", "import_module", "importlib", "exec", "eval"})


@dataclass
class WarmupStep:
    """One import (or one warming chore) the server does between requests."""

    name: str
    run: Callable[[], object]


@dataclass
class Warmup:
    """The steps a fork-server still has to do after ``ready``, and when a run must wait.

    ``modules`` are the top-level package names the steps import: code that imports one of
    them waits for the whole warm-up. ``any_import`` makes every import statement wait (the
    restricted policy builds all its module proxies at the first import, whatever it names).
    """

    steps: list[WarmupStep]
    modules: frozenset[str] = frozenset()
    any_import: bool = False
    env: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    _next: int = 0

    @property
    def pending(self) -> bool:
        return self._next < len(self.steps)

    def step(self) -> None:
        """Run the next step with the backend's environment, then empty it again (a child is
        forked only between steps, and must never see that environment in ``os.environ``)."""
        step = self.steps[self._next]
        self._next += 1
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            step.run()
        except Exception as exc:  # noqa: BLE001 - a broken optional package must not stop serving
            self.failures[step.name] = f"{type(exc).__name__}: {exc}"
        finally:
            os.environ.clear()
            os.environ.update(saved)
            keep_thread_limits(self.env)
        if not self.pending:
            settle()

    def finish(self) -> None:
        while self.pending:
            self.step()

    def needed_by(self, code: object) -> bool:
        """Whether a run of ``code`` should wait for the warm-up instead of taking a cold child."""
        if not self.pending:
            return False
        if not isinstance(code, str) or len(code) > MAX_SCANNED_CHARS:
            return True
        if "import" not in code:
            return False
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return False  # the child reports it; nothing gets imported
        except Exception:  # noqa: BLE001 - too deep, too large: do not guess
            return True
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                if self.any_import or getattr(node, "level", 0):
                    return True
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.append(node.module)
                if any(name.split(".")[0] in self.modules for name in names):
                    return True
            elif _names_dynamic_import(node):
                return True
        return False


def _names_dynamic_import(node: ast.AST) -> bool:
    """``__import__``, ``importlib.import_module``, ``exec``...: the imports cannot be read."""
    if isinstance(node, ast.Name):
        return node.id in _DYNAMIC_IMPORT_NAMES
    return isinstance(node, ast.Attribute) and node.attr in _DYNAMIC_IMPORT_NAMES


def import_steps(modules: Iterable[str]) -> list[WarmupStep]:
    """One step per module, in order (a package before its submodules)."""
    return [WarmupStep(name, _importer(name)) for name in modules]


def _importer(name: str) -> Callable[[], object]:
    def run() -> object:
        return __import__(name)

    return run


def empty_environment() -> dict[str, str]:
    """Empty ``os.environ`` before serving (the children must see nothing) and return what it
    held, for the warm-up steps; the thread-pool sizes stay in the C environment only."""
    env = dict(os.environ)
    os.environ.clear()
    keep_thread_limits(env)
    return env


def keep_thread_limits(env: dict[str, str]) -> None:
    """After ``os.environ.clear()``: put the thread-pool sizes back in the C environment only
    (``os.environ`` stays empty), so a library that a cold child loads itself reads them."""
    for name in THREAD_LIMIT_VARIABLES:
        value = env.get(name)
        if value is not None:
            os.putenv(name, value)


def settle() -> None:
    """After the last step: freeze the warm objects, so that the collector never touches (and
    copies) them in the children."""
    gc.collect()
    gc.freeze()
    lockdown.collapse_to_huge_pages()
