"""Escape attempts against the policy itself (in-process, no worker).

Every case asserts the refusal (at compile time or as a PolicyError at run time) and that the
thing it was after stayed out of reach: a canary env value never printed, a canary file never
written, no module or frame object ever handed to the code.
"""

from __future__ import annotations

import os
import sys
import types

import pytest

from sandbox.restricted.policy import (
    Policy,
    PolicyError,
    PolicyImportError,
    PolicyViolation,
)
from tests.sandbox.test_policy import run

SECRET = "canary-secret-7f3a9"
ESCAPED = (PolicyViolation, PolicyError)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_POLICY_CANARY", SECRET)


def refused(
    policy: Policy, source: str, match: str | None = None, also: tuple[type, ...] = ()
) -> BaseException:
    """Run ``source``; it must be refused, print nothing secret, and leak no capability.

    ``also``: other exceptions that count as refused (a proxy simply lacking an attribute).
    """
    namespace: dict = {}
    with pytest.raises(ESCAPED + also, match=match) as caught:
        namespace, output = run(policy, source)
        assert SECRET not in output
    leaked = [
        name
        for name, value in namespace.items()
        if isinstance(value, types.ModuleType | types.FrameType | types.CodeType)
        or value is os.environ
    ]
    assert not leaked
    return caught.value


def refused_at_compile(policy: Policy, source: str, match: str | None = None) -> dict:
    info = policy.check(source)
    assert info is not None, "expected a compile-time refusal"
    if match:
        assert match in info["message"], info["message"]
    return info


# --------------------------------------------------------------------------- dunder walks


@pytest.mark.parametrize(
    "source",
    [
        "().__class__.__bases__[0].__subclasses__()",
        "object.__subclasses__()",
        "(lambda: 0).__globals__['__builtins__']",
        "(lambda: 0).__code__.co_consts",
        "print.__self__",
        "len.__self__.open",
        "def f(): pass\nf.__closure__",
        "int.__dict__",
        "x = [].__reduce_ex__(2)",
        "object.__getattribute__(1, '__class__')",
        "__builtins__",
        "__import__('os')",
        "__loader__",
        "x = 1\nx.__class__ = int",
        "class A:\n    pass\nA.__init__.__globals__",
    ],
)
def test_dunder_walks_are_refused_at_compile_time(policy, source):
    assert refused_at_compile(policy, source)["kind"] == "policy"


@pytest.mark.parametrize(
    "source",
    [
        "getattr(getattr((), '__class__'), '__base__')",
        "getattr(lambda: 0, '__glob' + 'als__')",
        "getattr(print, '__self__')",
        "setattr(lambda: 0, '__code__', None)",
        "delattr(int, '__doc__')",
        "class S(str):\n    def startswith(self, p):\n        return False\n"
        "getattr(lambda: 0, S('__globals__'))",
        "import operator\noperator.attrgetter('__globals__')(lambda: 0)",
        "import operator\noperator.methodcaller('__reduce_ex__', 2)([])",
        "import functools\nfunctools.reduce(getattr, ['__init__', '__globals__'], object())",
        "super(int, 1).__getattribute__('__class__')",
        "type(1).__mro__",
        "import random\nrandom.Random.mro()",
    ],
)
def test_dynamic_dunder_access_is_refused_at_run_time(policy, source):
    refused(policy, source)


def test_hasattr_and_getattr_default_treat_refusals_as_missing(policy):
    _, out = run(
        policy,
        "f = lambda: 0\nprint(hasattr(f, '__globals__'), getattr(f, '__globals__', 'none'))",
    )
    assert out == "False none\n"


# --------------------------------------------------------------------------- format strings


@pytest.mark.parametrize(
    "source",
    [
        "print('{0.__class__}'.format(1))",
        "print('{0.__init__.__globals__}'.format(lambda: 0))",
        "print('{f.__globals__[__builtins__]}'.format(f=lambda: 0))",
        "print('{f.__globals__}'.format_map({'f': lambda: 0}))",
        "print(str.format('{0.__globals__}', lambda: 0))",
        "fmt = '{0.__globals__}'.format\nprint(fmt(lambda: 0))",
        "print(getattr(str, 'format')('{0.__globals__}', lambda: 0))",
        "print('{0:{1.__class__}}'.format(1, 2))",
        "import string\nprint(string.Formatter().format('{0.__globals__}', lambda: 0))",
        "import string\nprint(string.Formatter().vformat('{0._x}', [1], {}))",
        "import collections\nprint(collections.UserString('{0.__globals__}').format(lambda: 0))",
        "import operator\nprint(operator.methodcaller('format', lambda: 0)('{0.__globals__}'))",
        "class S(str):\n    pass\nprint(super(S, S('{0.__globals__}')).format(lambda: 0))",
        "import functools\nprint(functools.partial(str.format, '{0.__globals__}')(lambda: 0))",
    ],
)
def test_format_string_attribute_walks_are_refused(policy, source):
    refused(policy, source, match="'_")


def test_string_formatter_subclass_cannot_reach_the_real_formatter(policy):
    refused(
        policy,
        """
import string
class F(string.Formatter):
    def get_field(self, name, args, kwargs):
        return super().get_field(name, args, kwargs)
print(F().format("{0.__globals__}", lambda: 0))
""",
    )
    refused(policy, "import string\nstring.Formatter()._vformat('{0}', [1], {}, set(), 2)")


# --------------------------------------------------------------------------- frames


@pytest.mark.parametrize(
    "source",
    [
        "def g():\n    yield 1\nx = g()\nprint(x.gi_frame.f_back.f_globals)",
        "def g():\n    yield 1\nprint(getattr(g(), 'gi_frame'))",
        "def g():\n    yield 1\nprint(g().gi_code)",
        "def g():\n    yield from range(3)\nx = g(); next(x)\nprint(x.gi_yieldfrom)",
        "try:\n    1 / 0\nexcept Exception as e:\n    print(e.__traceback__.tb_frame.f_globals)",
        "try:\n    1 / 0\nexcept Exception as e:\n    print(getattr(e, '__traceback__'))",
        "def f():\n    x = 1\n    return lambda: x\nprint(f().__closure__[0].cell_contents)",
        "def g():\n    yield 1\nx = g()\nprint(getattr(getattr(x, 'gi' + '_frame'), 'f_locals'))",
        "async def c():\n    pass",
        "def g():\n    yield 1\nprint([y.gi_frame for y in [g()]])",
    ],
)
def test_frame_walks_are_refused(policy, source):
    if policy.check(source) is None:
        refused(policy, source)
    else:
        assert policy.check(source)["kind"] == "policy"


# --------------------------------------------------------------------------- modules


@pytest.mark.parametrize(
    "source",
    [
        "import random\nprint(random._os.environ)",
        "import random\nprint(getattr(random, '_os'))",
        "import statistics\nprint(statistics.sys.modules)",
        "import typing\nprint(typing.sys.modules['os'].environ)",
        "import re\nprint(re.enum.sys)",
        "import json\nprint(json.decoder)",
        "import dataclasses\nprint(dataclasses.sys)",
        "import numpy as np\nprint(np.ctypeslib)",
        "import numpy as np\nprint(np.lib.stride_tricks.as_strided)",
        "import numpy as np\nprint(np.testing)",
        "import matplotlib\nprint(matplotlib.os)",
        "import matplotlib\nprint(matplotlib.Path('/etc/passwd'))",
        "import matplotlib.pyplot as plt\nprint(plt.sys)",
        "import matplotlib.pyplot as plt\nprint(plt.backend_registry)",
        "import typing\nprint(typing.get_type_hints)",
        "import uuid\nprint(uuid.getnode())",
        "import copy\nprint(copy.dispatch_table)",
        "import enum\nprint(enum.global_enum)",
        "import calendar\nprint(calendar.global_enum)",
        "import collections\nprint(collections.Counter._keep_positive)",
        "import random\nprint(random.Random._randbelow)",
        "import random\nclass R(random.Random):\n    def peek(self):\n        return self._randbelow\n"
        "print(R().peek())",
        "import random\nclass R(random.Random):\n    def peek(self):\n        return super()._randbelow\n"
        "print(R().peek())",
        "import math\nmath.pi = 3",
        "import math\ndel math.pi",
        "import math\nobject.__setattr__(math, 'pi', 3)",
        "import math\nsetattr(math, 'sqrt', print)",
        "import random\nrandom.Random._x = 1",
        "import string\nstring.Formatter.get_field = lambda *a: None",
    ],
)
def test_module_walks_and_mutations_are_refused(policy, source):
    if policy.check(source) is None:
        refused(policy, source, also=(AttributeError,))


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import os", "os"),
        ("import sys", "sys"),
        ("import subprocess as sp", "subprocess"),
        ("from os import path", "os"),
        ("import importlib", "importlib"),
        ("import numpy.lib", "numpy.lib"),
        ("import ctypes", "ctypes"),
        ("import socket", "socket"),
        ("import ｏｓ", "os"),  # fullwidth letters normalise to "os"
        ("from . import x", ""),
    ],
)
def test_blocked_imports_say_which_module(policy, source, module):
    info = refused_at_compile(policy, source)
    assert info["kind"] == "import"
    assert f"'{module}'" in info["message"] or "relative" in info["message"]


def test_from_import_cannot_fall_back_to_real_submodules(policy):
    info = refused_at_compile(policy, "from numpy import lib")
    assert info["kind"] == "import"
    gate = policy.new_namespace()["__builtins__"]["__import__"]
    with pytest.raises(PolicyImportError):
        gate("numpy", {}, {}, ("lib",), 0)
    namespace, _ = run(policy, "from random import *\nfrom numpy import *\nx = sqrt(4.0)")
    assert namespace["x"] == 2.0
    leaked = [k for k, v in namespace.items() if isinstance(v, types.ModuleType) or k[:1] == "_"]
    assert leaked == ["__name__", "__doc__", "__builtins__"]


def test_imported_modules_are_proxies_without_module_objects(policy):
    namespace, _ = run(policy, "import numpy, matplotlib.pyplot as plt, typing, statistics")
    pending = [namespace[n] for n in ("numpy", "plt", "typing", "statistics")]
    visited: set[int] = set()
    while pending:
        proxy = pending.pop()
        if id(proxy) in visited:
            continue
        visited.add(id(proxy))
        assert not isinstance(proxy, types.ModuleType)
        for value in vars(proxy).values():
            assert not isinstance(value, types.ModuleType)
            if type(value) is type(proxy):
                pending.append(value)
    assert len(visited) > 10


def _raw_numpy_classes() -> tuple[type, ...]:
    import numpy

    return (numpy.ndarray, numpy.memmap, numpy.recarray)


_RAW_NUMPY_CLASSES = _raw_numpy_classes()


def _dangerous(obj: object) -> bool:
    if isinstance(obj, types.ModuleType | types.FrameType | types.CodeType | types.CellType):
        return True
    if isinstance(obj, type) and issubclass(obj, type):
        return True  # a metaclass: dynamic class creation
    if any(obj is raw for raw in _RAW_NUMPY_CLASSES):
        return True  # constructors over raw memory
    return isinstance(obj, dict) and ("__builtins__" in obj or "__import__" in obj)


def test_nothing_reachable_from_proxies_is_a_module_frame_code_or_metaclass(policy):
    """A bounded walk, as user code would do it, over everything the proxies hand out."""
    namespace, _ = run(policy, "import " + ", ".join(sorted(policy.allowed_imports)))
    getattr_ = namespace["__builtins__"]["getattr"]  # the guarded getattr user code gets
    frontier = [(v, 0) for k, v in namespace.items() if not k.startswith("__")]
    seen: set[int] = set()
    bad = []
    while frontier:
        obj, depth = frontier.pop()
        if id(obj) in seen or depth > 3:
            continue
        seen.add(id(obj))
        if _dangerous(obj):
            bad.append(obj)
            continue
        if isinstance(obj, dict | list | tuple | set | frozenset):
            items = list(obj.values()) if isinstance(obj, dict) else list(obj)
            frontier.extend((item, depth + 1) for item in items[:200])
            continue
        try:
            names = [n for n in dir(obj) if not n.startswith("_")]
        except Exception:  # noqa: BLE001 - odd objects
            continue
        for name in names[:400]:
            try:
                value = getattr_(obj, name)
            except Exception:  # noqa: BLE001 - refused, or a property that raises
                continue
            if not isinstance(value, str | int | float | bytes | bool | type(None)):
                frontier.append((value, depth + 1))
    assert len(seen) > 2000
    assert not bad, bad[:5]


def test_exceptions_from_library_internals_do_not_hand_out_their_objects(policy):
    """A library's failed ``getattr(module, x)`` puts the real module into AttributeError.obj,
    which reaches the code through ``except ... as e`` or a context manager's ``__exit__``."""
    source = (
        "import numpy as np\n"
        "class Catch:\n    def __enter__(self):\n        return self\n"
        "    def __exit__(self, kind, exc, tb):\n        self.exc, self.tb = exc, tb\n"
        "        return True\n"
        "with Catch() as c:\n    np.dtype('float64').type.nope\n"
        "try:\n    np.random.default_rng().nope\nexcept AttributeError as e:\n    err = e\n"
    )
    namespace, _ = run(policy, source)
    assert isinstance(namespace["c"].exc, AttributeError)
    refused(policy, source + "print(c.exc.obj)")
    refused(policy, source + "print(err.obj)")
    refused(policy, source + "print(getattr(err, 'obj'))")
    refused(policy, source + "print(c.tb.tb_frame)")
    refused(policy, source + "print(AttributeError.obj.__get__(err))")
    refused(policy, source + "print(type(err).obj.__get__(err))")
    _, out = run(
        policy,
        "class A:\n    def __init__(self):\n        self.obj = 5\n"
        "try:\n    A().missing\nexcept AttributeError as e:\n    print(e.obj.obj, e.name)",
    )
    assert out == "5 missing\n"


def test_cython_functions_do_not_leak_their_globals(policy):
    refused(policy, "import numpy as np\nprint(np.random.seed.func_globals['__builtins__'])")
    refused(policy, "import numpy as np\nprint(np.random.default_rng().normal.func_globals)")
    refused(policy, "import numpy as np\nprint(getattr(np.random.seed, 'func_code'))")
    _, out = run(policy, "class A:\n    func_x = 1\n    im_y = 2\na = A()\nprint(a.func_x, a.im_y)")
    assert out == "1 2\n"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "source",
    [
        "_getattr_ = lambda o, n: 1",
        "def _write_(o, n):\n    return o",
        "def f():\n    global _getprivate_\n    _getprivate_ = 1",
        "import math as _getattr_",
        "for _getiter_ in range(2):\n    pass",
        "(_selfok_ := True)",
        "_pureview_ = {}",
        "class A:\n    _getattr_ = 1",
        "f = lambda _getattr_: _getattr_",
        "try:\n    pass\nexcept Exception as _write_:\n    pass",
        "match 1:\n    case _getattr_:\n        pass",
        "def f(*, _call_format_=1):\n    pass",
        "__name__ = 'x'",
        "__builtins__ = {}",
        "class A:\n    __slots__ = ['__dict__']",
        "class A:\n    __match_args__ = ('__globals__',)",
        "class A:\n    for __slots__ in [()]:\n        pass",
    ],
)
def test_guard_names_and_reserved_names_cannot_be_bound(policy, source):
    assert refused_at_compile(policy, source)["kind"] == "policy"


@pytest.mark.parametrize(
    "name",
    [
        "__getattr__",
        "__getattribute__",
        "__reduce__",
        "__reduce_ex__",
        "__del__",
        "__init_subclass__",
        "__class_getitem__",
        "__set_name__",
        "__array_interface__",
        "__array_struct__",
        "__fspath__",
        "__getstate__",
        "__setstate__",
    ],
)
def test_dangerous_dunder_methods_cannot_be_defined(policy, name):
    info = refused_at_compile(policy, f"class A:\n    def {name}(self, *a):\n        return 1\n")
    assert name in info["message"]
    info = refused_at_compile(policy, f"class A:\n    {name} = {{'data': (0, False)}}\n")
    assert name in info["message"]


def test_metaclass_keyword_and_three_argument_type_are_refused(policy):
    refused_at_compile(policy, "class M:\n    pass\nclass A(metaclass=M):\n    pass")
    refused_at_compile(policy, "kw = {}\nclass A(**kw):\n    pass")
    refused(policy, "X = type('X', (), {'__array_interface__': {}})", match="type\\(\\)")
    refused(policy, "X = type(type)('X', (), {})", match="type\\(\\)")
    refused(policy, "X = int.__class__('X', (), {})", match="type\\(\\)")
    refused(policy, "import typing\nT = typing.get_origin(typing.Type)\nT('X', (), {})")
    refused(policy, "import enum\nE = type(enum.Enum)\nE('X', (), {})")
    _, out = run(policy, "print(type(int) is type, type(type) is type, isinstance(int, type))")
    assert out == "True True True\n"


def test_enum_functional_api_cannot_set_dunder_or_private_names(policy):
    refused(policy, "import enum\nenum.Enum('E', {'__array_interface__': {'data': (0, 0)}})")
    refused(policy, "import enum\nenum.Enum('E', [('_x', 1)])")
    _, out = run(policy, "import enum\nE = enum.Enum('E', 'A B')\nprint(E.B.value)")
    assert out == "2\n"


def test_dataclass_and_singledispatch_do_not_exec_or_eval_code_strings(policy):
    refused(
        policy,
        "from typing import TypedDict\nfrom dataclasses import dataclass\n"
        "T = TypedDict('T', {'x=print(1) or 1': int})\ndataclass(T)",
        match="dataclass",
    )
    refused(
        policy,
        "from functools import singledispatch\n@singledispatch\ndef f(x):\n    pass\n"
        "def g(x: \"print('evaluated')\"):\n    pass\nf.register(g)",
        match="string annotations",
    )
    refused(
        policy,
        "import functools\ndef f():\n    pass\nclass W:\n    pass\n"
        "functools.update_wrapper(W(), f, assigned=('__globals__',))",
    )


def test_unicode_lookalikes_normalise_before_the_checks(policy):
    refused_at_compile(policy, "x = ().__ｃlass__.__ｂases__")  # fullwidth letters
    refused_at_compile(policy, "_ｇetattr_ = 1")
    _, out = run(policy, "print(hasattr(len, '__ｓelf__'), hasattr(len, '__self__'))")
    assert out == "False False\n"


# --------------------------------------------------------------------------- builtins


@pytest.mark.parametrize(
    "source",
    [
        "open('/etc/passwd')",
        "eval('x')",
        "eval('__import__(\"os\")')",
        "exec('import os')",
        "compile('1', 'x', 'eval')",
        "globals()",
        "locals()",
        "vars()",
        "breakpoint()",
        "input()",
        "exit()",
        "print('x', file=None or [])",
    ],
)
def test_missing_builtins_refuse(policy, source):
    refused(policy, source)


def test_private_attributes_of_foreign_objects_are_refused(policy):
    refused(policy, "import collections\nc = collections.Counter()\nprint(c._keep_positive)")
    refused(policy, "print([]._x)")
    refused(
        policy,
        "class A:\n    def peek(self, other):\n        return other._secret\n"
        "import random\nprint(A().peek(random.Random()))",
    )
    refused(
        policy,
        "class A:\n    def peek(self):\n        return self._x\n"
        "import random\nprint(A.peek(random.Random()))",
    )
    refused(
        policy,
        "class A:\n    def peek(self, other):\n        self = other\n        return self._inst\n"
        "import random\nprint(A().peek(random))",
    )
    refused(
        policy,
        "class A:\n    def peek(self, others):\n        return [self._x for self in others]\n"
        "import random\nprint(A().peek([random.Random()]))",
    )
    refused(policy, "import re\nre.I._value_ = 0")
    registered = (
        "import random, collections.abc\nfrom dataclasses import dataclass\n"
        "@dataclass\nclass P(collections.abc.Hashable):\n    _inst: int = 0\n"
        "    __hash__ = None\nP.register(random.Random)\n"
        "match random.Random():\n    case P(found):\n        print(found)\n"
    )
    with pytest.raises(TypeError, match="accepts 0 positional"):
        run(policy, registered)  # the private field is not in __match_args__
    refused_at_compile(policy, "class P:\n    __match_args__ = ('_inst',)")
    refused(policy, "import random\nr = random.Random()\nr._x = 1")
    refused(policy, "import random\nr = random.Random()\nsetattr(r, '_x', 1)")


# --------------------------------------------------------------------------- numpy doors


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nnp.ndarray((2,), dtype=object, buffer=bytearray(16))",
        "import numpy as np\nnp.ndarray((2,), dtype=[('a', 'O')], buffer=bytearray(16))",
        "import numpy as np\no = np.array([1, 'a'], dtype=object)\n"
        "np.ndarray((16,), dtype=np.uint8, buffer=o)",
        "import numpy as np\no = np.array([1, 'a'], dtype=object)\nnp.frombuffer(o, dtype=np.uint8)",
        "import numpy as np\no = np.array([1, 'a'], dtype=object)\nmemoryview(o).cast('B')",
        "import numpy as np\no = np.array([1, 'a'], dtype=object)\no.data.cast('B')",
        "import numpy as np\no = np.array([1, 'a'], dtype=object)\nmemoryview.cast(o.data, 'B')",
        "import numpy as np\nnp.recarray((2,), dtype=[('a', 'O')], buf=bytearray(16))",
        "import numpy as np\nnp.memmap('m.dat', dtype=object, mode='w+', shape=(2,))",
        "import numpy as np\ntype(np.zeros(1))((2,), object, bytearray(16))",
        "import numpy as np\nnp.zeros(1).__class__((2,), object, bytearray(16))",
        "import numpy as np\nnp.ndarray.__new__(np.ndarray, (2,), object, bytearray(16))",
        "import numpy as np\nsuper(np.matrix, np.matrix).__new__(np.matrix, (2,), object, bytearray(16))",
        "import numpy as np\nclass M(np.ndarray):\n    pass\nM((2,), object, bytearray(16))",
        "import numpy as np\nclass M(np.ndarray):\n    def __new__(cls, *a):\n"
        "        return super().__new__(cls, (2,), object, bytearray(16))\nM()",
        "import numpy as np\nclass M(np.memmap):\n    pass\nM('m.dat', dtype=object, mode='w+', shape=(2,))",
        "import numpy as np\nclass R(np.recarray):\n    pass\nR((2,), dtype=[('a', 'O')], buf=bytearray(16))",
        "import numpy as np\nnp.recarray.__new__(np.recarray, (2,), [('a', 'O')], bytearray(16))",
        "import numpy as np\nr = np.zeros(1, dtype=[('a', 'i8')]).view(np.recarray)\n"
        "type(r)((2,), [('a', 'O')], bytearray(16))",
        "import numpy as np\nimport typing\nR = typing.Type.mro(np.ndarray)[1]",
        "import numpy as np\no = np.array([1, 2, 3], dtype=object)\no.strides = (4,)",
        "import numpy as np\no = np.zeros((2, 2), dtype=object)\nsetattr(o, 'strides', (8, 8))",
        "import numpy as np\no = np.zeros(2, dtype=object)\nobject.__setattr__(o, 'strides', (4,))",
        "import numpy as np\no = np.zeros(2, dtype=object)\nnp.ndarray.strides.__set__(o, (4,))",
        "import numpy as np\nnp.ndarray((3,), dtype=object, strides=(4,))",
        "import numpy as np\nnp.recarray((2,), dtype=[('a', 'O')], strides=(4,))",
        "import numpy as np\na = np.zeros(4)\nv = a[:2]\na.resize(10**6, refcheck=False)",
        "import numpy as np\na = np.zeros(4)\nnp.ndarray.resize(a, 10**6, refcheck=False)",
        "import numpy as np\nnp.zeros(3).ctypes",
        "import numpy as np\nnp.random.default_rng().bit_generator.ctypes",
        "import numpy as np\nnp.random.default_rng().bit_generator.capsule",
        "import numpy as np\nnp.zeros(3).dumps()",
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
        "import numpy as np\nnp.bmat('__builtins__')",
        "import numpy as np\nnp.DataSource()",
        "import numpy as np\nnp.test()",
        "import numpy as np\nnp.linalg.test()",
        "import numpy as np\ngetattr(np.zeros(2), '__array_interface__')",
    ],
)
def test_numpy_raw_memory_and_pickle_doors_are_closed(policy, source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if policy.check(source) is None:
        refused(policy, source, also=(AttributeError,))  # a door may simply be absent


@pytest.mark.parametrize(
    "call",
    [
        "np.save('{outside}', np.zeros(2))",
        "np.save('../escape.npy', np.zeros(2))",
        "np.savetxt('{outside}', np.zeros(2))",
        "np.zeros(2).tofile('{outside}')",
        "np.ndarray.tofile(np.zeros(2), '{outside}')",
        "np.zeros(2).dump('{outside}')",
        "np.memmap('{outside}', mode='w+', shape=(2,))",
        "np.savez('{outside}', a=np.zeros(2))",
        "plt.savefig('{outside}')",
        "plt.figure().savefig('{outside}')",
        "plt.figure().canvas.print_png('{outside}')",
        "plt.imsave('{outside}', np.zeros((2, 2)))",
        "plt.imshow(np.zeros((2, 2))).write_png('{outside}')",
        "np.save(b'{outside}', np.zeros(2))",
        "np.save('~/escape.npy', np.zeros(2))",
    ],
)
def test_file_writes_outside_the_work_dir_are_refused(policy, call, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    outside = tmp_path / "canary.out"
    source = "import numpy as np\nimport matplotlib.pyplot as plt\n" + call.format(outside=outside)
    refused(policy, source)
    assert not outside.exists()
    assert not (tmp_path / "escape.npy").exists()


@pytest.mark.parametrize(
    "call",
    [
        "np.loadtxt('{secret}')",
        "np.genfromtxt('{secret}')",
        "np.fromfile('{secret}')",
        "np.load('{secret}')",
        "np.loadtxt('../secret.txt')",
        "np.loadtxt('http://127.0.0.1:9/x')",
        "plt.imread('{secret}')",
        "plt.style.use('{secret}')",
        "plt.rc_context(fname='{secret}')",
    ],
)
def test_file_reads_outside_the_work_dir_are_refused(policy, call, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    secret = tmp_path / "secret.txt"
    secret.write_text(f"1 2\n# {SECRET}\n")
    source = (
        "import numpy as np\nimport matplotlib.pyplot as plt\nprint("
        + call.format(secret=secret)
        + ")"
    )
    refused(policy, source)


@pytest.mark.parametrize(
    "call",
    [
        "np.fromfile(Fd())",
        "np.zeros(2).tofile(Fd())",
        "np.memmap(Fd(), mode='r')",
        "plt.figure().savefig(Fd())",
        "plt.imread(Fd())",
    ],
)
def test_objects_naming_a_file_descriptor_are_refused(policy, call, tmp_path, monkeypatch):
    """numpy's fromfile/tofile/memmap and Pillow use ``fileno()`` of a file-like object
    directly: any descriptor of the worker (its protocol channel) could be named."""
    monkeypatch.chdir(tmp_path)
    source = (
        "import numpy as np\nimport matplotlib.pyplot as plt\n"
        "class Fd:\n    mode = 'rb'\n    def fileno(self):\n        return 0\n"
        "    def read(self, n=-1):\n        return b''\n    def write(self, b):\n        return len(b)\n"
        "    def flush(self):\n        pass\n    def seek(self, *a):\n        return 0\n"
        "    def tell(self):\n        return 0\n"
    )
    refused(policy, source + call, match="file name")


def test_symlinks_out_of_the_work_dir_are_refused(policy, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret.txt").write_text("1 2\n")
    (work / "link.txt").symlink_to(tmp_path / "secret.txt")
    monkeypatch.chdir(work)
    refused(policy, "import numpy as np\nprint(np.loadtxt('link.txt'))", match="outside")


def test_matplotlib_backend_cannot_be_switched_to_import_a_module(policy):
    absent = (AttributeError,)
    refused(policy, "import matplotlib\nmatplotlib.use('module://os')", also=absent)
    refused(
        policy, "import matplotlib.pyplot as plt\nplt.switch_backend('module://os')", also=absent
    )
    _, out = run(
        policy,
        "import matplotlib.pyplot as plt\n"
        "plt.rcParams['backend'] = 'module://sandbox_canary_backend'\n"
        "plt.figure(); plt.show(); plt.close('all'); print('ok')",
    )
    assert out == "ok\n"
    assert "sandbox_canary_backend" not in sys.modules


def test_print_and_proxies_do_not_hand_out_stdout_or_files(policy):
    refused(policy, "print('x', file=print)")
    refused_at_compile(policy, "print.__globals__")
