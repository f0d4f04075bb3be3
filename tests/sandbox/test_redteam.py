"""Red-team battery for the restricted backend: attempts an independent reviewer made to escape.

Every case runs hostile code in one shared restricted sandbox (and in a jail sandbox, where the
code is real CPython and only containment is judged: no policy refuses anything there) and
asserts that nothing escaped:
the host secret, the canary file's content and a host project file's content appear nowhere in
the result, the canary file is unchanged and nothing appeared in the host's /tmp, nobody
connected to the host listener, the run ended as a RunResult (an error or a limit when not ok,
never a worker crash where a refusal is due), and the next run still works. Payloads print
``POLICY-BYPASS`` the moment they hold something the policy should have kept from them, so a
bypass that breaks nothing visible is still caught.

Cases marked ``xfail(strict=True, reason="escape: ...")`` are confirmed escapes, kept here as
reproducers until the policy is fixed (then the mark goes and the case guards the fix).
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sandbox import Limits, RunResult, create_sandbox
from sandbox.restricted.backend import RestrictedSandbox
from sandbox.restricted.pool import ForkServerProcess
from tests.sandbox.conftest import Canary, Containment, Listener, describe, require_backend

MARKER = "POLICY-BYPASS"
LIMITS = Limits(timeout_s=5, memory_mb=512, max_output_bytes=100_000)

REFUSED = "refused"  # not ok: an error (any kind but a worker crash) or a limit
POLICY = "policy"  # refused by the policy itself (kind policy/import), not only by the kernel
ANY = "any"  # ok or not; only containment matters
LIMIT = "limit"  # a limit or an error, never ok


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    expect: str = REFUSED
    escape: str | None = None  # reason of a confirmed escape: the case is a strict xfail


def case(
    id: str, code: str, expect: str = REFUSED, escape: str | None = None, bug: str | None = None
) -> pytest.param:
    """One attempt; ``escape``/``bug`` name a confirmed escape (or a non-escape defect the
    case also catches) and make it a strict xfail until fixed."""
    marks = []
    if escape:
        marks.append(pytest.mark.xfail(strict=True, reason=f"escape: {escape}"))
    elif bug:
        marks.append(pytest.mark.xfail(strict=True, reason=f"bug: {bug}"))
    attempt = Case(id, textwrap.dedent(code).strip() + "\n", expect, escape)
    return pytest.param(attempt, id=id, marks=marks)


# ------------------------------------------------------------------------ confirmed escapes

ENUM_CONVERT = """
    import enum
    class E(enum.Enum):
        pass
    X = E._convert_("X", "builtins", lambda n: n == "open")
    print("POLICY-BYPASS")
    print(X.open.value("@HOST_FILE@").read())
"""

ESCAPES = [
    case(
        "enum-convert-real-builtins-open",
        ENUM_CONVERT,
    ),
    case(
        "enum-convert-real-os",
        """
        import enum
        class E(enum.Enum):
            pass
        X = E._convert_("X", "os", lambda n: n == "getuid")
        print("POLICY-BYPASS", X.getuid.value())
        """,
    ),
    case(
        "abc-metaclass-private-method",
        """
        import collections.abc as cabc
        class S(cabc.Sequence):
            def __getitem__(self, i): return i
            def __len__(self): return 0
        m = S._abc_registry_clear
        print("POLICY-BYPASS", m)
        """,
    ),
    case(
        "super-subclass-library-private",
        """
        import random
        class S(super):
            pass
        class R(random.Random):
            pass
        r = R()
        print("POLICY-BYPASS", S(R, r)._randbelow)
        """,
    ),
    case(
        "super-subclass-ndarray-ctypes-memory-read",
        """
        import numpy as np
        class S(super):
            pass
        class A(np.ndarray):
            pass
        a = np.zeros(4, dtype=np.int64).view(A)
        shape = S(A, a).ctypes.shape
        raw = type(shape).from_address(id(a))
        print("POLICY-BYPASS", raw[0])
        """,
    ),
    case(
        "super-subclass-unchecked-tofile",
        """
        import numpy as np
        class S(super):
            pass
        class A(np.ndarray):
            pass
        a = np.zeros(4).view(A)
        S(A, a).tofile("@OUTSIDE@")
        print("POLICY-BYPASS")
        """,
        expect=POLICY,  # the unchecked method is reachable, but numpy opens through open()
    ),
    case(
        "mpl-strmethodformatter-format-walk",
        """
        from matplotlib.ticker import StrMethodFormatter
        class A:
            def __init__(self):
                pass
        g = "{x.__init__.__globals__[__builtins__][_getattr_].__globals__[builtins]}"
        s = StrMethodFormatter(g)(A())
        print("POLICY-BYPASS" if "builtins" in s else "clean", s)
        """,
    ),
    case(
        "ndarray-resize-refcheck-false-use-after-free",
        """
        import numpy as np
        a = np.zeros(400_000)
        b = a[:]
        a.resize(4_000_000, refcheck=False)
        print("POLICY-BYPASS")
        print(float(b[-1] + b[0]))
        """,
    ),
    case(
        "mpl-axesimage-write-png-absolute",
        """
        import numpy as np
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        im = ax.imshow(np.zeros((4, 4)))
        im.write_png("@OUTSIDE@")
        print("POLICY-BYPASS")
        """,
        expect=POLICY,
    ),
    case(
        "mpl-read-style-directory-outside",
        """
        import matplotlib.style
        import numpy as np
        d = matplotlib.style.read_style_directory(np.get_include() + "/../../../matplotlib/mpl-data/stylelib")
        print("POLICY-BYPASS" if d else "empty", len(d))
        """,
        expect=POLICY,
    ),
]


# ------------------------------------------------------------------------ guarded vectors

DUNDER_WALKS = [
    case("subclasses-literal", "print(().__class__.__bases__[0].__subclasses__())"),
    case("getattr-class-base", 'print(getattr(getattr((), "__class__"), "__base__"))'),
    case("type-subclasses", "print(type.__subclasses__(object))"),
    case("object-subclasses-call", 'print(getattr(object, "__subclasses__")())'),
    case("mro-method", 'print("POLICY-BYPASS", int.mro())'),
    case("type-of-type-three-args", 'T = type("T", (), {"x": 1}); print("POLICY-BYPASS", T)'),
    case("class-of-class", 'print("POLICY-BYPASS", (1).__class__.__class__("T", (), {}))'),
    case("print-self", "print(print.__self__)"),
    case("lambda-globals", "print((lambda: 0).__globals__)"),
    case("getattr-globals-concat", 'print(getattr(lambda: 0, "__glob" + "als__"))'),
    case(
        "str-subclass-name",
        """
        class N(str):
            def startswith(self, *a):
                return False
        print(getattr(lambda: 0, N("__globals__")))
    """,
    ),
    case(
        "init-globals",
        """
        class A:
            def __init__(self):
                pass
        print(A.__init__.__globals__)
    """,
    ),
    case("code-object", "f = lambda: 0\nprint(getattr(f, '__code__').co_consts)"),
    case(
        "closure-cells",
        """
        def outer():
            x = 1
            def inner():
                return x
            return inner
        print(getattr(outer(), "__closure__")[0].cell_contents)
    """,
    ),
    case("func-defaults", 'def f(a=1): pass\nprint(getattr(f, "__defaults__"))'),
    case("object-getattribute", 'print(object.__getattribute__(1, "__class__"))'),
    case("super-getattribute", "print(super(int, 1).__getattribute__('__class__'))"),
    case("dict-of-class", "print(int.__dict__)"),
    case("vars-builtin", "print(vars(int))"),
    case(
        "dir-no-privates",
        """
        import random
        names = dir(random)
        print("POLICY-BYPASS" if any(n.startswith("_") for n in names) else "clean")
    """,
        expect=ANY,
    ),
    case(
        "setattr-dunder", 'class A: pass\nsetattr(A, "__getattr__", lambda s, n: n)\nprint(A().x)'
    ),
    case("object-setattr-module", 'import math\nobject.__setattr__(math, "pi", 3)'),
    case("module-attr-write", "import math\nmath.sqrt = print"),
    case("module-attr-delete", "import math\ndel math.sqrt"),
    case("class-assign", "class A: pass\nclass B: pass\na = A()\na.__class__ = B"),
    case("type-new-call", 'print(type.__new__(type, "T", (), {}))'),
    case(
        "exception-traceback",
        """
        try:
            1 / 0
        except Exception as e:
            print(e.__traceback__.tb_frame.f_globals)
    """,
    ),
    case(
        "exception-traceback-getattr",
        """
        try:
            1 / 0
        except Exception as e:
            tb = getattr(e, "__traceback__")
            print("POLICY-BYPASS", tb)
    """,
    ),
    case(
        "exception-with-traceback-frame",
        """
        try:
            1 / 0
        except Exception as e:
            print(getattr(e.with_traceback(None), "__traceback__"))
    """,
    ),
    case(
        "generator-frame",
        """
        def g():
            yield 1
        x = g()
        print(x.gi_frame.f_back.f_globals)
    """,
    ),
    case(
        "generator-frame-getattr",
        """
        def g():
            yield 1
        print(getattr(g(), "gi_" + "frame"))
    """,
    ),
    case("generator-code", "g = (i for i in [1])\nprint(g.gi_code.co_consts)"),
    case(
        "generator-yieldfrom",
        """
        def inner():
            yield 1
        def outer():
            yield from inner()
        o = outer()
        next(o)
        print(o.gi_yieldfrom.gi_frame)
    """,
    ),
    case("async-def", "async def f():\n    pass\nprint(f().cr_frame)"),
    case("async-gen-expr", "print((i async for i in x))"),
    case(
        "attributeerror-obj-proxy",
        """
        import numpy as np
        try:
            np.definitely_missing
        except AttributeError as e:
            o = e.obj
            print("POLICY-BYPASS" if type(o).__name__ == "module" and hasattr(o, "lib") else "ok")
    """,
        expect=ANY,
    ),
    case("from-import-submodule-fallback", "from numpy import lib\nprint(lib)"),
    case("from-import-fallback-runtime", '__import__("numpy", fromlist=["lib"])'),
    case(
        "exception-context-internals",
        """
        try:
            getattr(1, "__globals__")
        except AttributeError as e:
            c = e.__context__
            print("POLICY-BYPASS" if c is not None and "sandbox" in repr(c.args) else "ok")
    """,
        expect=ANY,
    ),
]

GUARD_NAMES = [
    case("rebind-getattr", "_getattr_ = lambda o, n: 1\nprint(1)"),
    case("def-write-guard", "def _write_(o):\n    return o"),
    case("import-as-guard", "import math as _getattr_"),
    case("for-target-guard", "for _getiter_ in [1]:\n    pass"),
    case("global-guard", "def f():\n    global _getattr_\n    _getattr_ = 1\nf()"),
    case("except-as-guard", "try:\n    1/0\nexcept Exception as _write_:\n    pass"),
    case("lambda-param-guard", "f = lambda _getattr_: _getattr_"),
    case("walrus-guard", "(_getprivate_ := 1)"),
    case("match-capture-guard", "match 1:\n    case _getattr_:\n        pass"),
    case("build-class-name", "print(__build_class__)"),
    case("builtins-name", "print(__builtins__)"),
    case("import-dunder", '__import__("os")'),
    case("del-builtin-then-use", "del print\nprint(1)"),
    case(
        "selfok-rebind",
        """
        class A:
            def m(self):
                _selfok_ = True
                return self._x
        print(A().m())
    """,
    ),
    case(
        "self-rebind-fast-path",
        """
        import random
        class A:
            def m(self, other):
                self = other
                return self._os
        print(A().m(random))
    """,
    ),
    case(
        "self-walrus-fast-path",
        """
        import random
        class A:
            def m(self, other):
                if (self := other):
                    pass
                return self._inst
        print(A().m(random))
    """,
    ),
    case(
        "fast-path-on-library-self",
        """
        import random
        class A:
            def m(self):
                return self._randbelow
        print("POLICY-BYPASS", A.m(random.Random()))
    """,
    ),
    case("unicode-dunder", "print(().__ｃlass__.__ｂases__)"),
    case("unicode-eval", """print(ｅval("__import__('os')"))"""),
    case("unicode-guard-name", "_ｇetattr_ = 1"),
    case(
        "name-mangling-library",
        """
        import random
        class Random:
            def peek(self, r):
                return r.__randbelow
        print(Random().peek(random.Random()))
    """,
    ),
    case("metaclass-keyword", "class M(type): pass\nclass A(metaclass=M): pass"),
    case("metaclass-kwargs", "kw = {'metaclass': type}\nclass A(**kw): pass"),
    case("define-getattr", "class A:\n    def __getattr__(self, n):\n        return n"),
    case("define-init-subclass", "class A:\n    def __init_subclass__(cls):\n        pass"),
    case("define-class-getitem", "class A:\n    def __class_getitem__(cls, k):\n        pass"),
    case("define-set-name", "class A:\n    def __set_name__(self, o, n):\n        pass"),
    case("define-reduce", "class A:\n    def __reduce__(self):\n        return (print, ('x',))"),
    case("define-array-interface", "class A:\n    __array_interface__ = {'data': (0, False)}"),
    case("slots-dunder", "class A:\n    __slots__ = ('__dict__', '__weakref__')"),
    case("slots-computed", "class A:\n    __slots__ = tuple(['_a'])"),
    case(
        "enum-functional-dunder-member",
        """
        import enum
        E = enum.Enum("E", [("__array_interface__", {"data": (0, False), "shape": (1,), "typestr": "|O"})])
        print("POLICY-BYPASS", E)
    """,
    ),
    case(
        "dataclass-typeddict-names",
        """
        import dataclasses, typing
        TD = typing.TypedDict("TD", {"x=print('POLICY-BYPASS')": int})
        dataclasses.dataclass(TD)
    """,
    ),
    case(
        "namedtuple-rename-underscore",
        """
        import collections
        P = collections.namedtuple("P", ["__class__"], rename=False)
    """,
    ),
    case(
        "singledispatch-string-annotation",
        """
        import functools
        @functools.singledispatch
        def f(x): pass
        @f.register
        def _(x: "print('POLICY-BYPASS')"): pass
    """,
    ),
    case(
        "copy-reduce-ex-setstate",
        """
        import copy
        class A:
            __slots__ = ("_a",)
        a = A()
        a._a = 1
        print(copy.deepcopy(a)._a)
    """,
        expect=ANY,
    ),
]

MODULE_WALKS = [
    case("import-os", "import os"),
    case("import-sys", "import sys"),
    case("import-subprocess", "import subprocess"),
    case("import-socket", "import socket"),
    case("import-ctypes", "import ctypes"),
    case("import-importlib", "import importlib"),
    case("import-builtins", "import builtins"),
    case("import-io-open", "import io\nio.open"),
    case("import-io-fileio", "from io import FileIO"),
    case("import-pickle", "import pickle"),
    case("import-threading", "import threading"),
    case("relative-import", "from . import x"),
    # Star imports bind only the proxy's allowed names: allowed, and nothing private comes along.
    case("star-import", "from math import *\nprint(sqrt(4))", expect=ANY),
    case("star-import-no-private", "from random import *\nprint(_os)"),
    case("numpy-ctypeslib", "import numpy.ctypeslib"),
    case("numpy-lib", "import numpy.lib"),
    case("numpy-core", "import numpy as np\nprint(np.core)"),
    case("numpy-testing", "import numpy as np\nprint(np.testing)"),
    case("numpy-f2py", "from numpy import f2py"),
    case("numpy-datasource", "import numpy as np\nprint(np.DataSource)"),
    case("mpl-cbook", "import matplotlib.cbook"),
    case("mpl-backends", "import matplotlib as mpl\nprint(mpl.backends)"),
    case("mpl-use", "import matplotlib\nmatplotlib.use('module://os')"),
    case("pyplot-switch-backend", "import matplotlib.pyplot as plt\nplt.switch_backend('pdf')"),
    case("random-os", "import random\nprint(random._os)"),
    case("statistics-sys", "import statistics\nprint(statistics.sys)"),
    case("typing-sys", "import typing\nprint(typing.sys)"),
    case("re-enum-sys", "import re\nprint(re.enum.sys)"),
    case("json-decoder-module", "import json\nprint(json.decoder.scanstring.__self__)"),
    case("copy-dispatch-table", "import copy\nprint(copy.dispatch_table)"),
    case("typing-get-type-hints", "import typing\nprint(typing.get_type_hints)"),
    case(
        "typing-forwardref-evaluate",
        """
        import typing
        fr = typing.get_args(typing.List["print('POLICY-BYPASS')"])[0]
        print(fr._evaluate({}, {}, frozenset()))
    """,
    ),
    case(
        "typing-forwardref-class",
        """
        import typing
        fr = typing.get_args(typing.List["x"])[0]
        F = type(fr)
        print(F("print('POLICY-BYPASS')")._evaluate({}, {}, frozenset()))
    """,
    ),
    case(
        "operator-attrgetter-dunder",
        'import operator\nprint(operator.attrgetter("__class__.__base__")(1))',
    ),
    case(
        "operator-attrgetter-private",
        'import operator, random\nprint(operator.attrgetter("_os")(random))',
    ),
    case(
        "operator-methodcaller-subclasses",
        """
        import operator
        print(operator.methodcaller("__subclasses__")(object))
    """,
    ),
    case(
        "functools-reduce-getattr",
        """
        import functools
        print(functools.reduce(getattr, ["__class__", "__base__", "__subclasses__"], ()))
    """,
    ),
    case("map-getattr", 'print(list(map(getattr, [print], ["__self__"])))'),
    case("sorted-key-getattr", 'print(sorted([1], key=lambda x: getattr(x, "__globals__")))'),
    case(
        "functools-wraps-dunder",
        """
        import functools
        def f(): pass
        functools.update_wrapper(f, print, assigned=("__self__",))
    """,
    ),
    case(
        "json-object-hook-frames",
        """
        import json
        print(json.loads('{"a": 1}', object_hook=lambda d: getattr(d, "__class__").__subclasses__()))
    """,
    ),
    case(
        "re-callback-match-internals",
        """
        import re
        print(re.sub("a", lambda m: str(getattr(m, "__class__").__mro__), "a"))
    """,
    ),
    case("uuid1-getnode", "import uuid\nprint(uuid.uuid1())"),
    case("calendar-main", "import calendar\ncalendar.main(['x'])"),
    case("time-clock-settime", "import time\ntime.clock_settime(0, 0)"),
    case(
        "decimal-context-leak",
        """
        import decimal
        c = decimal.getcontext()
        print(getattr(c, "_traps", None) is None and "ok")
        print(c._ignored_flags)
    """,
    ),
    case(
        "dataclasses-make-dataclass", 'import dataclasses\ndataclasses.make_dataclass("X", ["a"])'
    ),
    case("enum-global-enum", "import enum\nprint(enum.global_enum)"),
    case(
        "string-formatter-internals",
        """
        import string
        f = string.Formatter()
        print(f.format("{0.__class__}", 1))
    """,
    ),
    case(
        "string-formatter-subclass-get-field",
        """
        import string
        class F(string.Formatter):
            def get_field(self, name, args, kwargs):
                return getattr(args[0], "__globals__"), 0
        print(F().format("{0}", lambda: 0))
    """,
    ),
]

FORMAT_STRINGS = [
    case("format-class", 'print("{0.__class__.__base__}".format(1))'),
    case("format-globals", 'def f(): pass\nprint("{0.__globals__}".format(f))'),
    case("format-map-attr", 'print("{a.__class__}".format_map({"a": 1}))'),
    case("format-kw-attr", 'print("{a.__init__.__globals__}".format(a=print))'),
    case("format-nested-spec", 'print("{0:{1.__class__}}".format(1, 2))'),
    case("format-double-nested-spec", 'print("{0:{1:{2.__class__}}}".format(1, 2, 3))'),
    case("format-index-then-attr", 'print("{0[0].__class__}".format([1]))'),
    case("format-str-method", 'print(str.format("{0.__class__}", 1))'),
    case("format-map-builtin", 'print(list(map(str.format, ["{0.__class__}"], [1])))'),
    case(
        "format-partial",
        'import functools\nprint(functools.partial(str.format, "{0.__class__}")(1))',
    ),
    case(
        "format-methodcaller",
        """
        import operator
        print(operator.methodcaller("format", 1)("{0.__class__}"))
    """,
    ),
    case("format-str-subclass", 'class S(str): pass\nprint(S("{0.__class__}").format(1))'),
    case(
        "format-super-format",
        """
        class S(str):
            def format(self, *a):
                return super().format(*a)
        print(S("{0.__class__}").format(1))
    """,
    ),
    case("format-numpy-str", 'import numpy as np\nprint(np.str_("{0.__class__}").format(1))'),
    case(
        "format-userstring",
        """
        import collections
        print(collections.UserString("{0.__class__}").format(1))
    """,
    ),
    case("format-getattr-format", 'print(getattr("{0.__class__}", "format")(1))'),
    case("format-type-format", 'print(type("").format("{0.__class__}", 1))'),
    case("fstring-attr", 'x = 1\nprint(f"{x.__class__.__base__}")'),
    case(
        "fstring-conversion-user-repr",
        """
        class A:
            def __repr__(self):
                return "safe"
        print(f"{A()!r}")
    """,
        expect=ANY,
    ),
    case("format-builtin-spec", 'print(format(1, "{0.__class__}"))'),
    case(
        "template-substitute",
        """
        import string
        print(string.Template("$a").substitute(a=print))
    """,
        expect=ANY,
    ),
    case("percent-format-mapping", 'print("%(a)s" % {"a": print})', expect=ANY),
    case(
        "numpy-printoptions-formatter",
        """
        import numpy as np
        np.set_printoptions(formatter={"all": "{0.__class__.__base__.__subclasses__}".format})
        print(np.arange(2))
    """,
    ),
]

NUMPY = [
    case(
        "np-ndarray-object-buffer",
        """
        import numpy as np
        a = np.ndarray((1,), dtype=object, buffer=bytearray(8))
        print("POLICY-BYPASS", a)
    """,
    ),
    case(
        "np-type-ndarray-object-buffer",
        """
        import numpy as np
        T = type(np.zeros(1))
        print("POLICY-BYPASS", T((1,), object, bytearray(8)))
    """,
    ),
    case(
        "np-ndarray-new-object-buffer",
        """
        import numpy as np
        a = np.ndarray.__new__(np.ndarray, (1,), object, bytearray(8))
        print("POLICY-BYPASS", a)
    """,
    ),
    case(
        "np-subclass-super-new-object-buffer",
        """
        import numpy as np
        class A(np.ndarray):
            def __new__(cls):
                return super().__new__(cls, (1,), object, bytearray(8))
        print("POLICY-BYPASS", A())
    """,
    ),
    case(
        "np-frombuffer-object-array",
        """
        import numpy as np
        o = np.array([1, "x"], dtype=object)
        print("POLICY-BYPASS", np.frombuffer(o, dtype=np.int64))
    """,
    ),
    case(
        "np-memoryview-cast-object",
        """
        import numpy as np
        o = np.array([1], dtype=object)
        print("POLICY-BYPASS", memoryview(o).cast("B").tolist())
    """,
    ),
    case("np-view-object", "import numpy as np\nprint(np.zeros(1, dtype=np.int64).view(object))"),
    case(
        "np-dtype-assign-object",
        """
        import numpy as np
        a = np.zeros(1, dtype=[("a", "i8")])
        a.dtype = np.dtype([("a", "O")])
    """,
    ),
    case(
        "np-getfield-object", "import numpy as np\nprint(np.zeros(2, np.int64).getfield(object, 0))"
    ),
    case(
        "np-overlapping-object-fields",
        """
        import numpy as np
        np.dtype({"names": ["a", "b"], "formats": ["O", "i8"], "offsets": [0, 0]})
    """,
    ),
    case("np-data-assign", "import numpy as np\na = np.empty(1, dtype=object)\na.data = b'A' * 8"),
    case(
        "np-void-object-bytes",
        """
        import numpy as np
        print(np.void(b"A" * 8, dtype=[("a", "O")]))  # stores the bytes object, forges no pointer
    """,
        expect=ANY,
    ),
    case(
        "np-recarray-object-buf",
        """
        import numpy as np
        print("POLICY-BYPASS", np.recarray((1,), dtype=[("a", "O")], buf=bytearray(8)))
    """,
    ),
    case("np-ctypes", "import numpy as np\nprint(np.zeros(1).ctypes.data)"),
    case("np-ctypes-getattr", 'import numpy as np\nprint(getattr(np.zeros(1), "ctypes"))'),
    case("np-array-interface", "import numpy as np\nprint(np.zeros(1).__array_interface__)"),
    case(
        "np-bitgen-ctypes",
        "import numpy as np\nprint(np.random.default_rng().bit_generator.ctypes)",
    ),
    case("np-bitgen-capsule", "import numpy as np\nprint(np.random.PCG64().capsule)"),
    case("np-load-pickle", "import numpy as np\nnp.load('x.npy', allow_pickle=True)"),
    case("np-save-absolute", "import numpy as np\nnp.save('@OUTSIDE@', np.zeros(1))", POLICY),
    case("np-save-dotdot", "import numpy as np\nnp.save('@DROP_REL@/x.npy', np.zeros(1))", POLICY),
    case(
        "np-savetxt-kw", "import numpy as np\nnp.savetxt(fname='@OUTSIDE@', X=np.zeros(1))", POLICY
    ),
    case("np-tofile-absolute", "import numpy as np\nnp.zeros(1).tofile('@OUTSIDE@')", POLICY),
    case(
        "np-tofile-unbound",
        "import numpy as np\nnp.ndarray.tofile(np.zeros(1), '@OUTSIDE@')",
        POLICY,
    ),
    case("np-tofile-bytes-path", "import numpy as np\nnp.zeros(1).tofile(b'@OUTSIDE@')", POLICY),
    case(
        "np-fromfile-host",
        "import numpy as np\nprint(np.fromfile('@HOST_FILE@', dtype='S1').tobytes())",
        POLICY,
    ),
    case("np-loadtxt-host", "import numpy as np\nprint(np.loadtxt('@CANARY@', dtype=str))", POLICY),
    case(
        "np-genfromtxt-host",
        "import numpy as np\nprint(np.genfromtxt('@CANARY@', dtype=str))",
        POLICY,
    ),
    case(
        "np-memmap-host",
        "import numpy as np\nprint(np.memmap('@CANARY@', mode='r').tobytes())",
        POLICY,
    ),
    case(
        "np-memmap-class-new",
        """
        import numpy as np
        m = np.memmap.__new__(np.memmap, '@CANARY@', mode='r')
        print(bytes(m))
    """,
        POLICY,
    ),
    case("np-load-url", "import numpy as np\nnp.loadtxt('http://127.0.0.1:@PORT@/x')", POLICY),
    case("np-dump", "import numpy as np\nnp.zeros(1).dump('@OUTSIDE@')", POLICY),
    case("np-dumps-pickle", "import numpy as np\nprint(np.zeros(1).dumps())"),
    case("np-bmat-frame", 'import numpy as np\nprint(np.bmat("print"))'),
    case(
        "np-frompyfunc-getattr",
        """
        import numpy as np
        f = np.frompyfunc(getattr, 2, 1)
        print(f(np.array([print], dtype=object), "__self__"))
    """,
    ),
    case(
        "np-vectorize-getattr",
        """
        import numpy as np
        print(np.vectorize(getattr, otypes=[object])([print], "__self__"))
    """,
    ),
    case(
        "np-seterrcall-writer",
        """
        import numpy as np
        class W:
            def write(self, msg):
                print("got", msg)
        np.seterrcall(W())
        np.seterr(all="log")
        np.float64(1) / 0
    """,
        ANY,
    ),
    case("np-memory-bomb-zeros", "import numpy as np\na = np.ones((100_000, 100_000))", LIMIT),
    case(
        "np-memory-bomb-incremental",
        """
        import numpy as np
        keep = []
        while True:
            keep.append(np.ones(10_000_000))
    """,
        LIMIT,
    ),
    case(
        "np-print-flood-threshold",
        """
        import numpy as np
        np.set_printoptions(threshold=10**9, linewidth=10**9)
        print(np.zeros(10_000_000))
    """,
        LIMIT,
    ),
]

MATPLOTLIB = [
    case(
        "mpl-savefig-absolute",
        """
        import matplotlib.pyplot as plt
        plt.plot([1, 2])
        plt.savefig("@OUTSIDE@.png")
    """,
        POLICY,
    ),
    case(
        "mpl-figure-savefig-dotdot",
        """
        import matplotlib.pyplot as plt
        fig = plt.figure()
        fig.savefig("@DROP_REL@/x.png")
    """,
        POLICY,
    ),
    case(
        "mpl-canvas-print-png",
        """
        import matplotlib.pyplot as plt
        fig = plt.figure()
        fig.canvas.print_png("@OUTSIDE@")
    """,
        POLICY,
    ),
    case(
        "mpl-canvas-print-figure-kw",
        """
        import matplotlib.pyplot as plt
        fig = plt.figure()
        fig.canvas.print_figure(filename="@OUTSIDE@.png")
    """,
        POLICY,
    ),
    case(
        "mpl-imread-host",
        "import matplotlib.pyplot as plt\nprint(plt.imread('@HOST_FILE@'))",
        POLICY,
    ),
    case(
        "mpl-imsave-absolute",
        """
        import numpy as np
        import matplotlib.pyplot as plt
        plt.imsave("@OUTSIDE@.png", np.zeros((2, 2)))
    """,
        POLICY,
    ),
    case(
        "mpl-rc-context-fname", "import matplotlib\nmatplotlib.rc_context(fname='@CANARY@')", POLICY
    ),
    case("mpl-rc-file", "import matplotlib\nmatplotlib.rc_file('@CANARY@')"),
    case(
        "mpl-style-use-path", "import matplotlib.pyplot as plt\nplt.style.use('@CANARY@')", POLICY
    ),
    case(
        "mpl-usetex-spawns",
        """
        import matplotlib
        import matplotlib.pyplot as plt
        matplotlib.rcParams["text.usetex"] = True
        plt.title("x")
        plt.gcf().canvas.draw()
    """,
    ),
    case(
        "mpl-fontproperties-host-file",
        """
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        fp = ax.text(0, 0, "x").get_fontproperties()
        fp.set_file("@HOST_FILE@")
        fig.canvas.draw()
    """,
    ),
    case(
        "mpl-figure-private-walk",
        """
        import matplotlib.pyplot as plt
        fig = plt.figure()
        print(fig.canvas._lastevent, fig._localaxes)
    """,
    ),
    case(
        "mpl-callback-registry-exception-handler",
        """
        import matplotlib.pyplot as plt
        fig = plt.figure()
        h = fig.canvas.callbacks.exception_handler
        print(getattr(h, "__globals__"))
    """,
    ),
]

RESOURCES = [
    case("infinite-loop", "while True:\n    pass", LIMIT),
    case("sleep-forever", "import time\ntime.sleep(60)", LIMIT),
    case("huge-int-power", "x = 10 ** 10 ** 8", LIMIT),
    case("huge-int-str", "print(str(10 ** 100000))", LIMIT),
    case("recursion", "def f(n):\n    return f(n + 1)\nf(0)", LIMIT),
    case(
        "recursion-repr",
        """
        class A:
            def __repr__(self):
                return repr(self)
        print(A())
    """,
        LIMIT,
    ),
    case("list-memory-bomb", "x = [0] * (10 ** 10)", LIMIT),
    case("bytes-memory-bomb", "x = b'x' * (10 ** 11)", LIMIT),
    case("string-doubling", "s = 'x'\nwhile True:\n    s += s", LIMIT),
    case("output-flood", "while True:\n    print('x' * 10000)", LIMIT),
    case(
        "output-flood-catch-all",
        """
        while True:
            try:
                print("y" * 100000)
            except BaseException:
                pass
    """,
        LIMIT,
    ),
    case(
        "exception-message-flood",
        "raise ValueError('x' * 10_000_000)",
        LIMIT,
    ),
    case("deep-nesting-source", "x = " + "(" * 100_000),
    case("deep-unary-source", "x = " + "-" * 100_000 + "1"),
    case("long-attr-chain-source", "a" + ".b" * 50_000),
    case("deep-list-literal", "x = " + "[" * 5_000 + "]" * 5_000),
    case(
        "recursion-in-str-of-exception",
        """
        class E(Exception):
            def __str__(self):
                return str(self)
        raise E()
    """,
        LIMIT,
    ),
    case(
        "file-count-flood",
        """
        import numpy as np
        for i in range(20_000):
            np.save(f"f{i}.npy", np.zeros(1))
        print("done")
    """,
        ANY,
    ),
    case(
        "gc-bomb-cycles",
        """
        class N:
            pass
        keep = []
        while True:
            a = N()
            a.me = a
            keep.append([a] * 1000)
    """,
        LIMIT,
    ),
]


# ------------------------------------------------------------------------ harness


@pytest.fixture(scope="module", params=["restricted", "jail"])
def redteam_sandbox(
    request: pytest.FixtureRequest, host_secret: str, canary: Canary
) -> Iterator[RestrictedSandbox]:
    require_backend(request.param)
    box = create_sandbox(request.param, limits=LIMITS, pool_size=1)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def contained(
    redteam_sandbox: RestrictedSandbox, host_secret: str, canary: Canary, host_listener: Listener
) -> Iterator[Containment]:
    checker = Containment(
        redteam_sandbox.name, redteam_sandbox, host_secret, canary, host_listener, os.getcwd()
    )
    yield checker
    canary.reset()
    host_listener.connections = 0
    host_listener.peers.clear()


def _outcome_problems(result: RunResult, expect: str, backend: str) -> list[str]:
    if backend == "jail":  # real CPython: may do what a policy refuses; limits still hold
        return ["a limit was due, the run succeeded"] if expect == LIMIT and result.ok else []
    found = []
    if MARKER in result.stdout or MARKER in result.stderr:
        found.append("the payload reached something the policy should have refused")
    if result.error is not None and result.error.kind == "crash":
        found.append("the worker crashed instead of refusing")
    if expect in (REFUSED, POLICY, LIMIT) and result.ok:
        found.append("the run succeeded, a refusal was expected")
    error = result.error
    if expect == POLICY and error is not None and error.message.startswith("[Errno"):
        found.append("only the kernel refused it: the policy let the path through")
    return found


# ------------------------------------------------------------------------ second red team (issue 10)

TEXT_SIGNATURE_CLASS = '''
    import numpy as np
    class C:
        """C(a=os.environ)
    --

    """
        def __call__(self, x):
            return x
    print(np.vectorize(C())([1]))
'''

ROUND_TWO = [
    case(
        "dataclass-field-rename-into-codegen",
        """
        import dataclasses
        @dataclasses.dataclass
        class A:
            a: int = 1
        f = dataclasses.fields(A)[0]
        f.name = "a=print('POLICY-BYPASS') or 1"
        @dataclasses.dataclass
        class B(A):
            b: int = 2
        B()
        """,
        POLICY,
    ),
    case(
        "dataclass-field-flags-rewrite",
        """
        import dataclasses
        @dataclasses.dataclass
        class A:
            a: int = 1
        for attr in ("init", "repr", "compare", "kw_only", "default"):
            try:
                setattr(dataclasses.fields(A)[0], attr, False)
                print("POLICY-BYPASS", attr)
            except AttributeError:
                pass
        raise SystemExit("all refused")
        """,
    ),
    case(
        "singledispatchmethod-super-real-base",
        """
        import functools
        S = functools.singledispatchmethod
        class M(S):
            def __init__(self, func):
                super(S, self).__init__(func)
        m = M(lambda self, x: 1)
        def g(x: "[c for c in ().__class__.__base__.__subclasses__()]"):
            pass
        m.dispatcher.register(g)
        print("POLICY-BYPASS")
        """,
        POLICY,
    ),
    case(
        "forward-ref-builtins-escape",
        """
        import functools
        @functools.singledispatch
        def f(x):
            pass
        @f.register
        def _(x: "().__class__.__base__"):
            pass
        print("POLICY-BYPASS", f.registry)
        """,
        POLICY,
    ),
    case("class-docstring-text-signature", TEXT_SIGNATURE_CLASS, ANY),
    case(
        "font-file-absolute-path",
        """
        import matplotlib.pyplot as plt
        plt.title("x", fontproperties={"fname": "@HOST_FILE@"})
        plt.gcf().canvas.draw()
        print("POLICY-BYPASS")
        """,
        POLICY,
    ),
    case(
        "font-file-existence-oracle",
        """
        import matplotlib.pyplot as plt
        FP = type(plt.text(0, 0, "x").get_fontproperties())
        messages = set()
        for path in ("/etc/passwd", "/etc/no-such-file-here"):
            try:
                FP(fname=path)
            except Exception as e:
                messages.add(str(e).replace(path, "P"))
        if len(messages) != 1:
            print("POLICY-BYPASS", messages)
        raise SystemExit(messages.pop())
        """,
    ),
    case(
        "library-class-monkeypatch",
        """
        import json
        json.JSONEncoder.default = lambda self, o: "POLICY-BYPASS"
        print(json.dumps(object(), cls=json.JSONEncoder))
        """,
        POLICY,
    ),
    case(
        "numpy-submodule-attribute",
        """
        import numpy as np
        print("POLICY-BYPASS", np.lib.stride_tricks.as_strided)
        """,
        POLICY,
    ),
    case(
        "mro-of-ndarray-subclass-raw-constructor",
        """
        import numpy as np
        class A(np.ndarray):
            pass
        for k in A.__mro__:
            try:
                k((1,), object, b"\\x01" * 8)
                print("POLICY-BYPASS", k)
            except TypeError:
                pass
        raise SystemExit("refused")
        """,
    ),
    case(
        "contextlib-chdir-then-relative-path",
        """
        import contextlib
        import numpy as np
        with contextlib.chdir("/"):
            print("POLICY-BYPASS", np.loadtxt("etc/hostname", dtype=str))
        """,
        POLICY,
    ),
    case(
        "io-open-file",
        """
        import io
        print("POLICY-BYPASS", io.open("@HOST_FILE@").read())
        """,
        POLICY,
    ),
    case(
        "bytesio-subclass-fileno",
        """
        import io
        import matplotlib.pyplot as plt
        class F(io.BytesIO):
            def fileno(self):
                return 0
        plt.plot([1])
        plt.savefig(F(), format="png")
        print("POLICY-BYPASS")
        """,
        POLICY,
    ),
]


ALL_CASES = ESCAPES + DUNDER_WALKS + GUARD_NAMES + MODULE_WALKS + FORMAT_STRINGS + NUMPY
ALL_CASES += MATPLOTLIB + RESOURCES + ROUND_TWO


@pytest.mark.parametrize("attempt", ALL_CASES)
def test_attempt_does_not_escape(attempt: Case, contained: Containment) -> None:
    code = contained.fill(attempt.code)
    result = contained.sandbox.run(code)
    problems = contained.problems(result)
    problems += _outcome_problems(result, attempt.expect, contained.backend)
    problems += contained.still_works()
    assert not problems, f"{attempt.id}: {problems}; {describe(result)}"


@pytest.mark.parametrize(
    "source",
    ["(" * 100_000, "-" * 100_000 + "1", "a" + ".b" * 100_000, "1" + "+1" * 100_000],
    ids=["parens", "unary", "attr-chain", "binop-chain"],
)
def test_host_preflight_survives_deep_source(
    source: str, redteam_sandbox: RestrictedSandbox
) -> None:
    """The host compiles code for preflight: crafted nesting must come back as a syntax error."""
    info = redteam_sandbox.preflight(source)
    assert info is not None and info.kind == "syntax", info
    after = redteam_sandbox.run("print(6 * 7)")
    assert after.ok and after.stdout == "42\n", describe(after)


# ------------------------------------------------------------------------ hostile worker

HOSTILE_WORKER = r"""
import json, os, sys
mode = sys.argv[1]
def send(payload):
    os.write(1, b"%d\n" % len(payload) + payload)
send(json.dumps({"op": "ready", "isolation": {"privileges_dropped": False}}).encode())
stream = os.fdopen(0, "rb")
while True:
    header = stream.readline()
    if not header:
        break
    json.loads(stream.read(int(header)))
    send(b'{"op":"accepted"}')
    if mode == "deep-array":
        send(b"[" * 200000 + b"]" * 200000)
    elif mode == "deep-field":
        send(b'{"op":"result","result":{"ok":true,"stdout":' + b"[" * 200000 + b"]" * 200000 + b"}}")
    elif mode == "huge-int":
        send(b'{"op":"result","result":{"ok":true,"error":{"lineno":' + b"9" * 100000 + b"}}}")
    elif mode == "wrong-types":
        send(b'{"op":"result","result":{"ok":true,"stdout":[1],"images":["eA=="],"limit_hit":[1]}}')
    elif mode == "not-object":
        send(b'[1, 2, 3]')
    elif mode == "nan":
        send(b'{"op":"result","result":{"ok":NaN,"limit_hit":{"a":1},"error":{"kind":[1]}}}')
"""


class HostileSandbox(RestrictedSandbox):
    """A restricted sandbox whose fork-server is fully compromised and answers with ``mode``."""

    mode = "deep-array"

    def _spawn(self) -> ForkServerProcess:
        return ForkServerProcess([sys.executable, "-c", HOSTILE_WORKER, self.mode], {})


@pytest.mark.parametrize(
    "mode",
    [
        "deep-array",
        "deep-field",
        "huge-int",
        "wrong-types",
        "not-object",
        "nan",
    ],
)
def test_host_survives_hostile_worker_reply(mode: str, host_secret: str) -> None:
    """A compromised worker can only make a run fail: run() returns a RunResult, no exception."""

    class Box(HostileSandbox):
        pass

    Box.mode = mode
    box = Box(limits=Limits(timeout_s=2), pool_size=1)
    try:
        result = box.run("print(1)")
        assert isinstance(result, RunResult)
        assert not result.ok and result.error is not None, describe(result)
        assert result.error.kind == "crash", describe(result)
    finally:
        box.close()


def test_runtime_policy_refusal_is_reported_as_policy(redteam_sandbox: RestrictedSandbox) -> None:
    """The self-healer acts on ``kind``: a path the policy refuses at run time is a policy error."""
    if redteam_sandbox.name != "restricted":
        pytest.skip("no policy in this backend: the kernel refuses the path")
    result = redteam_sandbox.run("import numpy as np\nnp.save('/tmp/x.npy', np.zeros(1))")
    assert result.error is not None, describe(result)
    assert result.error.kind == "policy", describe(result)
