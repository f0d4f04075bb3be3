"""Which modules code may import, and what of each it gets (the data behind modules.py).

Each list says why: submodules people import, C accelerators' real package, names denied
(they read files, change the process, create classes from dicts...), modules offered only in
part (io: in-memory streams), data objects taken as they are, and replacements for functions
that would run the policy's bypasses for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from sandbox.restricted import mpl_doors, numpy_doors
from sandbox.restricted import stdlib_wrappers as stdlib
from sandbox.restricted.guards import words
from sandbox.restricted.safe_format import SafeFormatter

DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = tuple(
    words(
        "math cmath random statistics collections itertools functools operator json re string "
        "textwrap datetime calendar time heapq bisect array copy typing dataclasses enum "
        "decimal fractions hashlib base64 uuid numpy matplotlib io csv numbers unicodedata "
        "stat queue abc contextlib mpl_toolkits.mplot3d"
    )
)
# Submodules people import, allowed whenever the module before them is.
DEFAULT_SUBMODULES: dict[str, tuple[str, ...]] = {
    "collections": ("collections.abc",),
    "mpl_toolkits.mplot3d": tuple(
        f"mpl_toolkits.mplot3d.{name}" for name in words("axes3d art3d proj3d axis3d")
    ),
    "numpy": (
        *(f"numpy.{name}" for name in words("linalg random fft polynomial ma")),
        *(
            f"numpy.polynomial.{name}"
            for name in words("polynomial chebyshev legendre hermite hermite_e laguerre")
        ),
    ),
    "matplotlib": tuple(
        f"matplotlib.{name}" for name in words("pyplot cm colors patches ticker style")
    ),
}
# Where C accelerators' objects really belong.
ORIGIN_ALIASES = {
    "_collections_abc": "collections",
    "_collections": "collections",
    "_functools": "functools",
    "_operator": "operator",
    "_heapq": "heapq",
    "_bisect": "bisect",
    "_json": "json",
    "_datetime": "datetime",
    "_pydatetime": "datetime",
    "_decimal": "decimal",
    "_pydecimal": "decimal",
    "_random": "random",
    "_sre": "re",
    "_string": "string",
    "_statistics": "statistics",
    "_hashlib": "hashlib",
    "_blake2": "hashlib",
    "_md5": "hashlib",
    "_sha1": "hashlib",
    "_sha2": "hashlib",
    "_sha256": "hashlib",
    "_sha512": "hashlib",
    "_sha3": "hashlib",
    "binascii": "base64",
    "_strptime": "time",
    "_io": "io",
    "_csv": "csv",
    "_stat": "stat",
    "_queue": "queue",
    "_abc": "abc",
    "_py_abc": "abc",
}
DENIED: dict[str, frozenset[str]] = {
    "calendar": frozenset({"main"}),
    "copy": frozenset({"dispatch_table"}),
    "time": frozenset({"clock_settime", "clock_settime_ns"}),
    "typing": frozenset({"get_type_hints", "ForwardRef", "io", "re"}),  # io, re: pseudo-modules
    "dataclasses": frozenset({"make_dataclass"}),
    "enum": frozenset({"global_enum"}),
    "uuid": frozenset({"uuid1", "getnode"}),
    # chdir moves the work dir every relative-path check is made against
    "contextlib": frozenset({"chdir"}),
    "numpy": numpy_doors.NUMPY_DENIED,
    "matplotlib": mpl_doors.MATPLOTLIB_DENIED | {"rc_params"},
    "matplotlib.pyplot": mpl_doors.MATPLOTLIB_DENIED | {"backend_registry"},
    # read_style_directory/update_user_library read any directory they are given
    "matplotlib.style": frozenset(
        words("reload_library read_style_directory update_user_library USER_LIBRARY_PATHS")
    ),
}
# Modules of which only these names are offered (io: in-memory streams, never file opening).
ONLY: dict[str, frozenset[str]] = {
    "io": frozenset(words("StringIO BytesIO SEEK_SET SEEK_CUR SEEK_END UnsupportedOperation")),
}
# Data objects taken as they are (their contents would fail the generic origin check).
FORCED: dict[str, frozenset[str]] = {
    "matplotlib": frozenset(
        words("rcParams rcParamsDefault rcParamsOrig colormaps color_sequences")
        + words("multivar_colormaps bivar_colormaps")
    ),
    "matplotlib.pyplot": frozenset(
        words("rcParams rcParamsDefault rcParamsOrig colormaps color_sequences")
    ),
    "matplotlib.style": frozenset({"library", "available"}),
    "matplotlib.cm": frozenset(words("colormaps multivar_colormaps bivar_colormaps")),
    "matplotlib.colors": frozenset(
        words("BASE_COLORS TABLEAU_COLORS CSS4_COLORS XKCD_COLORS cnames colorConverter")
    ),
}
# Denied in every module of a package.
ROOT_DENIED: dict[str, frozenset[str]] = {
    "numpy": frozenset({"test"}),
    "matplotlib": frozenset({"test"}),
}


REPLACEMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "functools": lambda: {
        "update_wrapper": stdlib.update_wrapper,
        "wraps": stdlib.wraps,
    },
    "operator": lambda: {"attrgetter": stdlib.attrgetter, "methodcaller": stdlib.methodcaller},
    "string": lambda: {"Formatter": SafeFormatter},
    "dataclasses": lambda: {"dataclass": stdlib.checked_dataclass},
    "typing": lambda: {"get_origin": stdlib.get_origin, "get_args": stdlib.get_args},
    "numpy": lambda: numpy_doors.install_numpy(sys.modules["numpy"]),
    "matplotlib": lambda: mpl_doors.install_matplotlib(sys.modules["matplotlib"]),
    "matplotlib.pyplot": lambda: mpl_doors.install_pyplot(sys.modules["matplotlib.pyplot"]),
    "matplotlib.style": lambda: mpl_doors.install_style(sys.modules["matplotlib.style"]),
}
