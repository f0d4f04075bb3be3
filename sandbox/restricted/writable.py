"""The public attributes of library objects that code may set (everything else is refused).

Writes to the code's own objects are free (guards.public_write_allowed). A library object's
public state is another matter: ``dataclasses.Field.name`` ends up in source that dataclasses
``exec``s, an ``NpzFile``'s ``allow_pickle`` turns reads into unpickling, a monkeypatched
library class changes what library code runs. So only attributes that ordinary code sets, and
that only store a value or run the same checks as the matching method, are listed here:
each entry says why it is safe.
"""

from __future__ import annotations

import sys
from typing import Any

from sandbox.restricted.guards import register_writable


def _textwrap() -> None:
    import textwrap

    # plain option values read by the wrapper's pure-Python methods
    register_writable(
        textwrap.TextWrapper,
        [
            "width",
            "initial_indent",
            "subsequent_indent",
            "expand_tabs",
            "replace_whitespace",
            "fix_sentence_endings",
            "break_long_words",
            "drop_whitespace",
            "break_on_hyphens",
            "tabsize",
            "max_lines",
            "placeholder",
        ],
    )


def _stdlib() -> None:
    import calendar
    import collections
    import csv
    import decimal

    # validated C setters (precision, rounding mode, exponent range, signal dicts)
    register_writable(
        decimal.Context, ("prec", "rounding", "Emin", "Emax", "capitals", "clamp", "traps")
    )
    register_writable(collections.defaultdict, ("default_factory",))  # a callable it calls
    register_writable(calendar.Calendar, ("firstweekday",))  # a property storing an int
    register_writable(csv.DictReader, ("fieldnames", "restkey", "restval"))  # plain values
    register_writable(csv.DictWriter, ("fieldnames", "restval", "extrasaction"))


def _numpy(np: Any) -> None:
    # shape/dtype/strides setters are validated by numpy (no object-reference reinterpretation;
    # strides on object arrays are refused by the store check in doors.py); real/imag/flat copy
    # values into the array
    register_writable(np.ndarray, ("shape", "dtype", "strides", "real", "imag", "flat"))
    register_writable(type(np.zeros(1).flags), ("writeable", "WRITEABLE"))
    register_writable(np.random.BitGenerator, ("state",))  # a validated dict of integers

    def record_field(obj: Any, name: str) -> bool:  # rec.x = values writes a field's values
        names = obj.dtype.names
        return bool(names) and name in names

    register_writable(np.recarray, record_field)
    ma = sys.modules.get("numpy.ma")
    if ma is not None:
        register_writable(ma.MaskedArray, ("mask", "fill_value", "shape", "dtype", "real", "imag"))


def _matplotlib() -> None:
    import matplotlib.artist

    extras = frozenset({"zorder", "labelpad"})  # plain numbers, as their set_ methods store

    def artist_property(obj: Any, name: str) -> bool:
        """Artist properties with a setter (``fig.dpi``, ``patch.fill``, ``ax.use_sticky_edges``)
        run the same code as their ``set_*`` methods, which code may call anyway."""
        if name in extras:
            return True
        value = getattr(type(obj), name, None)
        return isinstance(value, property) and value.fset is not None

    register_writable(matplotlib.artist.Artist, artist_property)
    axes3d = sys.modules.get("mpl_toolkits.mplot3d.axes3d")
    if axes3d is not None:  # the view angles view_init() sets
        register_writable(axes3d.Axes3D, ("elev", "azim", "roll", "dist"))


def register_library_writes() -> None:
    """Register the allow-list for every listed library that is loaded (stdlib always)."""
    _textwrap()
    _stdlib()
    np = sys.modules.get("numpy")
    if np is not None:
        _numpy(np)
    if "matplotlib.artist" in sys.modules:
        _matplotlib()
