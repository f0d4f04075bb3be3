"""Library doors the attribute rules cannot see: file paths and numpy's raw-memory constructors.

* Files: numpy and matplotlib read and write paths given by the code. Every such entry point
  (module functions, ``ndarray.tofile``, ``Figure.savefig``, ``canvas.print_png``...) accepts
  only relative paths that resolve inside the current work dir: no absolute paths, no ``..``,
  no ``~``, no URLs (numpy's loaders fetch ``http://``).
* Memory: ``np.ndarray(shape, dtype=object, buffer=raw_bytes)``, ``np.recarray(buf=...)``,
  ``np.memmap(dtype=object)``, ``np.frombuffer(object_array)`` or
  ``memoryview(object_array).cast('B')`` turn bytes the code controls into object pointers (or
  expose pointers for writing): a full interpreter escape. (``np.void(raw, dtype)`` converts
  the bytes as a value instead, so it is harmless.) The constructors are replaced by validating stand-ins, and ``type(x)``,
  ``x.__class__`` and ``__new__`` reads are mapped to them (see guards.public_class).
"""

from __future__ import annotations

import io
import os
import types
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.restricted.guards import (
    FrozenMeta,
    PolicyError,
    PolicyPathError,
    freeze,
    is_user_instance,
    public_class,
    receiver,
    refuse_attribute,
    register_class_standin,
    register_new_guard,
    register_public_handler,
    register_store_check,
    words,
)
from sandbox.restricted.safe_format import SafeFormatter, safe_format

# --------------------------------------------------------------------------- paths


# Exactly these (not subclasses, which could define fileno()): their fileno() always raises.
_IN_MEMORY = (io.BytesIO, io.StringIO)


def checked_path(value: Any, what: str, *, objects: bool = True) -> Any:
    """``value`` as an exact str path inside the work dir.

    Anything not path-like (a list of lines, an object with ``read``/``write``) passes
    unchanged when ``objects`` is true: numpy then only calls its Python methods. Where the
    library would ask the object for ``fileno()`` and use that descriptor directly
    (``fromfile``, ``tofile``, ``memmap``, Pillow behind matplotlib), only paths are accepted:
    any descriptor of the worker process could be named otherwise (exact ``io.BytesIO`` and
    ``io.StringIO`` have none, so they pass).
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes | bytearray):
        value = os.fsdecode(bytes(value))
    if not isinstance(value, str):
        if objects or type(value) in _IN_MEMORY:
            return value
        raise PolicyPathError(
            f"{what}: pass a file name or an io.BytesIO/io.StringIO (other file objects are not "
            "supported here)"
        )
    path = value if type(value) is str else str.__str__(value)
    parts = path.replace("\\", "/").split("/")
    if not path or "\x00" in path:
        raise PolicyPathError(f"{what}: invalid file name {path!r}")
    if os.path.isabs(path) or path.startswith("~") or "://" in path or ".." in parts:
        raise PolicyPathError(
            f"{what}: only relative paths inside the work directory are allowed, not {path!r}"
        )
    work_dir = os.path.realpath(os.getcwd())
    resolved = os.path.realpath(path)
    if resolved != work_dir and not resolved.startswith(work_dir + os.sep):
        raise PolicyPathError(f"{what}: {path!r} resolves outside the work directory")
    return path


def path_checked(
    func: Callable[..., Any],
    what: str,
    index: int = 0,
    names: Iterable[str] = (),
    *,
    objects: bool = True,
    refused: Iterable[str] = (),
) -> Callable[..., Any]:
    """``func`` with its path argument (position ``index`` or keyword ``names``) checked, and
    the keywords ``refused`` refused."""
    keys = tuple(names)

    def check(value: Any) -> Any:
        return checked_path(value, what, objects=objects)

    def checked(*args: Any, **kwargs: Any) -> Any:
        for key in refused:
            if key in kwargs:
                raise PolicyError(f"{what}({key}=...) is not allowed in the sandbox")
        if len(args) > index:
            args = (*args[:index], check(args[index]), *args[index + 1 :])
        for key in keys:
            if key in kwargs:
                kwargs[key] = check(kwargs[key])
        return func(*args, **kwargs)

    checked.__name__ = checked.__qualname__ = getattr(func, "__name__", what)
    checked.__doc__ = getattr(func, "__doc__", None)
    return checked


_PATH_NAMES = ("file", "fname", "filename", "fid", "filename_or_obj")
# ``savefig(backend="module://x")``/``print_figure(backend=...)`` import any module.
_IMPORTING = ("backend",)


def _file_method_handler(obj: Any, name: str) -> Any:
    """``fig.savefig``, ``canvas.print_png``... on anything but the user's own objects."""
    if is_user_instance(obj):
        return getattr(obj, name)
    index = 1 if isinstance(obj, type) else 0
    method = getattr(obj, name)
    return path_checked(method, name, index, _PATH_NAMES, objects=False, refused=_IMPORTING)


for _name in ("savefig", "imsave", "imread", "write_png", "print_"):
    register_public_handler(_name, _file_method_handler)


# --------------------------------------------------------------------------- numpy


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


# --------------------------------------------------------------------------- matplotlib


def _no_show(*args: Any, **kwargs: Any) -> None:
    """Figures left open are returned as PNG images after the run; show() does nothing."""


def _rc_context(real: Callable[..., Any]) -> Callable[..., Any]:
    def rc_context(rc: Any = None, fname: Any = None) -> Any:
        if fname is not None:
            raise PolicyError("rc_context(fname=...) is not allowed in the sandbox")
        return real(rc)

    return rc_context


def install_pyplot(plt: Any) -> dict[str, Any]:
    replacements = {
        name: path_checked(
            getattr(plt, name), f"pyplot.{name}", 0, _PATH_NAMES, objects=False, refused=_IMPORTING
        )
        for name in ("savefig", "imread", "imsave")
    }
    replacements.update(show=_no_show, rc_context=_rc_context(plt.rc_context))
    return replacements


def _harden_tick_formats() -> None:
    """Route matplotlib's ``str.format`` of user templates through the safe formatter.

    ``StrMethodFormatter(fmt)`` (also behind ``set_major_formatter("...")``, ``colorbar(format=)``
    and ``clabel(fmt=)``) and ``cbook._auto_format_str`` (``bar_label(fmt=)``) run the native
    formatter on the code's template: ``"{x.__init__.__globals__}"`` walks attributes in C.
    """
    import matplotlib.cbook as cbook
    import matplotlib.ticker as ticker

    if getattr(ticker.StrMethodFormatter.__call__, "__sandbox_checked__", False):
        return
    fix_minus = ticker.Formatter.fix_minus

    class SafeMinusFormat(SafeFormatter):
        __slots__ = ()

        def format_field(self, value: Any, format_spec: str) -> str:
            return fix_minus(format(value, format_spec))

    minus_format = SafeMinusFormat()

    def __call__(self: Any, x: Any, pos: Any = None) -> str:  # noqa: N807
        return minus_format.format(self.fmt, x=x, pos=pos)

    def _auto_format_str(fmt: Any, value: Any) -> Any:
        try:
            return fmt % (value,)
        except (TypeError, ValueError):
            return safe_format(fmt, value)

    __call__.__doc__ = ticker.StrMethodFormatter.__call__.__doc__
    __call__.__sandbox_checked__ = True  # type: ignore[attr-defined]
    ticker.StrMethodFormatter.__call__ = __call__
    cbook._auto_format_str = _auto_format_str


def _harden_font_files() -> None:
    """Font files named by the code (``FontProperties(fname=...)``, ``fontproperties={'fname':
    ...}``, ``prop=``, a fontconfig pattern's ``file=``) all land in ``FontProperties.set_file``;
    it takes only relative paths inside the work dir, refused alike whether the file exists."""
    from matplotlib.font_manager import FontProperties

    real = FontProperties.set_file
    if getattr(real, "__sandbox_checked__", False):
        return

    def set_file(self: Any, file: Any) -> None:
        if file is not None:
            file = checked_path(file, "font file", objects=False)
        real(self, file)

    set_file.__doc__ = real.__doc__
    set_file.__sandbox_checked__ = True  # type: ignore[attr-defined]
    FontProperties.set_file = set_file


def install_matplotlib(mpl: Any) -> dict[str, Any]:
    _harden_tick_formats()
    _harden_font_files()
    return {"rc_context": _rc_context(mpl.rc_context)}


def install_style(style: Any) -> dict[str, Any]:
    def checked_style(value: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, str) and item not in style.available and item != "default":
                raise PolicyError(f"style {item!r}: only built-in style names are allowed")
            if not isinstance(item, str | dict):
                raise PolicyError("styles must be built-in style names or dicts of rcParams")
        return value

    def use(value: Any) -> Any:
        return style.use(checked_style(value))

    def context(value: Any, after_reset: bool = False) -> Any:
        return style.context(checked_style(value), after_reset)

    return {"use": use, "context": context}


MATPLOTLIB_DENIED = frozenset(
    words(
        "use rc_file rc_params_from_file matplotlib_fname get_configdir get_cachedir "
        "get_data_path test checkdep_usetex switch_backend install_repl_displayhook "
        "uninstall_repl_displayhook reload_library"
    )
)
