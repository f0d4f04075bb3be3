"""Whose objects are whose: the code's own classes, and the stand-ins for library classes.

``__build_class__`` records every class the code's ``class`` statements make; a class whose
every base is the code's own or a builtin type is "pure" (its objects are entirely the
code's). Private names are allowed on the code's objects only (library-owned private names of
impure classes stay refused). Stand-ins are what ``type(x)``/``x.__class__`` answer for real
classes user code must never call (numpy constructors over raw memory, metaclasses).
"""

from __future__ import annotations

import builtins
import enum
import types
from collections.abc import Callable
from typing import Any

from sandbox.restricted.errors import (
    _PROXY_CLASSES,
    OWN_CLASS_MARKER,
    FrozenMeta,
    PolicyAttributeError,
    PolicyError,
    freeze,
    words,
)

# Private names that belong to documented library protocols, readable wherever they apply.
NAMEDTUPLE_NAMES = frozenset({"_asdict", "_replace", "_make", "_fields", "_field_defaults"})
ENUM_NAMES = frozenset(
    words(
        "_value_ _name_ _missing_ _generate_next_value_ _ignore_ _order_ _numeric_repr_ "
        "_member_names_ _member_map_ _value2member_map_"
    )
)


# --------------------------------------------------------------------------- user classes

BUILTIN_TYPES = frozenset(v for v in vars(builtins).values() if isinstance(v, type))
# Builtin types a user class may derive from and still count as the user's own. ``super`` is
# not one: its instances forward every lookup to another object, whose rules must apply.
VOUCHED_BASES = BUILTIN_TYPES - {super}
_USER_CLASSES: set[type] = set()
# Every base a user class or a builtin type. A dict for its read-only live ``keys()`` view,
# which compiled code tests membership in (``_pureview_``) without being able to change it.
_PURE_USER_CLASSES: dict[type, None] = {}
PURE_CLASSES_VIEW = _PURE_USER_CLASSES.keys()
_USER_WRITTEN: dict[type, set[str]] = {}  # impure classes: private names user code wrote


def register_user_class(cls: type) -> None:
    """Mark ``cls`` (made by the user's ``class`` statement) as the user's own."""
    _USER_CLASSES.add(cls)
    if all(k in _USER_CLASSES or k in VOUCHED_BASES for k in type.__getattribute__(cls, "__mro__")):
        _PURE_USER_CLASSES[cls] = None
        _bind_own_class(cls)


def _bind_own_class(cls: type) -> None:
    """Give the methods defined in a pure class's body their class: their fast-path test
    ``type(self) is <marker>`` becomes ``type(self) is cls``, one C-level identity test per call
    for the common case. Methods not found here (hidden in a decorator's closure, or defined
    in an impure class) keep the marker, never equal to a type: they take the general test."""
    for value in list(type.__getattribute__(cls, "__dict__").values()):
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        functions = (
            (value.fget, value.fset, value.fdel) if isinstance(value, property) else (value,)
        )
        for function in functions:
            if type(function) is not types.FunctionType:
                continue
            code = function.__code__
            if OWN_CLASS_MARKER in code.co_consts:
                consts = tuple(cls if c == OWN_CLASS_MARKER else c for c in code.co_consts)
                function.__code__ = code.replace(co_consts=consts)


def is_user_class(cls: object) -> bool:
    return isinstance(cls, type) and cls in _USER_CLASSES


def is_user_instance(obj: object) -> bool:
    return type(obj) in _PURE_USER_CLASSES


def _owner(mro: tuple[type, ...], name: str) -> type | None:
    for klass in mro:
        if name in type.__getattribute__(klass, "__dict__"):
            return klass
    return None


def _library_owned(mro: tuple[type, ...], name: str) -> bool:
    owner = _owner(mro, name)
    return owner is not None and owner not in _USER_CLASSES and owner not in BUILTIN_TYPES


def _impure_allows(obj: Any, cls: type, mro: tuple[type, ...], name: str, writing: bool) -> bool:
    """A user class with library bases: the library's own private names stay refused.

    On a class receiver, ``getattr`` also finds the metaclass's methods (``EnumType._convert_``,
    ``ABCMeta._abc_registry_clear``): a name the metaclass answers is the library's too.
    """
    owner = _owner(mro, name)
    if owner is not None:
        return owner in _USER_CLASSES or owner in BUILTIN_TYPES
    if obj is None:
        meta_mro = type.__getattribute__(type(cls), "__mro__")
        if _library_owned(meta_mro, name) or _library_owned(meta_mro, "__getattr__"):
            return False
    written = _USER_WRITTEN.setdefault(cls, set())
    if name in written:
        return True
    try:
        instance_dict = object.__getattribute__(obj, "__dict__") if obj is not None else {}
    except AttributeError:
        instance_dict = {}
    if name in instance_dict:
        return False  # set by library code, not by the user
    if writing:
        written.add(name)
        return True
    # Missing everywhere: a library ``__getattr__`` or ``__getattribute__`` could still answer.
    if obj is None:
        return True
    return not (_library_owned(mro, "__getattr__") or _library_owned(mro, "__getattribute__"))


def private_allowed(obj: Any, name: str, writing: bool = False) -> bool:
    cls = type(obj)
    if cls in _PURE_USER_CLASSES:
        return True
    if cls in _USER_CLASSES:
        if _impure_allows(obj, cls, type.__getattribute__(cls, "__mro__"), name, writing):
            return True
        return not writing and name in ENUM_NAMES and isinstance(obj, enum.Enum)
    if isinstance(obj, type):
        if obj in _PURE_USER_CLASSES:
            return True
        if obj in _USER_CLASSES:
            mro = type.__getattribute__(obj, "__mro__")
            if _impure_allows(None, obj, mro, name, writing):
                return True
            return not writing and name in ENUM_NAMES and issubclass(obj, enum.Enum)
    if isinstance(obj, super):
        owner = obj.__self_class__
        if owner in _PURE_USER_CLASSES:
            return True
        if owner in _USER_CLASSES and not writing:
            mro = type.__getattribute__(owner, "__mro__")
            return _impure_allows(None, owner, mro[mro.index(obj.__thisclass__) + 1 :], name, False)
        return False
    if writing:
        return False
    if name in ENUM_NAMES:  # re.I._name_, Color._member_map_ of library enums: read-only
        return isinstance(obj, enum.Enum) or (isinstance(obj, type) and issubclass(obj, enum.Enum))
    return name in NAMEDTUPLE_NAMES and (
        isinstance(obj, tuple) or (isinstance(obj, type) and issubclass(obj, tuple))
    )


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class '{obj.__qualname__}'"
    if type(obj) in _PROXY_CLASSES:
        return f"module '{object.__getattribute__(obj, '_proxy_name')}'"
    return f"'{type(obj).__name__}' object"


def refuse_private(obj: Any, name: str, writing: bool = False) -> PolicyAttributeError:
    action = "assignment to" if writing else "access to"
    return PolicyAttributeError(
        f"{action} attribute '{name}' is not allowed (private attribute of {_describe(obj)}; "
        "only objects of classes defined in this code expose names starting with '_')",
        name=name,
    )


# --------------------------------------------------------------------------- stand-ins

# Real classes user code must never call directly (numpy constructors over raw memory), and
# metaclasses (dynamic class creation): ``type(x)`` and ``x.__class__`` answer with stand-ins.
_CLASS_STANDINS: dict[type, Any] = {}
# Map a real ``__new__`` (or ``__init__``: re-initialising a library object) to a validating one.
_NEW_GUARDS: list[Callable[[Any], Any]] = []


def register_class_standin(real: type, standin: Any) -> None:
    _CLASS_STANDINS[real] = standin


def register_new_guard(guard: Callable[[Any], Any]) -> None:
    _NEW_GUARDS.append(guard)


def public_class(cls: Any) -> Any:
    """What user code sees for the class ``cls``."""
    standin = _CLASS_STANDINS.get(cls) if isinstance(cls, type) else None
    if standin is not None:
        return standin
    if isinstance(cls, type) and issubclass(cls, type):
        return SafeType
    return cls


class _TypeMeta(FrozenMeta):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is not SafeType:
            return super().__call__(*args, **kwargs)
        if len(args) != 1 or kwargs:
            raise PolicyError(
                "type() with three arguments (dynamic class creation) is not allowed; "
                "use a class statement"
            )
        return public_class(type(args[0]))

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, type) if cls is SafeType else type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub: Any) -> bool:
        return issubclass(sub, type) if cls is SafeType else type.__subclasscheck__(cls, sub)

    def __repr__(cls) -> str:
        return "<class 'type'>" if cls is SafeType else type.__repr__(cls)


class SafeType(metaclass=_TypeMeta):
    """type(object) -> the object's type. The three-argument form is refused."""


type.__setattr__(SafeType, "__name__", "type")
type.__setattr__(SafeType, "__qualname__", "type")
type.__setattr__(SafeType, "__module__", "builtins")
freeze(SafeType)


def receiver(obj: Any) -> Any:
    """The object whose rules apply: ``super()`` proxies stand for their instance."""
    return obj.__self__ if isinstance(obj, super) else obj


def new_handler(obj: Any, name: str) -> Any:
    value = getattr(obj, name)
    for guard in _NEW_GUARDS:
        value = guard(value)
    return value
