"""Runtime guards of the restricted policy: what user code can reach through attributes.

Speed decides the shape. Attribute loads of ordinary public names compile to native
``LOAD_ATTR`` (see transformer.py); only three kinds of names reach the functions here:

* names starting with ``_``: private ones are allowed on objects of classes the user's own
  ``class`` statements created (tracked by hooking ``__build_class__``), refused elsewhere,
  so ``random._os`` or a library object's internals stay out of reach;
* dunders: only a small read allow-list (``__class__``, ``__name__``, ``__init__``, operator
  protocols...), with ``__class__``/``__new__``/``__setattr__`` answers that cannot be turned
  into dynamic class creation, raw numpy construction or unguarded writes;
* a deny-list of public names that walk frames and code (``gi_frame``, ``tb_frame``,
  ``f_globals``, ``co_*``), evaluate templates (``format``), or open doors in libraries
  (``ctypes``, ``tofile``, ``savefig``...), each with a handler deciding per receiver.

Security decisions never trust mutable metadata (``__module__``, ``__name__``) nor methods the
user could override: only ``type()``, identity and set membership of real classes.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from sandbox.restricted.classes import (
    _PURE_USER_CLASSES,
    _USER_CLASSES,
    BUILTIN_TYPES,
    ENUM_NAMES,
    NAMEDTUPLE_NAMES,
    PURE_CLASSES_VIEW,
    VOUCHED_BASES,
    SafeType,
    is_user_class,
    is_user_instance,
    new_handler,
    private_allowed,
    public_class,
    receiver,
    refuse_private,
    register_class_standin,
    register_new_guard,
    register_user_class,
)
from sandbox.restricted.errors import (
    _PROXY_CLASSES,
    FrozenMeta,
    PolicyAttributeError,
    PolicyError,
    PolicyImportError,
    PolicyPathError,
    exact_name,
    freeze,
    is_dunder,
    refuse_attribute,
    register_proxy_class,
    words,
)
from sandbox.restricted.writes import (
    GUARDED_STORE_NAMES,
    check_write,
    descriptor_write_handler,
    guarded_delattr,
    guarded_setattr,
    init_handler,
    owned_by_code,
    public_write_allowed,
    register_store_check,
    register_writable,
    setattr_handler,
    write_guard,
)

__all__ = [
    "BUILTIN_TYPES",
    "ENUM_NAMES",
    "FRAME_WALKERS",
    "GUARDED_PREFIXES",
    "GUARDED_PUBLIC_NAMES",
    "GUARDED_STORE_NAMES",
    "NAMEDTUPLE_NAMES",
    "PURE_CLASSES_VIEW",
    "READABLE_DUNDERS",
    "VOUCHED_BASES",
    "FrozenMeta",
    "PolicyAttributeError",
    "PolicyError",
    "PolicyImportError",
    "PolicyPathError",
    "SafeType",
    "check_write",
    "exact_name",
    "freeze",
    "guarded_delattr",
    "guarded_getattr",
    "guarded_hasattr",
    "guarded_setattr",
    "is_dunder",
    "is_user_class",
    "is_user_instance",
    "owned_by_code",
    "private_allowed",
    "private_getattr",
    "public_class",
    "public_write_allowed",
    "receiver",
    "refuse_attribute",
    "refuse_private",
    "register_class_standin",
    "register_new_guard",
    "register_proxy_class",
    "register_public_handler",
    "register_store_check",
    "register_user_class",
    "register_writable",
    "user_hierarchy",
    "words",
    "write_guard",
]

# --------------------------------------------------------------------------- names


# Dunders code may read. Everything else with two leading and trailing underscores is refused.
_OPERATORS = words("add sub mul matmul truediv floordiv mod divmod pow lshift rshift and xor or")
READABLE_DUNDERS = frozenset(
    words(
        "__name__ __qualname__ __doc__ __module__ __class__ __init__ __new__ __version__ "
        "__members__ __cause__ __context__ __suppress_context__ __notes__ __match_args__ "
        "__slots__ __setattr__ __delattr__ __repr__ __str__ __format__ __bytes__ __hash__ "
        "__bool__ __len__ __length_hint__ __iter__ __next__ __reversed__ __contains__ "
        "__getitem__ __setitem__ __delitem__ __missing__ __call__ __enter__ __exit__ __eq__ "
        "__ne__ __lt__ __le__ __gt__ __ge__ __neg__ __pos__ __abs__ __invert__ __complex__ "
        "__int__ __float__ __index__ __round__ __trunc__ __floor__ __ceil__ __copy__ "
        "__deepcopy__ __post_init__ __sizeof__ __get__ __set__ __delete__ __mro__"
    )
    + [f"__{prefix}{op}__" for op in _OPERATORS for prefix in ("", "r", "i")]
)

# Public names that walk frames, tracebacks, generators and closures: refused on any object.
FRAME_WALKERS = frozenset(
    words(
        "gi_frame gi_code gi_yieldfrom cr_frame cr_code cr_await cr_origin ag_frame ag_code "
        "ag_await tb_frame tb_next f_back f_globals f_locals f_builtins f_code f_trace "
        "f_generator cell_contents"
    )
)
# Public names whose loads always go through ``guarded_getattr`` (see the handlers below and
# in doors.py). The transformer reads these to decide what stays native.
GUARDED_PUBLIC_NAMES = FRAME_WALKERS | frozenset(
    words(
        "mro format format_map ctypes cffi capsule cast tofile dump dumps zip fid savefig "
        "imsave imread write_png obj strides resize baseclass"
    )
)
# ``func_*``/``im_*``: Cython functions (numpy.random) keep Python 2's ``func_globals``,
# ``func_code``... as public aliases of their dunders.
GUARDED_PREFIXES = ("co_", "print_", "func_", "im_")


# --------------------------------------------------------------------------- getattr

Handler = Callable[[Any, str], Any]
_PUBLIC_HANDLERS: dict[str, Handler] = {}
_PREFIX_HANDLERS: dict[str, Handler] = {}


def register_public_handler(name: str, handler: Handler) -> None:
    """Decide what ``obj.<name>`` gives for a guarded public name (see GUARDED_PUBLIC_NAMES)."""
    if name.endswith("_") and name in GUARDED_PREFIXES:
        _PREFIX_HANDLERS[name] = handler
    elif name in GUARDED_PUBLIC_NAMES:
        _PUBLIC_HANDLERS[name] = handler
    else:
        raise ValueError(f"{name!r} is not a guarded public name; add it to GUARDED_PUBLIC_NAMES")


def _refuse_always(obj: Any, name: str) -> Any:
    raise refuse_attribute(name, "frames, code and closures are out of reach")


def _refuse_on_code(obj: Any, name: str) -> Any:
    if isinstance(receiver(obj), types.CodeType):
        raise refuse_attribute(name, "code objects are out of reach")
    return getattr(obj, name)


def user_hierarchy(cls: type) -> tuple[Any, ...]:
    """A user class's MRO as code may see it: real classes behind stand-ins (numpy's raw
    constructors) and metaclasses replaced by what ``type()`` answers for them."""
    seen: list[Any] = []
    for klass in type.__getattribute__(cls, "__mro__"):
        public = public_class(klass)
        if public not in seen:
            seen.append(public)
    return tuple(seen)


_HIERARCHY_REFUSAL = (
    "the hierarchy of a library class is out of reach; mro() and __mro__ are readable on "
    "classes defined in this code"
)


def _mro_handler(obj: Any, name: str) -> Any:
    if isinstance(obj, type) and obj in _USER_CLASSES:
        hierarchy = user_hierarchy(obj)
        if name == "__mro__":
            return hierarchy

        def mro() -> list[Any]:
            """Return the class's method resolution order (as the sandbox shows it)."""
            return list(hierarchy)

        return mro
    if isinstance(obj, type | super):
        raise refuse_attribute(name, _HIERARCHY_REFUSAL)
    value = getattr(obj, name)
    # typing.Type forwards public names to the real ``type``: ``typing.Type.mro(cls)``
    if getattr(value, "__objclass__", None) is type or isinstance(
        getattr(value, "__self__", None), type
    ):
        raise refuse_attribute(name, _HIERARCHY_REFUSAL)
    return value


def _user_only(obj: Any, name: str) -> Any:
    if type(obj) in _PURE_USER_CLASSES:
        return getattr(obj, name)
    raise refuse_attribute(name, "raw memory interfaces are out of reach")


_PLAIN_VALUES = (int, float, complex, str, bytes, bool, type(None))


def _exception_obj(obj: Any, name: str) -> Any:
    """``AttributeError.obj`` is whatever a failed lookup ran on, e.g. a real module when a
    library's own ``getattr(module, x)`` fails: only plain values and the user's objects."""
    target = receiver(obj)
    if isinstance(target, type) and issubclass(target, BaseException):
        raise refuse_attribute(name, "the descriptor behind exceptions' 'obj'")
    value = getattr(obj, name)
    if not isinstance(target, BaseException):
        return value
    if isinstance(value, _PLAIN_VALUES) or type(value) in _PURE_USER_CLASSES:
        return value
    if isinstance(value, type) and value in _PURE_USER_CLASSES:
        return value
    raise refuse_attribute(name, "the object of an exception raised inside a library")


def _function_internals(obj: Any, name: str) -> Any:
    if type(obj) in _PURE_USER_CLASSES:
        return getattr(obj, name)
    raise refuse_attribute(name, "function internals are out of reach")


def _check_cast(view: Any) -> None:
    if isinstance(view, memoryview) and "O" in view.format:
        raise refuse_attribute("cast", "casting a view of object references is not allowed")


def _memoryview_cast(obj: Any, name: str) -> Any:
    target = receiver(obj)
    method = getattr(obj, name)
    if isinstance(target, type) and issubclass(target, memoryview):  # memoryview.cast(view, f)

        def cast(view: Any, *args: Any, **kwargs: Any) -> Any:
            _check_cast(view)
            return method(view, *args, **kwargs)

        return cast
    _check_cast(target)
    return method


for _name in FRAME_WALKERS:
    _PUBLIC_HANDLERS[_name] = _refuse_always
_PUBLIC_HANDLERS.update(mro=_mro_handler, cast=_memoryview_cast, obj=_exception_obj)
_PUBLIC_HANDLERS.update(dict.fromkeys(("ctypes", "cffi", "capsule"), _user_only))
_PREFIX_HANDLERS.update(co_=_refuse_on_code, func_=_function_internals, im_=_function_internals)


def _class_handler(obj: Any, name: str) -> Any:
    return public_class(getattr(obj, name))


def _name_handler(obj: Any, name: str) -> Any:
    if type(obj) in _PROXY_CLASSES:
        return object.__getattribute__(obj, "_proxy_name")
    return getattr(obj, name)


_DUNDER_HANDLERS: dict[str, Handler] = {
    "__class__": _class_handler,
    "__new__": new_handler,
    "__init__": init_handler,
    "__set__": descriptor_write_handler,
    "__delete__": descriptor_write_handler,
    "__setattr__": setattr_handler,
    "__delattr__": setattr_handler,
    "__name__": _name_handler,
    "__mro__": lambda obj, name: _mro_handler(obj, name),
}


def _lookup(obj: Any, name: str) -> Any:
    if name[:1] != "_":
        handler = _PUBLIC_HANDLERS.get(name)
        if handler is None:
            if not name.startswith(GUARDED_PREFIXES):
                return getattr(obj, name)
            handler = _PREFIX_HANDLERS.get(name[: name.index("_") + 1])
            if handler is None:
                return getattr(obj, name)
        return handler(obj, name)
    if is_dunder(name):
        if name not in READABLE_DUNDERS:
            raise refuse_attribute(name)
        handler = _DUNDER_HANDLERS.get(name)
        return handler(obj, name) if handler is not None else getattr(obj, name)
    if private_allowed(obj, name):
        return getattr(obj, name)
    raise refuse_private(obj, name)


_MISSING = object()


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING, /) -> Any:
    """``getattr`` under the policy; compiled code uses it for every guarded load."""
    name = exact_name(name)
    if default is _MISSING:
        return _lookup(obj, name)
    try:
        return _lookup(obj, name)
    except AttributeError:
        return default


def private_getattr(obj: Any, name: str) -> Any:
    """Hot path of ``obj._name`` in compiled code (the name is a private constant)."""
    if type(obj) in _PURE_USER_CLASSES:
        return getattr(obj, name)
    if private_allowed(obj, name):
        return getattr(obj, name)
    raise refuse_private(obj, name)


def guarded_hasattr(obj: Any, name: str, /) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True
