"""The restricted backend's code policy: what compiles, and what running code can reach.

Usage (the worker builds one Policy in the fork-server parent; children only compile and run)::

    policy = Policy(allowed_imports=DEFAULT_ALLOWED_IMPORTS)   # imports + proxies, once
    code = policy.compile(source)         # raises PolicyViolation (.info: ErrorInfo fields)
    ns = policy.new_namespace()           # fresh globals: curated builtins and guards
    exec(code, ns)

``compile`` refuses with ``PolicyViolation.info["kind"]``: ``"syntax"`` (SyntaxError),
``"policy"`` (a refused construct, e.g. ``x.__globals__``) or ``"import"`` (a module outside
the allow-list; the message names it and lists the allowed ones). ``check`` returns the same
dict or None without running anything; the host builds its Policy with ``preload=False`` (no
allowed module imported, nothing process-wide changed).

At run time refusals raise ``PolicyError`` subclasses. Each has ``kind`` and an ``info`` dict
(type, message, kind) the worker merges into its ErrorInfo; tracebacks show them as
``sandbox.<Type>``:

* ``PolicyAttributeError`` (type "AttributeError", kind "policy"): a refused attribute, e.g.
  ``getattr(x, "__globals__")``, ``random._os``, ``"{0.__class__}".format(x)``;
* ``PolicyImportError`` (type "ImportError", kind "import"): a refused import;
* ``PolicyPathError`` (type "PermissionError", kind "policy"): a path outside the work dir
  given to numpy or matplotlib;
* ``PolicyError`` itself (type "PolicyError", kind "policy"): anything else refused
  (three-argument ``type()``, ``print(file=...)``, ``open()``, ``np.load(allow_pickle=True)``).

Where things live: transformer.py + syntax_rules.py + fast_path.py (what compiles, and which loads stay
native), guards.py (attribute reads at run time; re-exports the rest), errors.py (exceptions,
frozen classes), classes.py (the code's own classes, stand-ins for library classes), writes.py
and writable.py (attribute writes and the library allow-list), safe_builtins.py (the builtins
table), modules.py + module_lists.py (import gate, module proxies, what each module offers),
stdlib_wrappers.py / doors.py / numpy_doors.py / mpl_doors.py / safe_format.py (library
functions that would bypass the rules), sinks.py (library code that evaluates source, closed
where it evaluates). Iteration keeps RestrictedPython's ``_getiter_`` hook, bound to the
builtin ``iter`` (one C call per loop, no per-element cost).

Security does not rest on this module alone: RestrictedPython is not a security boundary, so
the worker also runs every child unprivileged, without network, environment or foreign files.
"""

from __future__ import annotations

import ast
import linecache
import traceback
import warnings
from types import CodeType
from typing import Any

from sandbox.restricted.errors import USER_FILENAME
from sandbox.restricted.guards import (
    PolicyAttributeError,
    PolicyError,
    PolicyImportError,
    PolicyPathError,
)
from sandbox.restricted.modules import DEFAULT_ALLOWED_IMPORTS, ImportGate
from sandbox.restricted.safe_builtins import base_builtins, make_dir
from sandbox.restricted.safe_format import call_format, call_format_map
from sandbox.restricted.stdlib_wrappers import harden_process
from sandbox.restricted.transformer import Violation, transform
from sandbox.runtime.preload import warm_matplotlib
from sandbox.runtime.warmup import WarmupStep, import_steps

__all__ = [
    "DEFAULT_ALLOWED_IMPORTS",
    "MAX_SOURCE_BYTES",
    "Policy",
    "PolicyAttributeError",
    "PolicyError",
    "PolicyImportError",
    "PolicyPathError",
    "PolicyViolation",
    "error_kind",
]

# Parsing and transforming cost host CPU before any limit applies (6 MB took about a minute):
# larger sources are refused up front.
MAX_SOURCE_BYTES = 1_000_000


class PolicyViolation(Exception):
    """Code refused before it runs; ``info`` has the ErrorInfo fields."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info["message"])
        self.info = info


def error_kind(exc: BaseException) -> str | None:
    """``"policy"``/``"import"`` for the policy's own exceptions, else None."""
    if isinstance(exc, PolicyViolation):
        return exc.info["kind"]
    return getattr(exc, "kind", None) if isinstance(exc, PolicyError) else None


def _info(
    type_name: str, message: str, lineno: int | None, kind: str, source: str
) -> dict[str, Any]:
    lines = source.splitlines()
    where = ""
    if lineno is not None and 0 < lineno <= len(lines):
        where = f'  File "{USER_FILENAME}", line {lineno}\n    {lines[lineno - 1].strip()}\n'
    return {
        "type": type_name,
        "message": message,
        "traceback": f"{where}{type_name}: {message}\n",
        "lineno": lineno,
        "kind": kind,
    }


def _syntax_info(exc: SyntaxError) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": exc.msg or str(exc),
        "traceback": "".join(traceback.format_exception_only(type(exc), exc)),
        "lineno": exc.lineno,
        "kind": "syntax",
    }


def _violation_info(violations: list[Violation], source: str) -> dict[str, Any]:
    first = violations[0]
    message = first.message
    if len(violations) > 1:
        others = [f"line {v.lineno}: {v.message}" for v in violations[1:6]]
        message += "; also refused: " + "; ".join(others)
    type_name = "ImportError" if first.kind == "import" else "PolicyError"
    return _info(type_name, message, first.lineno, first.kind, source)


class Policy:
    """Compiles user code under the restricted policy and builds namespaces to run it in."""

    def __init__(
        self,
        allowed_imports: tuple[str, ...] | list[str] = DEFAULT_ALLOWED_IMPORTS,
        *,
        preload: bool = True,
        guard_iteration: bool = True,
    ) -> None:
        self.gate = ImportGate(tuple(allowed_imports))
        self.guard_iteration = guard_iteration
        if preload:
            harden_process()
            self.gate.load_all()
        builtins_table = base_builtins()
        builtins_table.update(
            __import__=self.gate, _call_format_=call_format, _call_format_map_=call_format_map
        )
        self._builtins = builtins_table

    def warmup_steps(self) -> list[WarmupStep]:
        """For a worker that serves before it imports (``sandbox.runtime.warmup``): the
        process-wide changes happen now, before any child exists; the allowed modules are
        imported one step at a time between requests, then the proxies are built. A child
        forked before that builds them itself at its first import (``ImportGate.__call__``)."""
        harden_process()
        steps = [*import_steps(["numpy"])] if "numpy" in self.gate.allowed_roots else []
        if "matplotlib" in self.gate.allowed_roots:
            steps.append(WarmupStep("matplotlib", warm_matplotlib))
        steps += import_steps(self.gate.wanted_modules())
        steps.append(WarmupStep("module proxies", self.gate.load_all))
        return steps

    @property
    def allowed_imports(self) -> frozenset[str]:
        return self.gate.allowed

    def _compile(self, source: str) -> tuple[dict[str, Any] | None, CodeType | None]:
        if not isinstance(source, str):
            raise TypeError(f"source must be str, not {type(source).__name__}")
        if len(source) * 4 > MAX_SOURCE_BYTES:  # UTF-8 needs at most 4 bytes per character
            size = len(source.encode("utf-8", "surrogatepass"))
            if size > MAX_SOURCE_BYTES:
                message = (
                    f"the code is too large ({size} bytes; at most {MAX_SOURCE_BYTES} are accepted)"
                )
                return _info("PolicyError", message, None, "policy", ""), None
        try:
            tree = ast.parse(source, USER_FILENAME, "exec")
        except SyntaxError as exc:
            return _syntax_info(exc), None
        except (ValueError, RecursionError, MemoryError) as exc:
            return _info(
                "SyntaxError", str(exc) or type(exc).__name__, None, "syntax", source
            ), None
        from_check = self.gate.from_refusal if self.gate.loaded else None
        try:
            violations = transform(tree, self.gate.refusal, from_check, self.guard_iteration)
        except RecursionError:
            return _info("SyntaxError", "code is nested too deeply", None, "syntax", source), None
        if violations:
            return _violation_info(violations, source), None
        try:
            with warnings.catch_warnings():
                # the methods' fast-path test compares type(self) with a marker constant
                warnings.filterwarnings("ignore", '"is" with a literal', SyntaxWarning)
                code = compile(tree, USER_FILENAME, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return _syntax_info(exc), None
        except (ValueError, RecursionError) as exc:
            return _info(
                "SyntaxError", str(exc) or type(exc).__name__, None, "syntax", source
            ), None
        return None, code

    def compile(self, source: str) -> CodeType:
        """A code object for ``exec`` (filename ``<user>``), or PolicyViolation."""
        info, code = self._compile(source)
        if info is not None:
            raise PolicyViolation(info)
        linecache.cache[USER_FILENAME] = (len(source), None, source.splitlines(True), USER_FILENAME)
        assert code is not None
        return code

    def check(self, source: str) -> dict[str, Any] | None:
        """The refusal ``compile`` would raise, as an ErrorInfo dict; None when it compiles."""
        info, _ = self._compile(source)
        return info

    def new_namespace(self) -> dict[str, Any]:
        """Fresh globals: curated builtins (with guards and the import gate), ``__main__``."""
        namespace: dict[str, Any] = {"__name__": "__main__", "__doc__": None}
        table = dict(self._builtins)
        table["dir"] = make_dir(namespace)
        namespace["__builtins__"] = table
        return namespace
