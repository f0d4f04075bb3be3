"""Replacements for standard-library functions that would run the policy's bypasses for it.

Each one reads or writes attributes named by the caller, or evaluates strings, inside library
code where no compiled guard runs: ``functools.update_wrapper(w, f, assigned=('__globals__',))``,
``operator.attrgetter('__globals__')``, ``dataclass`` (``exec`` of field names), ``Enum('E',
names)`` (arbitrary class attributes such as ``__array_interface__``) and ``typing.get_origin``
(the real ``type``). The evaluating functions behind them (``ForwardRef._evaluate``,
``dataclasses._process_class``...) are closed where they evaluate: see sinks.py.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing
from collections.abc import Callable
from typing import Any

from sandbox.restricted.guards import (
    PolicyError,
    exact_name,
    guarded_getattr,
    is_user_class,
    owned_by_code,
    public_class,
    register_user_class,
)
from sandbox.restricted.sinks import harden_sinks


def update_wrapper(
    wrapper: Any,
    wrapped: Any,
    assigned: tuple[str, ...] = functools.WRAPPER_ASSIGNMENTS,
    updated: tuple[str, ...] = functools.WRAPPER_UPDATES,
) -> Any:
    """functools.update_wrapper reads and writes attributes named by the caller: only the
    standard names, only onto functions and the user's own objects, public keys only."""
    if set(assigned) - set(functools.WRAPPER_ASSIGNMENTS) or set(updated) - {"__dict__"}:
        raise PolicyError("update_wrapper() only copies the standard attributes in the sandbox")
    if not owned_by_code(wrapper):
        # it writes the wrapped object's public attributes onto the wrapper's __dict__
        raise PolicyError(
            "update_wrapper() may only update functions and objects defined in this code"
        )
    for name in assigned:
        try:
            value = getattr(wrapped, name)
        except AttributeError:
            continue
        setattr(wrapper, name, value)
    if updated:
        source = getattr(wrapped, "__dict__", {})
        target = getattr(wrapper, "__dict__", None)
        if isinstance(source, dict) and isinstance(target, dict):
            target.update({k: v for k, v in source.items() if not str(k).startswith("_")})
    wrapper.__wrapped__ = wrapped
    return wrapper


def wraps(
    wrapped: Any,
    assigned: tuple[str, ...] = functools.WRAPPER_ASSIGNMENTS,
    updated: tuple[str, ...] = functools.WRAPPER_UPDATES,
) -> Callable[[Any], Any]:
    return functools.partial(update_wrapper, wrapped=wrapped, assigned=assigned, updated=updated)


def attrgetter(attr: str, *attrs: str) -> Callable[[Any], Any]:
    paths = [exact_name(a).split(".") for a in (attr, *attrs)]

    def resolve(obj: Any, path: list[str]) -> Any:
        for name in path:
            obj = guarded_getattr(obj, name)
        return obj

    if len(paths) == 1:
        return lambda obj: resolve(obj, paths[0])
    return lambda obj: tuple(resolve(obj, path) for path in paths)


def methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    name = exact_name(name)
    return lambda obj: guarded_getattr(obj, name)(*args, **kwargs)


def checked_dataclass(cls: Any = None, /, **options: Any) -> Any:
    """dataclass() writes field names into generated source it exec()s: names must be
    identifiers (a TypedDict or a hand-made annotations dict could say otherwise)."""

    def wrap(klass: Any) -> Any:
        if not is_user_class(klass):
            raise PolicyError("dataclass() applies only to classes defined in this code")
        annotations = type.__getattribute__(klass, "__dict__").get("__annotations__", {})
        for name in annotations:
            if not (isinstance(name, str) and name.isidentifier()) or name.startswith("__"):
                raise PolicyError(f"dataclass field name {name!r} is not allowed")
        result = dataclasses.dataclass(klass, **options)
        if result is not klass and is_user_class(klass):
            register_user_class(result)  # slots=True builds a new class
        match_args = type.__getattribute__(result, "__dict__").get("__match_args__")
        if isinstance(match_args, tuple) and any(str(n).startswith("_") for n in match_args):
            # class patterns read these natively on whatever passes isinstance()
            public = tuple(n for n in match_args if not str(n).startswith("_"))
            type.__setattr__(result, "__match_args__", public)
        return result

    return wrap if cls is None else wrap(cls)


def get_origin(tp: Any) -> Any:
    return public_class(typing.get_origin(tp))


def get_args(tp: Any) -> Any:
    return tuple(public_class(arg) for arg in typing.get_args(tp))


def _checked_enum_create(real: Callable[..., Any]) -> Callable[..., Any]:
    """Enum("X", names) sets each name as a class attribute: a name like
    ``__array_interface__`` would hand numpy a raw pointer. Members must be public names."""

    def _create_(cls: Any, class_name: str, names: Any, **kwargs: Any) -> Any:
        if isinstance(names, str):
            names = names.replace(",", " ").split()
        elif isinstance(names, dict):
            names = dict(names)
        elif names is not None:
            names = list(names)
        keys = names if isinstance(names, list | dict) else []
        for item in keys:
            key = item[0] if isinstance(item, tuple | list) and len(item) == 2 else item
            if not (isinstance(key, str) and key.isidentifier() and not key.startswith("_")):
                raise PolicyError(f"enum member name {key!r} is not allowed")
        return real(cls, class_name, names, **kwargs)

    return _create_


def _checked_enum_convert(real: Callable[..., Any]) -> Callable[..., Any]:
    """``EnumType._convert_(name, module, filter)`` reads ``sys.modules[module]``: on a user
    enum it would hand out the real ``builtins`` or ``os``. Library enums keep it."""

    def _convert_(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if is_user_class(cls):
            raise PolicyError("Enum._convert_ is not allowed in the sandbox")
        return real(cls, *args, **kwargs)

    return _convert_


def harden_process() -> None:
    """Process-wide changes for the worker (never needed host-side for check())."""
    harden_sinks()
    convert = enum.EnumType.__dict__["_convert_"]
    if not getattr(convert, "__sandbox_checked__", False):
        checked_convert = _checked_enum_convert(convert)
        checked_convert.__sandbox_checked__ = True
        enum.EnumType._convert_ = checked_convert
    create = enum.EnumType.__dict__["_create_"]
    if not getattr(create, "__sandbox_checked__", False):
        checked = _checked_enum_create(create)
        checked.__sandbox_checked__ = True
        enum.EnumType._create_ = checked
