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

import builtins
import enum
import types
from collections.abc import Callable, Iterable
from typing import Any

# --------------------------------------------------------------------------- frozen classes


class FrozenMeta(type):
    """Classes of ours that user code can see but must not rewire."""

    def __setattr__(cls, name: str, value: Any) -> None:
        if cls in _FROZEN:
            raise PolicyAttributeError(f"class '{cls.__name__}' of the sandbox is read-only")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        if cls in _FROZEN:
            raise PolicyAttributeError(f"class '{cls.__name__}' of the sandbox is read-only")
        super().__delattr__(name)


_FROZEN: set[type] = set()
_PROXY_CLASSES: set[type] = set()  # module proxies: read-only, ``__name__`` served from here


def freeze(cls: type) -> type:
    _FROZEN.add(cls)
    return cls


def register_proxy_class(cls: type) -> None:
    _PROXY_CLASSES.add(cls)


# --------------------------------------------------------------------------- exceptions


class PolicyError(Exception, metaclass=FrozenMeta):
    """A construct or access the sandbox refuses at run time. ``kind`` feeds ErrorInfo.kind."""

    kind = "policy"

    @property
    def info(self) -> dict[str, Any]:
        """Partial ErrorInfo the worker merges over what it derives from the traceback."""
        return {"type": type(self).__name__, "message": str(self), "kind": self.kind}


class PolicyAttributeError(PolicyError, AttributeError):
    """Refused attribute access; an AttributeError, so ``hasattr``/``getattr(o, n, d)`` see it
    as a missing attribute and nothing about the refused object leaks."""


class PolicyImportError(PolicyError, ImportError):
    """Refused import; an ImportError so ``try: import x / except ImportError`` still works."""

    kind = "import"


class PolicyPathError(PolicyError, PermissionError):
    """A file path outside the run's work dir."""


def _present_as(cls: type, name: str) -> None:
    # ErrorInfo.type reads like the builtin error, tracebacks say ``sandbox.AttributeError``;
    # ``kind`` says it was the policy. (The worker trusts ``info`` only from classes whose
    # module is neither ``builtins`` nor ``__main__``, i.e. never from the user's own.)
    cls.__name__ = cls.__qualname__ = name
    cls.__module__ = "sandbox"


PolicyError.__module__ = "sandbox"
_present_as(PolicyAttributeError, "AttributeError")
_present_as(PolicyImportError, "ImportError")
_present_as(PolicyPathError, "PermissionError")
for _cls in (PolicyError, PolicyAttributeError, PolicyImportError, PolicyPathError):
    freeze(_cls)


def refuse_attribute(name: str, why: str = "") -> PolicyAttributeError:
    message = f"access to attribute '{name}' is not allowed"
    return PolicyAttributeError(f"{message} ({why})" if why else message, name=name)


# --------------------------------------------------------------------------- names


def words(text: str) -> list[str]:
    return text.split()


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
# Public names whose assignment goes through ``_write_`` (numpy's ``strides`` setter can make an
# array of object references misaligned or overlapping: corrupted pointers; an NpzFile's
# ``allow_pickle``/``pickle_kwargs`` turn ``z['a']`` into unpickling: arbitrary code).
GUARDED_STORE_NAMES = frozenset({"strides", "allow_pickle", "pickle_kwargs"})

# Private names that belong to documented library protocols, readable wherever they apply.
NAMEDTUPLE_NAMES = frozenset({"_asdict", "_replace", "_make", "_fields", "_field_defaults"})
ENUM_NAMES = frozenset(
    words(
        "_value_ _name_ _missing_ _generate_next_value_ _ignore_ _order_ _numeric_repr_ "
        "_member_names_ _member_map_ _value2member_map_"
    )
)


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name[:2] == "__" and name[-2:] == "__"


def exact_name(name: object) -> str:
    """``name`` as an exact str: a str subclass could override ``startswith`` or ``__eq__``."""
    if type(name) is str:
        return name
    if isinstance(name, str):
        return str.__str__(name)  # TypeError if ``name`` only pretends to be a str
    raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")


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


def receiver(obj: Any) -> Any:
    """The object whose rules apply: ``super()`` proxies stand for their instance."""
    return obj.__self__ if isinstance(obj, super) else obj


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


def _new_handler(obj: Any, name: str) -> Any:
    value = getattr(obj, name)
    for guard in _NEW_GUARDS:
        value = guard(value)
    return value


def owned_by_code(obj: Any) -> bool:
    """An object of the code's own: an instance of its classes, one of its classes or functions."""
    cls = type(obj)
    if cls in _USER_CLASSES:
        return True
    return (isinstance(obj, type) and obj in _USER_CLASSES) or _user_function(obj)


def _init_handler(obj: Any, name: str) -> Any:
    """``obj.__init__``: re-running a library ``__init__`` rewrites a live library object's
    state (a ``dataclasses.Field`` other code trusts), like attribute writes do. Allowed on the
    code's own objects, through ``super()`` from them, and as ``Base.__init__(self, ...)``."""
    value = _new_handler(obj, name)
    target = receiver(obj)
    if owned_by_code(target) or (isinstance(obj, type) and obj in _USER_CLASSES):
        return value
    if isinstance(obj, type):  # Library.__init__: only onto the code's own objects

        def init(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            if type(self) not in _USER_CLASSES:
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


def _descriptor_write_handler(obj: Any, name: str) -> Any:
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


def _setattr_handler(obj: Any, name: str) -> Any:
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


def _name_handler(obj: Any, name: str) -> Any:
    if type(obj) in _PROXY_CLASSES:
        return object.__getattribute__(obj, "_proxy_name")
    return getattr(obj, name)


_DUNDER_HANDLERS: dict[str, Handler] = {
    "__class__": _class_handler,
    "__new__": _new_handler,
    "__init__": _init_handler,
    "__set__": _descriptor_write_handler,
    "__delete__": _descriptor_write_handler,
    "__setattr__": _setattr_handler,
    "__delattr__": _setattr_handler,
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


# --------------------------------------------------------------------------- writes


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
