"""Attribute writes: free on the code's own objects, allow-listed on library objects.

``obj.x = v``, ``del obj.x``, augmented assignment, ``setattr``, ``object.__setattr__``,
a descriptor's ``__set__`` all end in ``check_write``. Compiled code reaches it through
``_write_(obj, name)`` (native for ``self`` of the code's own classes, see transformer.py).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.restricted.classes import (
    _PURE_USER_CLASSES,
    _USER_CLASSES,
    BUILTIN_TYPES,
    _describe,
    _library_owned,
    _owner,
    new_handler,
    private_allowed,
    receiver,
    refuse_private,
)
from sandbox.restricted.errors import (
    _FROZEN,
    _PROXY_CLASSES,
    PolicyAttributeError,
    exact_name,
    is_dunder,
    refuse_attribute,
)

# Public names whose assignment goes through ``_write_`` even on the code's own objects (numpy's ``strides`` setter can make an
# array of object references misaligned or overlapping: corrupted pointers; an NpzFile's
# ``allow_pickle``/``pickle_kwargs`` turn ``z['a']`` into unpickling: arbitrary code).
GUARDED_STORE_NAMES = frozenset({"strides", "allow_pickle", "pickle_kwargs"})


_STORE_CHECKS: dict[str, Callable[[Any, str], None]] = {}


def register_store_check(name: str, check: Callable[[Any, str], None]) -> None:
    """Run ``check(obj, name)`` before code sets ``obj.<name>`` (see GUARDED_STORE_NAMES)."""
    if name not in GUARDED_STORE_NAMES:
        raise ValueError(f"{name!r} is not in GUARDED_STORE_NAMES")
    _STORE_CHECKS[name] = check


# Public attributes of library objects that real code sets: class -> names, or a check
# ``(obj, name) -> bool``. Applies to instances of the class and of its subclasses.
WriteRule = frozenset[str] | Callable[[Any, str], bool]
_WRITABLE: dict[type, WriteRule] = {}
_WRITE_CACHE: dict[tuple[type, str], bool] = {}


def register_writable(cls: type, rule: Iterable[str] | Callable[[Any, str], bool]) -> None:
    """Allow code to set the public attributes ``rule`` names on ``cls``'s instances (library
    classes: every other write to their objects is refused)."""
    _WRITABLE[cls] = rule if callable(rule) else frozenset(rule)
    _WRITE_CACHE.clear()


def _allow_listed(obj: Any, mro: tuple[type, ...], name: str) -> bool:
    for klass in mro:
        rule = _WRITABLE.get(klass)
        if rule is not None and (name in rule if isinstance(rule, frozenset) else rule(obj, name)):
            return True
    return False


def _is_data_descriptor(value: Any) -> bool:
    kind = type(value)
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__")


def _user_instance_writes(cls: type, mro: tuple[type, ...], name: str) -> bool | None:
    """For an object of a user class with library bases: True when a write only stores a value
    (as a class-body definition could), None when library code would handle it (a library
    ``__setattr__`` or data descriptor: the allow-list decides)."""
    key = (cls, name)
    known = _WRITE_CACHE.get(key)
    if known is not None:
        return known or None
    plain = True
    for hook in ("__setattr__", "__delattr__"):
        if _library_owned(mro, hook):
            plain = False
    owner = _owner(mro, name)
    if plain and _library_owned(mro, name):
        plain = not _is_data_descriptor(type.__getattribute__(owner, "__dict__")[name])
    _WRITE_CACHE[key] = plain
    return plain or None


def _user_function(obj: Any) -> bool:
    """A function defined by the code itself (it runs with the sandbox's builtins table)."""
    if type(obj) is not types.FunctionType:
        return False
    table = obj.__builtins__
    return type(table) is dict and table.get("_write_") is write_guard


def public_write_allowed(obj: Any, name: str) -> bool:
    """Whether code may set or delete the public attribute ``obj.<name>``.

    Allowed on the code's own objects (instances of its classes, its classes, its functions,
    exceptions it raised) and, on library objects, only for allow-listed attributes: a library
    object's public state can reach generated source (``dataclasses.Field.name``), file paths
    or raw memory.
    """
    cls = type(obj)
    if cls in _PURE_USER_CLASSES:
        return True
    mro = type.__getattribute__(cls, "__mro__")
    if cls in _USER_CLASSES:
        return bool(_user_instance_writes(cls, mro, name)) or _allow_listed(obj, mro, name)
    if isinstance(obj, type):
        return obj in _USER_CLASSES
    if cls in BUILTIN_TYPES and issubclass(cls, BaseException) or _user_function(obj):
        return True
    return _allow_listed(obj, mro, name)


def refuse_write(obj: Any, name: str) -> PolicyAttributeError:
    return PolicyAttributeError(
        f"assignment to attribute '{name}' of {_describe(obj)} is not allowed (library "
        "objects accept writes only to a few known-safe attributes; set attributes on objects "
        "of classes defined in this code)",
        name=name,
    )


def check_write(obj: Any, name: str) -> None:
    """Raise unless code may set or delete ``obj.<name>`` (``name`` is an exact str)."""
    if name[:1] != "_":
        if type(obj) in _PROXY_CLASSES or (isinstance(obj, type) and obj in _FROZEN):
            raise PolicyAttributeError(f"{_describe(obj)} of the sandbox is read-only")
        store_check = _STORE_CHECKS.get(name)
        if store_check is not None:
            store_check(obj, name)
        if not public_write_allowed(obj, name):
            raise refuse_write(obj, name)
        return
    if is_dunder(name):
        raise PolicyAttributeError(f"assignment to attribute '{name}' is not allowed", name=name)
    if not private_allowed(obj, name, writing=True):
        raise refuse_private(obj, name, writing=True)


def write_guard(obj: Any, name: str) -> Any:
    """``obj._name = v`` / ``del obj._name`` compile to ``_write_(obj, '_name')._name = v``."""
    if type(obj) in _PURE_USER_CLASSES:
        return obj
    check_write(obj, name)
    return obj


def guarded_setattr(obj: Any, name: str, value: Any, /) -> None:
    name = exact_name(name)
    check_write(obj, name)
    setattr(obj, name, value)


def guarded_delattr(obj: Any, name: str, /) -> None:
    name = exact_name(name)
    check_write(obj, name)
    delattr(obj, name)


def owned_by_code(obj: Any) -> bool:
    """An object of the code's own: an instance of its classes, one of its classes or functions."""
    cls = type(obj)
    if cls in _USER_CLASSES:
        return True
    return (isinstance(obj, type) and obj in _USER_CLASSES) or _user_function(obj)


# --------------------------------------------------------------------------- dunder reads that write


def init_handler(obj: Any, name: str) -> Any:
    """``obj.__init__``: re-running a library ``__init__`` rewrites a live library object's
    state (a ``dataclasses.Field`` other code trusts), like attribute writes do. Allowed on the
    code's own objects, through ``super()`` from them, and as ``Base.__init__(self, ...)``."""
    value = new_handler(obj, name)
    target = receiver(obj)
    if owned_by_code(target) or (isinstance(obj, type) and obj in _USER_CLASSES):
        return value
    if type(target) in BUILTIN_TYPES and not isinstance(target, type):
        return value  # a list, dict or exception: plain data
    if isinstance(obj, type):  # Library.__init__: only onto the code's own objects

        def init(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            if type(self) not in _USER_CLASSES and type(self) not in BUILTIN_TYPES:
                raise PolicyAttributeError(
                    f"re-initialising {_describe(self)} is not allowed (library objects are "
                    "built by calling their class)",
                    name=name,
                )
            return value(self, *args, **kwargs)

        return init
    if isinstance(target, type):  # type.__init__ of a class: only classes of the code's own
        raise refuse_attribute(name, f"re-initialising {_describe(target)}")
    raise PolicyAttributeError(
        f"re-initialising {_describe(target)} is not allowed (library objects are built by "
        "calling their class)",
        name=name,
    )


def descriptor_write_handler(obj: Any, name: str) -> Any:
    """``Lib.attr.__set__(o, v)`` / ``__delete__``: a library descriptor's setter called
    directly is a write to ``o.attr`` and gets the same check."""
    method = getattr(obj, name)
    target = receiver(obj)
    if owned_by_code(target) or type(target) in _PURE_USER_CLASSES:
        return method
    fget = getattr(target, "fget", None) or getattr(target, "fset", None)
    attr = getattr(target, "__name__", None) or getattr(fget, "__name__", None)
    if type(attr) is not str:
        raise refuse_attribute(name, "a library descriptor without a name")

    def checked(instance: Any, *value: Any) -> Any:
        check_write(instance, attr)
        return method(instance, *value)

    return checked


def setattr_handler(obj: Any, name: str) -> Any:
    """``object.__setattr__``/``super().__setattr__`` come back checked like ``setattr``."""
    method = getattr(obj, name)
    if isinstance(method, types.MethodWrapperType | types.MethodType):
        target = method.__self__

        def checked_bound(attr: str, *value: Any) -> Any:
            attr = exact_name(attr)
            check_write(target, attr)
            return method(attr, *value)

        return checked_bound

    def checked(target: Any, attr: str, *value: Any) -> Any:
        attr = exact_name(attr)
        check_write(target, attr)
        return method(target, attr, *value)

    return checked
