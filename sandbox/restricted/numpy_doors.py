"""numpy's raw-memory doors: constructors over raw buffers, strides, pickling, file methods.

``np.ndarray(shape, dtype=object, buffer=raw_bytes)``, ``np.recarray(buf=...)``,
``np.memmap(dtype=object)``, ``np.frombuffer(object_array)`` or
``memoryview(object_array).cast('B')`` turn bytes the code controls into object pointers (or
expose pointers for writing): a full interpreter escape. (``np.void(raw, dtype)`` converts the
bytes as a value instead, so it is harmless.) The constructors are replaced by validating
stand-ins, and ``type(x)``, ``x.__class__`` and ``__new__`` reads are mapped to them (see
classes.public_class).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from sandbox.restricted.doors import checked_path, path_checked
from sandbox.restricted.guards import (
    FrozenMeta,
    PolicyError,
    freeze,
    is_user_instance,
    public_class,
    receiver,
    refuse_attribute,
    register_class_standin,
    register_new_guard,
    register_public_handler,
    register_store_check,
)


class GuardedMeta(FrozenMeta):
    """Metaclass of the numpy stand-ins (ndarray, memmap, recarray).

    A stand-in is a real subclass, so ``view(np.recarray)``, ``isinstance`` and user subclasses
    work; calling it validates the arguments and builds the real class, and ``isinstance``
    answers for the real class. Code never sees the real constructors: ``type(x)``,
    ``x.__class__`` and ``__new__`` reads are mapped here (guards.public_class, new guards).
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        spec = _GUARDED.get(cls)
        if spec is not None:
            real, validate = spec
            return real(*validate(*args, **kwargs))
        return super().__call__(*args, **kwargs)

    def __instancecheck__(cls, obj: Any) -> bool:
        spec = _GUARDED.get(cls)
        return isinstance(obj, spec[0]) if spec else type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub: Any) -> bool:
        spec = _GUARDED.get(cls)
        return issubclass(sub, spec[0]) if spec else type.__subclasscheck__(cls, sub)


_GUARDED: dict[type, tuple[type, Callable[..., tuple[Any, ...]]]] = {}


def guarded_subclass(real: type, validate: Callable[..., tuple[Any, ...]]) -> type:
    """A stand-in for ``real`` whose construction goes through ``validate`` (which returns
    the positional arguments for ``real.__new__``)."""
    real_new = real.__new__

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        base = real if cls in _GUARDED else cls
        return real_new(base, *validate(*args, **kwargs))

    namespace = {"__new__": __new__, "__doc__": real.__doc__, "__module__": "numpy"}
    standin = GuardedMeta(real.__name__, (real,), namespace)
    _GUARDED[standin] = (real, validate)
    register_class_standin(real, standin)
    return freeze(standin)


class _RefusedMeta(FrozenMeta):
    """Metaclass of stand-ins for library classes code may test against but never build."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise PolicyError(f"{cls.__name__} cannot be built directly in the sandbox")

    def __instancecheck__(cls, obj: Any) -> bool:
        spec = _REFUSED.get(cls)
        return isinstance(obj, spec) if spec else type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub: Any) -> bool:
        spec = _REFUSED.get(cls)
        if spec is None:
            return type.__subclasscheck__(cls, sub)
        return isinstance(sub, type) and issubclass(sub, spec)


_REFUSED: dict[type, type] = {}


def refused_class(real: type) -> type:
    """What ``type(x)`` answers for an instance of ``real``: ``isinstance`` works, calls fail
    (and so does re-running ``__init__``, see the numpy new guard)."""
    namespace = {"__doc__": real.__doc__, "__module__": real.__module__, "__slots__": ()}
    standin = _RefusedMeta(real.__name__, (), namespace)
    _REFUSED[standin] = real
    return freeze(standin)


def _buffer_holds_references(buffer: Any) -> bool:
    try:
        with memoryview(buffer) as view:
            return "O" in view.format
    except TypeError:
        return False


def _refuse_raw_objects(np: Any, dtype: Any, buffer: Any) -> Any:
    """The dtype to use for an array over ``buffer``; refuses object references either way."""
    descr = np.dtype(dtype)
    if descr.hasobject:
        raise PolicyError("numpy: arrays of object references cannot be built over a raw buffer")
    if _buffer_holds_references(buffer):
        raise PolicyError("numpy: the memory of an object array cannot be reinterpreted")
    return descr


def _refuse_object_strides(np: Any, dtype: Any) -> Any:
    descr = np.dtype(dtype)
    if descr.hasobject:
        raise PolicyError("numpy: custom strides on arrays of object references are not allowed")
    return descr


def install_numpy(np: Any) -> dict[str, Any]:
    """Stand-ins, handlers and wrappers for numpy; returns proxy replacements by name."""
    real_ndarray, real_memmap, real_recarray = np.ndarray, np.memmap, np.recarray
    from numpy.lib.npyio import NpzFile

    def ndarray_args(
        shape: Any,
        dtype: Any = float,
        buffer: Any = None,
        offset: Any = 0,
        strides: Any = None,
        order: Any = None,
    ) -> tuple[Any, ...]:
        if buffer is not None:
            dtype = _refuse_raw_objects(np, dtype, buffer)
        elif strides is not None:
            dtype = _refuse_object_strides(np, dtype)
        return shape, dtype, buffer, offset, strides, order

    def memmap_args(
        filename: Any,
        dtype: Any = np.uint8,
        mode: str = "r+",
        offset: int = 0,
        shape: Any = None,
        order: str = "C",
    ) -> tuple[Any, ...]:
        descr = np.dtype(dtype)
        if descr.hasobject:
            raise PolicyError("numpy.memmap of object references is not allowed")
        path = checked_path(filename, "numpy.memmap", objects=False)
        return path, descr, mode, offset, shape, order

    def recarray_args(
        shape: Any,
        dtype: Any = None,
        buf: Any = None,
        offset: Any = 0,
        strides: Any = None,
        formats: Any = None,
        names: Any = None,
        titles: Any = None,
        byteorder: Any = None,
        aligned: bool = False,
        order: str = "C",
    ) -> tuple[Any, ...]:
        if buf is not None or strides is not None:
            if dtype is None:
                raise PolicyError(
                    "numpy.recarray(buf=/strides=...) needs an explicit dtype in the sandbox"
                )
            if buf is not None:
                dtype = _refuse_raw_objects(np, dtype, buf)
            else:
                dtype = _refuse_object_strides(np, dtype)
        return shape, dtype, buf, offset, strides, formats, names, titles, byteorder, aligned, order

    validators = {
        real_ndarray: ndarray_args,
        real_memmap: memmap_args,
        real_recarray: recarray_args,
    }
    standins = {real: guarded_subclass(real, check) for real, check in validators.items()}
    real_news = {real.__new__: validators[real] for real in (real_memmap, real_recarray)}
    npz_init = NpzFile.__init__

    def new_guard(value: Any) -> Any:
        owner = getattr(value, "__self__", None)
        if (
            type(value) is types.BuiltinMethodType
            and isinstance(owner, type)
            and issubclass(owner, real_ndarray)
        ):
            return lambda cls, *a, **k: value(cls, *ndarray_args(*a, **k))
        if getattr(value, "__func__", value) is npz_init:  # z.__init__(path, allow_pickle=True)
            raise PolicyError("NpzFile cannot be re-initialised in the sandbox; use numpy.load")
        check = real_news.get(value) if isinstance(value, types.FunctionType) else None
        if check is not None:
            return lambda cls, *a, **k: value(cls, *check(*a, **k))
        return value

    register_new_guard(new_guard)

    def file_method(obj: Any, name: str) -> Any:
        target = receiver(obj)
        kinds = (real_ndarray, np.generic)
        if not (
            isinstance(target, kinds) or (isinstance(target, type) and issubclass(target, kinds))
        ):
            return getattr(obj, name)
        if name == "dumps":
            raise refuse_attribute(name, "pickling arrays is not allowed")
        index = 1 if isinstance(obj, type) else 0
        method = getattr(obj, name)
        objects = name == "dump"  # dump pickles through file.write; tofile uses fileno()
        return path_checked(method, f"ndarray.{name}", index, ("fid", "file"), objects=objects)

    def npz_handle(obj: Any, name: str) -> Any:
        if isinstance(receiver(obj), NpzFile):
            raise refuse_attribute(name, "the archive's file handle is out of reach")
        return getattr(obj, name)

    for name in ("tofile", "dump", "dumps"):
        register_public_handler(name, file_method)

    def strides_store(obj: Any, name: str) -> None:
        if isinstance(obj, real_ndarray) and obj.dtype.hasobject:
            raise PolicyError("numpy: the strides of an array of object references are fixed")

    def strides_load(obj: Any, name: str) -> Any:
        target = receiver(obj)
        if isinstance(target, type) and issubclass(target, real_ndarray):
            raise refuse_attribute(name, "the strides descriptor of numpy arrays")
        return getattr(obj, name)

    register_store_check("strides", strides_store)

    def pickle_switch_store(obj: Any, name: str) -> None:
        if not is_user_instance(obj):
            raise PolicyError(f"setting '{name}' is not allowed in the sandbox (it unpickles)")

    register_store_check("allow_pickle", pickle_switch_store)
    register_store_check("pickle_kwargs", pickle_switch_store)

    # NpzFile(path, allow_pickle=True): an unchecked path and unpickling. np.load builds them.
    register_class_standin(NpzFile, refused_class(NpzFile))
    register_public_handler("strides", strides_load)

    def resize_handler(obj: Any, name: str) -> Any:
        """``arr.resize(..., refcheck=False)`` frees memory other views still point at."""
        target = receiver(obj)
        method = getattr(obj, name)
        if not (
            isinstance(target, real_ndarray)
            or (isinstance(target, type) and issubclass(target, real_ndarray))
        ):
            return method

        def resize(*args: Any, **kwargs: Any) -> Any:
            if not kwargs.get("refcheck", True):
                raise PolicyError("ndarray.resize(refcheck=False) is not allowed in the sandbox")
            return method(*args, **kwargs)

        return resize

    register_public_handler("resize", resize_handler)
    # numpy.ma: ``masked.baseclass`` is the class the data is viewed as (the real ndarray)
    register_public_handler("baseclass", lambda obj, name: public_class(getattr(obj, name)))
    register_public_handler("zip", npz_handle)
    register_public_handler("fid", npz_handle)

    def load(
        file: Any, mmap_mode: Any = None, allow_pickle: bool = False, *a: Any, **k: Any
    ) -> Any:
        if allow_pickle:
            raise PolicyError("numpy.load(allow_pickle=True) is not allowed in the sandbox")
        return np.load(checked_path(file, "numpy.load"), mmap_mode, False, *a, **k)

    def frombuffer(buffer: Any, *args: Any, **kwargs: Any) -> Any:
        if _buffer_holds_references(buffer):
            raise PolicyError("numpy: the memory of an object array cannot be reinterpreted")
        return np.frombuffer(buffer, *args, **kwargs)

    replacements: dict[str, Any] = {
        name: path_checked(getattr(np, name), f"numpy.{name}", 0, ("file", "fname"))
        for name in ("save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt")
        + ("fromregex",)
    }
    replacements["fromfile"] = path_checked(
        np.fromfile, "numpy.fromfile", 0, ("file",), objects=False
    )

    def bmat(obj: Any, ldict: Any = None, gdict: Any = None) -> Any:
        # A string makes bmat look names up in the caller's frame, __builtins__ included.
        if isinstance(obj, str) and (ldict is None or gdict is None):
            raise PolicyError("numpy.bmat(str) needs explicit ldict and gdict in the sandbox")
        return np.bmat(obj, ldict, gdict)

    replacements.update(load=load, frombuffer=frombuffer, bmat=bmat)
    replacements.update({real.__name__: standin for real, standin in standins.items()})
    return replacements


NUMPY_DENIED = frozenset(
    {"DataSource", "test", "info", "from_dlpack", "add_docstring", "add_newdoc", "ctypeslib"}
)
