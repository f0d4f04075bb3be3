"""Allowed modules, handed to user code as immutable proxies with an attribute allow-list.

A module allow-list alone is not enough: ``statistics.sys``, ``random._os``, ``typing.
get_type_hints`` or ``matplotlib.Path`` lead straight back to the host. Each proxy therefore
holds only what passes, for every public attribute of the real module:

* modules only if they are allowed themselves (then as their proxy), never implicitly;
* classes (no metaclasses: they create classes from arbitrary dicts), functions and other
  objects whose origin is an allowed package (``pathlib.Path`` re-exported by matplotlib is not),
  builtins only from the curated set;
* data (numbers, strings, containers of allowed things), minus per-module deny-lists, with
  replacements for functions that evaluate strings, fetch attributes or touch files.

Proxies are built once in the fork-server parent (``ImportGate.load_all``) so that forked
children never import anything.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import pkgutil
import sys
import types
from typing import Any

from sandbox.restricted.guards import (
    BUILTIN_TYPES,
    FrozenMeta,
    PolicyError,
    PolicyImportError,
    exact_name,
    freeze,
    register_proxy_class,
)
from sandbox.restricted.module_lists import (
    DEFAULT_ALLOWED_IMPORTS,
    DEFAULT_SUBMODULES,
    DENIED,
    FORCED,
    ONLY,
    ORIGIN_ALIASES,
    REPLACEMENTS,
    ROOT_DENIED,
)
from sandbox.restricted.safe_builtins import SAFE_BUILTIN_NAMES
from sandbox.restricted.writable import register_library_writes

__all__ = ["DEFAULT_ALLOWED_IMPORTS", "ImportGate", "ModuleProxy"]

# --------------------------------------------------------------------------- proxies


class ModuleProxy(metaclass=FrozenMeta):
    """An allowed module as user code sees it: a read-only bag of allowed attributes.

    Plain instance attributes keep ``np.sqrt``-style loads as fast as on a real module.
    ``__name__`` is deliberately absent (guards serve it), so ``from numpy import lib`` cannot
    fall back to ``sys.modules['numpy.lib']``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        raise PolicyError(f"module '{object.__getattribute__(self, '_proxy_name')}' is read-only")

    def __delattr__(self, name: str) -> None:
        raise PolicyError(f"module '{object.__getattribute__(self, '_proxy_name')}' is read-only")

    def __repr__(self) -> str:
        return f"<module '{object.__getattribute__(self, '_proxy_name')}' (sandboxed)>"

    def __getattr__(self, name: str) -> Any:
        """Only for names the proxy lacks: a refused submodule fails like its import (an
        ImportError of kind "import", also from ``hasattr``), not as a missing attribute."""
        proxy_name = object.__getattribute__(self, "_proxy_name")
        refusal = object.__getattribute__(self, "_submodule_refusals").get(name)
        if refusal is not None:
            raise PolicyImportError(refusal, name=f"{proxy_name}.{name}")
        raise AttributeError(f"module '{proxy_name}' has no attribute '{name}'", name=name)


type.__setattr__(ModuleProxy, "__name__", "module")
type.__setattr__(ModuleProxy, "__qualname__", "module")
register_proxy_class(freeze(ModuleProxy))
_SAFE_BUILTIN_FUNCTIONS = frozenset(
    id(getattr(builtins, name)) for name in SAFE_BUILTIN_NAMES if callable(getattr(builtins, name))
)
_SCALARS = (int, float, complex, str, bytes, bool, type(None), type(Ellipsis))


def _origin(value: Any) -> str | None:
    if isinstance(value, types.BuiltinFunctionType):
        owner = value.__self__
        if isinstance(owner, types.ModuleType):
            return owner.__name__
        if owner is not None:
            return _origin(owner if isinstance(owner, type) else type(owner))
    module = getattr(value, "__module__", None) if callable(value) else None
    if not isinstance(module, str):
        module = type(value).__module__ if not isinstance(value, type) else None
    return module


def _submodules(module: types.ModuleType) -> set[str]:
    """Leaf names of ``module``'s submodules: imported ones and, for packages, those on disk."""
    prefix = module.__name__ + "."
    found = {n[len(prefix) :] for n in list(sys.modules) if n.startswith(prefix)}
    found = {leaf for leaf in found if "." not in leaf}
    path = getattr(module, "__path__", None)
    if path is not None:
        found.update(info.name for info in pkgutil.iter_modules(path))
    return {leaf for leaf in found if not leaf.startswith("_")}


def _parent(name: str) -> str | None:
    """The nearest enclosing package named in ``name`` (None for a top-level name)."""
    return name.rpartition(".")[0] or None


def _root(module: str | None) -> str | None:
    if module is None:
        return None
    return ORIGIN_ALIASES.get(module, module).split(".")[0]


class ImportGate:
    """The namespace's ``__import__``: allowed modules only, as proxies."""

    def __init__(self, allowed_imports: tuple[str, ...] | list[str]) -> None:
        tops = {name.split(".")[0] for name in allowed_imports}
        allowed = set(allowed_imports)
        for name in allowed_imports:
            allowed.update(DEFAULT_SUBMODULES.get(name, ()))
        self.allowed = frozenset(allowed)
        self.allowed_roots = frozenset(tops)
        self.proxies: dict[str, ModuleProxy] = {}
        self.unavailable: dict[str, str] = {}
        self._denied_ids: set[int] = set()
        self._replacement_ids: dict[int, Any] = {}
        self.loaded = False

    # ------------------------------------------------------------------ building

    def wanted_modules(self) -> list[str]:
        """Every module ``load_all`` imports, parents first (they carry their allowed
        submodules as attributes)."""
        wanted = set(self.allowed)
        for name in self.allowed:
            parts = name.split(".")
            wanted.update(".".join(parts[:i]) for i in range(1, len(parts)))
        return sorted(wanted, key=lambda n: (n.count("."), n))

    def load_all(self) -> None:
        """Import every allowed module and build its proxy (in the fork-server parent)."""
        if self.loaded:
            return
        if "matplotlib" in self.allowed_roots:
            try:
                import matplotlib

                matplotlib.use("Agg", force=True)
            except ImportError:
                pass
        modules: dict[str, types.ModuleType] = {}
        for name in self.wanted_modules():
            try:
                modules[name] = importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - a broken optional package must not stop us
                self.unavailable[name] = f"{type(exc).__name__}: {exc}"
        for name, module in modules.items():
            if name not in self.allowed:
                continue
            for attr, value in REPLACEMENTS.get(name, dict)().items():
                real = getattr(module, attr, None)
                if real is not None:
                    self._replacement_ids[id(real)] = value
            for attr in DENIED.get(name, ()):
                value = getattr(module, attr, None)
                if value is not None and not isinstance(value, _SCALARS):
                    self._denied_ids.add(id(value))
        self._keep_alive = list(modules.values())
        register_library_writes()
        for name in modules:
            proxy = ModuleProxy()
            object.__setattr__(proxy, "_proxy_name", name)
            self.proxies[name] = proxy
        for name, module in modules.items():
            proxy = self.proxies[name]
            vars(proxy).update(self._contents(name, module))
            refusals = {leaf: self.refusal(f"{name}.{leaf}") for leaf in _submodules(module)}
            refusals = {
                leaf: why for leaf, why in refusals.items() if why and leaf not in vars(proxy)
            }
            object.__setattr__(proxy, "_submodule_refusals", refusals)
        self.loaded = True

    def _contents(self, name: str, module: types.ModuleType) -> dict[str, Any]:
        contents: dict[str, Any] = {}
        for sub_name in self.proxies:  # allowed submodules, imported or not by the parent
            parent, _, leaf = sub_name.rpartition(".")
            if parent == name and sub_name in self.allowed:
                contents[leaf] = self.proxies[sub_name]
        if name not in self.allowed:
            return contents
        denied = DENIED.get(name, frozenset()) | ROOT_DENIED.get(name.split(".")[0], frozenset())
        forced = FORCED.get(name, frozenset())
        only = ONLY.get(name)
        for attr, value in vars(module).items():
            if attr.startswith("_") or attr in denied or attr in contents:
                continue
            if only is not None and attr not in only:
                continue
            if isinstance(value, types.ModuleType):
                if value.__name__ in self.allowed and value.__name__ in self.proxies:
                    contents[attr] = self.proxies[value.__name__]
            elif id(value) in self._replacement_ids:
                contents[attr] = self._replacement_ids[id(value)]
            elif id(value) in self._denied_ids:
                continue
            elif attr in forced or self._acceptable(value):
                contents[attr] = value
        for attr in ("__version__", "__doc__"):
            if isinstance(getattr(module, attr, None), str):
                contents[attr] = getattr(module, attr)
        return contents

    def _origin_allowed(self, value: Any) -> bool:
        root = _root(_origin(value))
        return root in self.allowed_roots or root == "builtins"

    def _acceptable(self, value: Any, depth: int = 0) -> bool:
        if isinstance(value, type):
            if issubclass(value, type):
                return False  # metaclasses create classes from arbitrary dicts
            if value.__module__ == "builtins":
                return value in BUILTIN_TYPES
            return self._origin_allowed(value)
        if isinstance(value, _SCALARS):
            return type(value) in BUILTIN_TYPES or self._origin_allowed(value)
        if isinstance(value, tuple | list | set | frozenset | dict):
            if depth > 2 or len(value) > 500:
                return False
            items = list(value.items()) if isinstance(value, dict) else [(v,) for v in value]
            return all(self._acceptable(part, depth + 1) for item in items for part in item)
        if isinstance(value, types.BuiltinFunctionType) and _origin(value) == "builtins":
            return id(value) in _SAFE_BUILTIN_FUNCTIONS
        if isinstance(value, functools.partial):
            return self._acceptable(value.func, depth + 1)
        if not self._origin_allowed(value) or _origin(value) == "builtins":
            return False
        instance_dict = getattr(value, "__dict__", None)
        if isinstance(instance_dict, dict) and not callable(value):
            return not any(isinstance(v, types.ModuleType) for v in instance_dict.values())
        return True

    # ------------------------------------------------------------------ importing

    def refusal(self, name: str) -> str | None:
        """Why ``import name`` fails, or None when it is allowed."""
        if name in self.allowed:
            if name in self.unavailable:
                return f"module '{name}' is allowed but cannot be imported here"
            return None
        listed = ", ".join(sorted(n for n in self.allowed if _parent(n) not in self.allowed))
        message = f"import of '{name}' is not allowed; allowed modules: {listed}"
        top = name.split(".")[0]
        subs = sorted(n for n in self.allowed if n.startswith(top + "."))
        if top in self.allowed and subs:
            message += f" (from {top}: {', '.join(subs)})"
        return message

    def from_refusal(self, module: str, name: str) -> str | None:
        """Why ``from module import name`` fails (only known once proxies are built)."""
        proxy = self.proxies.get(module)
        if proxy is None or name in vars(proxy):
            return None
        submodule = object.__getattribute__(proxy, "_submodule_refusals").get(name)
        if submodule is not None:
            return submodule
        return f"cannot import name '{name}' from '{module}' (not available in the sandbox)"

    def __call__(
        self,
        name: str,
        globals: Any = None,  # noqa: A002 - __import__'s signature
        locals: Any = None,  # noqa: A002
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if type(fromlist) is list:
            # PyImport_Import: a C extension (numpy's lazy imports, datetime.strptime) importing
            # for itself while a user frame is current. Import statements pass None or a tuple,
            # and user code has no other way to call this object.
            return _real_import(name, globals, locals, fromlist, level)
        name = exact_name(name)
        if level:
            raise PolicyImportError("relative imports are not allowed", name=name)
        if name == "__future__":
            return _FUTURE
        message = self.refusal(name)
        if message is not None:
            raise PolicyImportError(message, name=name)
        self.load_all()
        if not fromlist:
            return self.proxies[name.split(".")[0]]
        proxy = self.proxies[name]
        for item in fromlist:
            item = exact_name(item)
            message = self.from_refusal(name, item)
            if item != "*" and message is not None:
                raise PolicyImportError(message, name=name)
        return proxy


_real_import = builtins.__import__
_FUTURE = ModuleProxy()
object.__setattr__(_FUTURE, "_proxy_name", "__future__")
object.__setattr__(_FUTURE, "_submodule_refusals", {})
vars(_FUTURE).update(
    {
        name: getattr(__import__("__future__"), name)
        for name in __import__("__future__").all_feature_names
    }
)
