"""Library doors the attribute rules cannot see: file paths (here), numpy's raw-memory
constructors (numpy_doors.py) and matplotlib's files, templates and backends (mpl_doors.py).

Files: numpy and matplotlib read and write paths given by the code. Every such entry point
(module functions, ``ndarray.tofile``, ``Figure.savefig``, ``canvas.print_png``, font files...)
accepts only relative paths that resolve inside the current work dir: no absolute paths, no
``..``, no ``~``, no URLs (numpy's loaders fetch ``http://``), and a refused path gets the same
error whether or not the file exists.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.restricted.guards import (
    PolicyError,
    PolicyPathError,
    is_user_instance,
    register_public_handler,
)

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
