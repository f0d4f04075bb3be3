"""The restricted policy in-process: its API, and normal but tricky code it must run unchanged.

The adversarial side is in test_policy_adversarial.py; both run the policy directly (no
worker), so they are fast and pin down the policy's own behaviour.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import sys
import traceback
from typing import Any

import pytest

from sandbox.restricted.policy import (
    DEFAULT_ALLOWED_IMPORTS,
    Policy,
    PolicyAttributeError,
    PolicyError,
    PolicyImportError,
    PolicyViolation,
    error_kind,
)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy()


def run(policy: Policy, source: str) -> tuple[dict[str, Any], str]:
    """Compile and exec ``source`` under the policy; its namespace and what it printed."""
    namespace = policy.new_namespace()
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(policy.compile(source), namespace)
    return namespace, output.getvalue()


def output_of(policy: Policy, source: str) -> str:
    return run(policy, source)[1]


# --------------------------------------------------------------------------- API


def test_compile_gives_code_named_user_and_registers_the_source_for_tracebacks(policy):
    source = "x = 1\ny = x + 1\n"
    code = policy.compile(source)
    assert code.co_filename == "<user>"
    assert linecache.getline("<user>", 2) == "y = x + 1\n"


def test_runtime_errors_point_at_the_users_line(policy):
    namespace = policy.new_namespace()
    with pytest.raises(ZeroDivisionError) as caught:
        exec(policy.compile("a = 1\nb = 0\nc = a / b\n"), namespace)
    frames = [f for f in traceback.extract_tb(caught.value.__traceback__) if f.filename == "<user>"]
    assert frames[-1].lineno == 3
    assert frames[-1].line == "c = a / b"


def test_syntax_errors_are_kind_syntax_with_line(policy):
    info = policy.check("x = 1\nif x\n    pass\n")
    assert info["kind"] == "syntax"
    assert info["type"] == "SyntaxError"
    assert info["lineno"] == 2
    with pytest.raises(PolicyViolation) as caught:
        policy.compile("x = 1\nif x\n    pass\n")
    assert caught.value.info == info


def test_compile_stage_syntax_errors_are_caught_too(policy):
    info = policy.check("x = 1\nreturn x\n")
    assert info["kind"] == "syntax"
    assert "outside function" in info["message"]


def test_refused_construct_is_kind_policy_and_names_what_was_refused(policy):
    info = policy.check("def f():\n    return 1\n\ng = f.__globals__\n")
    assert info["kind"] == "policy"
    assert info["lineno"] == 4
    assert "'__globals__'" in info["message"]
    assert "g = f.__globals__" in info["traceback"]


def test_blocked_import_names_the_module_and_lists_the_allowed_ones(policy):
    info = policy.check("import math\nimport os\n")
    assert info["kind"] == "import"
    assert info["type"] == "ImportError"
    assert info["lineno"] == 2
    assert "'os'" in info["message"]
    for allowed in ("math", "numpy", "collections"):
        assert allowed in info["message"]


def test_every_refusal_is_reported_not_just_the_first(policy):
    info = policy.check("import os\nx = ().__class__.__bases__\n")
    assert "'os'" in info["message"]
    assert "line 2" in info["message"] and "__bases__" in info["message"]


def test_check_returns_none_for_good_code_and_runs_nothing(policy):
    assert policy.check("print('side effect')\nimport math\n") is None


def test_namespaces_are_fresh_and_look_like_main(policy):
    first, second = policy.new_namespace(), policy.new_namespace()
    exec(policy.compile("x = 1"), first)
    assert "x" not in second
    assert first["__name__"] == "__main__"
    assert first["__builtins__"] is not second["__builtins__"]


def test_print_writes_to_whatever_stdout_is_at_call_time(policy):
    namespace = policy.new_namespace()
    exec(policy.compile("def hello():\n    print('hi', 2, sep='-')\n"), namespace)
    for _ in range(2):
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            namespace["hello"]()
        assert sink.getvalue() == "hi-2\n"


def test_allowed_imports_are_configurable(policy):
    small = Policy(allowed_imports=["math"])
    assert small.check("import math") is None
    info = small.check("import json")
    assert info["kind"] == "import"
    assert "allowed modules: math" in info["message"]
    assert "json" in DEFAULT_ALLOWED_IMPORTS


def test_a_host_side_policy_checks_without_preloading(policy):
    light = Policy(preload=False)
    assert light.check("import numpy as np\nnp.zeros(3)") is None
    assert light.check("import subprocess")["kind"] == "import"


def test_runtime_refusals_carry_their_kind(policy):
    with pytest.raises(PolicyAttributeError) as caught:
        run(policy, "getattr(len, '__self__')")
    assert error_kind(caught.value) == "policy"
    assert caught.value.info["kind"] == "policy"
    assert caught.value.info["type"] == "AttributeError"
    gate = policy.new_namespace()["__builtins__"]["__import__"]  # what import statements call
    with pytest.raises(PolicyImportError) as caught:
        gate("os", {}, {}, None, 0)
    assert error_kind(caught.value) == "import"
    assert "import of 'os' is not allowed" in caught.value.info["message"]


def test_missing_builtins_say_so(policy):
    for call in ("open('x')", "exec('1')", "compile('1', 'x', 'eval')", "input()", "vars()"):
        with pytest.raises(PolicyError, match="not available in the sandbox"):
            run(policy, call)


# --------------------------------------------------------------------------- benign code


def test_classes_with_dunders_private_state_and_super(policy):
    out = output_of(
        policy,
        """
class Base:
    def __init__(self, name):
        self._name = name
        self.__secret = 41          # name-mangled: _Base__secret
    def reveal(self):
        return self.__secret + 1

class Point(Base):
    def __init__(self, x, y):
        super().__init__("point")
        self.x, self.y = x, y
    def __repr__(self):
        return f"Point({self.x}, {self.y})"
    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)
    def __hash__(self):
        return hash((self.x, self.y))
    def __iter__(self):
        yield self.x
        yield self.y
    def __add__(self, other):
        return Point(self.x + other.x, self.y + other.y)
    def __lt__(self, other):
        return tuple(self) < tuple(other)
    def __len__(self):
        return 2
    def __getitem__(self, i):
        return (self.x, self.y)[i]

p = Point(1, 2) + Point(3, 4)
print(p, p == Point(4, 6), list(p), len(p), p[1], sorted([Point(2, 0), Point(1, 9)]))
print(p._name, p.reveal(), {p: 1}[Point(4, 6)], type(p).__name__, p.__class__.__name__)
print(hasattr(p, "_name"), getattr(p, "_missing", "default"))
setattr(p, "_extra", 5)
print(p._extra, Point.__init__ is not None, isinstance(Point, type), type(p) is Point)
""",
    )
    assert out.splitlines() == [
        "Point(4, 6) True [4, 6] 2 6 [Point(1, 9), Point(2, 0)]",
        "point 42 1 Point Point",
        "True default",
        "5 True True True",
    ]


def test_augmented_assignment_everywhere(policy):
    out = output_of(
        policy,
        """
class C:
    total = 0
    def __init__(self):
        self.n = 0
        self._p = 0
    def bump(self):
        self.n += 1
        self._p += 2
        C.total += 1
        type(self).total += 1
counts = {}
for w in "a b a c a".split():
    counts[w] = counts.get(w, 0)
    counts[w] += 1
grid = [[0, 0], [0, 0]]
grid[1][0] += 5
c = C(); c.bump(); c.bump()
x = 10
x //= 3
print(counts, grid, c.n, c._p, C.total, x)
""",
    )
    assert out == "{'a': 3, 'b': 1, 'c': 1} [[0, 0], [5, 0]] 2 4 4 3\n"


def test_augmented_assignment_evaluates_the_target_once(policy):
    out = output_of(
        policy,
        """
calls = []
class Box:
    def __init__(self):
        self.format = "a"
        self.items = [1]
boxes = [Box()]
def pick():
    calls.append(1)
    return boxes[0]
pick().format += "b"
pick().items[0] += 1
print(boxes[0].format, boxes[0].items, len(calls))
""",
    )
    assert out == "ab [2] 2\n"


def test_generators_closures_nonlocal_walrus_and_match(policy):
    out = output_of(
        policy,
        """
def counter():
    n = 0
    def inc():
        nonlocal n
        n += 1
        return n
    return inc
inc = counter(); inc()
def gen(k):
    for i in range(k):
        received = yield i
        if received:
            yield received
g = gen(3)
values = [next(g), g.send("x"), next(g)]
if (m := len(values)) > 2:
    values.append(m)
def describe(obj):
    match obj:
        case {"kind": "circle", "r": r}:
            return f"circle {r}"
        case [first, *rest] if rest:
            return f"list {first}+{len(rest)}"
        case Point(x=0, y=y):
            return f"on y axis at {y}"
        case Point(x, y):
            return f"point {x},{y}"
        case str() | bytes():
            return "text"
        case _:
            return "other"
from dataclasses import dataclass
@dataclass
class Point:
    x: int
    y: int
print(inc(), values, [describe(o) for o in ({"kind": "circle", "r": 2}, [1, 2, 3],
      Point(0, 5), Point(1, 2), "s", 3.0)])
""",
    )
    assert out == (
        "2 [0, 'x', 1, 3] ['circle 2', 'list 1+2', 'on y axis at 5', 'point 1,2', "
        "'text', 'other']\n"
    )


def test_format_strings_and_specs(policy):
    out = output_of(
        policy,
        """
class P:
    def __init__(self):
        self.x = 3
        self.tags = ["a", "b"]
p = P()
pi = 3.14159
template = "{p.x}-{p.tags[1]}"
print("{0:>8.2f}|{name}|{2[1]}|{3:{w}}|{1!r}".format(pi, "z", [0, 7], "q", name="n", w=3))
print(template.format(p=p), "{x}".format_map({"x": 1}), str.format("{}", 2), f"{pi:.1f} {p.x!r:>3}")
import string
print(string.Formatter().format("{0.x} {0.tags[0]}", p), "%s=%d" % ("k", 4))
""",
    )
    assert out.splitlines() == [
        "    3.14|n|7|q  |'z'",
        "3-b 1 2 3.1   3",
        "3 a k=4",
    ]


def test_exceptions_try_finally_and_context_managers(policy):
    out = output_of(
        policy,
        """
class AppError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code
class Managed:
    def __init__(self, log):
        self.log = log
    def __enter__(self):
        self.log.append("enter")
        return self
    def __exit__(self, kind, exc, tb):
        self.log.append(f"exit {kind.__name__ if kind else None}")
        return kind is KeyError
log = []
try:
    try:
        raise AppError("bad", 7)
    finally:
        log.append("finally")
except AppError as e:
    log.append(f"{e} {e.code} {e.args}")
with Managed(log):
    raise KeyError("swallowed")
try:
    raise ValueError("outer") from TypeError("inner")
except ValueError as e:
    log.append(type(e.__cause__).__name__)
print(log)
""",
    )
    assert out == "['finally', \"bad 7 ('bad',)\", 'enter', 'exit KeyError', 'TypeError']\n"


def test_stdlib_modules_work(policy):
    out = output_of(
        policy,
        """
from collections import Counter, defaultdict, deque, namedtuple, OrderedDict
import collections.abc
import itertools, functools, operator, heapq, bisect, json, re, math, cmath, statistics
import datetime, calendar, decimal, fractions, hashlib, base64, uuid, copy, textwrap, string
import array, time, random
Pair = namedtuple("Pair", "a b")
pair = Pair(1, 2)
d = defaultdict(list); d["k"].append(1)
h = [5, 1, 3]; heapq.heapify(h)
xs = [1, 4]; bisect.insort(xs, 2)
@functools.lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def deco(f):
    @functools.wraps(f)
    def wrapper(*a, **k):
        return f(*a, **k) * 2
    return wrapper
@deco
def seven():
    "doc"
    return 7
random.seed(1)
print(Counter("abca").most_common(1), pair._asdict(), pair._replace(a=9), Pair._fields)
print(dict(d), heapq.heappop(h), xs, fib(30), seven(), seven.__name__, seven.__doc__)
print(json.dumps({"a": [1, 2]}), re.findall(r"\\d+", "a1b22"), math.gcd(12, 18), cmath.sqrt(-1))
print(statistics.mean([1, 2, 3]), calendar.month_name[1], decimal.Decimal("1.10") + 1)
print(fractions.Fraction(1, 3) * 3, hashlib.sha256(b"x").hexdigest()[:8], base64.b64encode(b"hi"))
print(len(str(uuid.uuid4())), copy.deepcopy({"a": [1]}), textwrap.dedent("  x"), string.ascii_lowercase[:3])
print(list(itertools.islice(itertools.count(), 3)), functools.reduce(operator.add, [1, 2, 3]))
print(sorted([{"n": 2}, {"n": 1}], key=operator.itemgetter("n")), operator.attrgetter("a")(pair))
print(isinstance([], collections.abc.Iterable), array.array("i", [1, 2]).tolist(), time.time() > 0)
print(datetime.date(2024, 1, 2) + datetime.timedelta(days=1), deque([1, 2], maxlen=2))
print(random.randint(1, 6) in range(1, 7), OrderedDict(a=1))
""",
    )
    lines = out.splitlines()
    assert lines[0] == "[('a', 2)] {'a': 1, 'b': 2} Pair(a=9, b=2) ('a', 'b')"
    assert lines[1] == "{'k': [1]} 1 [1, 2, 4] 832040 14 seven doc"
    assert lines[2] == "{\"a\": [1, 2]} ['1', '22'] 6 1j"
    assert lines[3] == "2 January 2.10"
    assert lines[4] == "1 2d711642 b'aGk='"
    assert lines[5] == "36 {'a': [1]} x abc"
    assert lines[9] == "2024-01-03 deque([1, 2], maxlen=2)"


def test_typing_dataclasses_and_enums(policy):
    out = output_of(
        policy,
        """
from __future__ import annotations
from typing import Optional, Generic, TypeVar, NamedTuple, Protocol, TypedDict
from dataclasses import dataclass, field, asdict, replace
import enum
T = TypeVar("T")
count: int = 0
class Stack(Generic[T]):
    def __init__(self) -> None:
        self._items: list[T] = []
    def push(self, item: T) -> Optional[T]:
        self._items.append(item)
        return None
@dataclass(frozen=True)
class Item:
    name: str
    qty: int = 1
    tags: list = field(default_factory=list)
    def __post_init__(self):
        object.__setattr__(self, "name", self.name.upper())
@dataclass(slots=True)
class Slotted:
    _hidden: int = 3
    def peek(self):
        return self._hidden
class Coord(NamedTuple):
    x: int
    y: int = 0
class Movie(TypedDict):
    title: str
class Color(enum.Enum):
    RED = enum.auto()
    GREEN = enum.auto()
    @classmethod
    def _missing_(cls, value):
        return cls.RED
class Perm(enum.Flag):
    R = 4
    W = 2
s = Stack(); s.push(1)
item = Item("bolt", 2)
print(item, asdict(item), replace(item, qty=5).qty, Slotted().peek(), Coord(1)._asdict())
print(Color(99), Color.GREEN.value, Color["RED"].name, list(Color.__members__), Perm.R | Perm.W)
print(Movie(title="x"), s._items, count)
""",
    )
    assert out.splitlines() == [
        "Item(name='BOLT', qty=2, tags=[]) {'name': 'BOLT', 'qty': 2, 'tags': []} 5 3 {'x': 1, 'y': 0}",
        "Color.RED 2 RED ['RED', 'GREEN'] Perm.R|W",
        "{'title': 'x'} [1] 0",
    ]


def test_classmethods_staticmethods_properties_slots_and_new(policy):
    out = output_of(
        policy,
        """
class Registry:
    _instances = {}
    __slots__ = ("_name",)
    def __new__(cls, name):
        if name not in cls._instances:
            obj = super().__new__(cls)
            obj._name = name
            cls._instances[name] = obj
        return cls._instances[name]
    @property
    def name(self):
        return self._name
    @classmethod
    def count(cls):
        return len(cls._instances)
    @staticmethod
    def normalise(s):
        return s.strip().lower()
a, b = Registry("a"), Registry("a")
class Temperature:
    def __init__(self):
        self._c = 0.0
    @property
    def celsius(self):
        return self._c
    @celsius.setter
    def celsius(self, value):
        if value < -273.15:
            raise ValueError("too cold")
        self._c = value
t = Temperature(); t.celsius = 21.5
print(a is b, a.name, Registry.count(), Registry.normalise(" X "), t.celsius, dir(a)[:2])
""",
    )
    assert out == "True a 1 x 21.5 ['_instances', '_name']\n"


def test_singledispatch_and_operator_helpers(policy):
    out = output_of(
        policy,
        """
from functools import singledispatch
import operator
@singledispatch
def show(x):
    return "thing"
@show.register
def _(x: int):
    return "int"
@show.register(str)
def _(x):
    return "str"
class P:
    def __init__(self):
        self.inner = self
        self.v = 3
print(show(1), show("a"), show(1.5), operator.attrgetter("inner.v")(P()),
      operator.methodcaller("upper")("ab"))
""",
    )
    assert out == "int str thing 3 AB\n"


def test_numpy_math_and_files_in_the_work_dir(policy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = output_of(
        policy,
        """
import numpy as np
from numpy import array
from numpy.linalg import norm
a = array([[1.0, 2.0], [3.0, 4.0]])
b = np.linalg.inv(a) @ a
rng = np.random.default_rng(0)
sample = rng.normal(size=1000)
np.save("data.npy", a)
np.savetxt("data.txt", a)
back = np.load("data.npy")
text = np.loadtxt("data.txt")
a.tofile("raw.bin")
raw = np.fromfile("raw.bin")
class Tagged(np.ndarray):
    def __new__(cls, values, tag=None):
        obj = np.asarray(values).view(cls)
        obj.tag = tag
        return obj
    def __array_finalize__(self, obj):
        self.tag = getattr(obj, "tag", None)
t = Tagged([1, 2, 3], tag="t")
objects = np.array([1, "a", None], dtype=object)
buf = np.ndarray((2,), dtype=np.int64, buffer=bytearray(16))
records = np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]).view(np.recarray)
records.a[1] = 7
mapped = np.memmap("mapped.dat", dtype=np.float32, mode="w+", shape=(3,))
mapped[:] = 1.5
mapped.flush()
grown = np.zeros(2)
grown.resize(3)
class Img:
    def resize(self, n):
        return n * 2
assert Img().resize(2) == 4 and grown.shape == (3,)
assert isinstance(records, np.recarray) and isinstance(mapped, np.memmap)
assert type(records) is np.recarray and type(mapped) is np.memmap
print(np.allclose(b, np.eye(2)), round(float(norm([3, 4])), 1), abs(sample.mean()) < 0.2)
print(back.sum(), text.shape, raw.size, (t * 2).tag, isinstance(t, np.ndarray), type(a) is np.ndarray)
print(objects[1], buf.tolist(), np.fft.fft(np.ones(4))[0].real, np.__version__ > "2")
print(records.a.tolist(), np.fromfile("mapped.dat", dtype=np.float32).tolist())
""",
    )
    assert out.splitlines() == [
        "True 5.0 True",
        "10.0 (2, 2) 4 t True True",
        "a [0, 0] 4.0 True",
        "[0, 7] [1.5, 1.5, 1.5]",
    ]
    assert (tmp_path / "data.npy").exists()


def test_plotting_with_pyplot(policy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = output_of(
        policy,
        """
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 6, 50)
fig, ax = plt.subplots()
ax.plot(x, np.sin(x), label="sin")
ax.set_title("{} wave".format("sine"))
ax.legend()
plt.style.use("ggplot")
fig.savefig("plot.png")
plt.savefig("again.png", dpi=50)
plt.show()
print(len(plt.get_fignums()), plt.cm.viridis(0.5)[3], plt.rcParams["lines.linewidth"] > 0)
plt.close("all")
""",
    )
    assert out == "1 1.0 True\n"
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_main_guard_and_user_functions_named_like_missing_builtins(policy):
    out = output_of(
        policy,
        """
def open(path):
    return f"opened {path}"
def main():
    print(open("x"), __name__)
if __name__ == "__main__":
    main()
""",
    )
    assert out == "opened x __main__\n"


def test_enum_hook_names_and_private_names_are_fine_where_they_belong(policy):
    out = output_of(
        policy,
        """
import enum
class Mode(enum.Enum):
    _ignore_ = ["tmp"]
    def _generate_next_value_(name, start, count, last_values):
        return name.lower()
    FAST = enum.auto()
    SLOW = enum.auto()
class Planet(enum.Enum):
    EARTH = (5.97e24, 6.37e6)
    def __init__(self, mass, radius):
        self._mass = mass
    def __new__(cls, mass, radius):
        obj = object.__new__(cls)
        obj._value_ = mass
        return obj
_cache = {}
def remember(key, _default=None):
    _cache[key] = _default
    return _cache
print(Mode.FAST.value, Planet.EARTH.value > 1, Planet.EARTH._value_ > 1, remember("k", 1))
""",
    )
    assert out == "fast True True {'k': 1}\n"


def test_star_args_unpacking_and_comprehensions(policy):
    out = output_of(
        policy,
        """
def f(*args, **kwargs):
    return args, kwargs
a, *rest = range(4)
(x, y), z = (1, 2), 3
opts = {"k": 1}
pairs = {k: v for k, v in zip("ab", range(2))}
nested = [[i * j for j in range(3)] for i in range(2)]
print(f(*rest, **opts), x + y + z, pairs, nested, {i % 2 for i in range(5)}, *rest, sep="|")
""",
    )
    assert out == "((1, 2, 3), {'k': 1})|6|{'a': 0, 'b': 1}|[[0, 0, 0], [0, 1, 2]]|{0, 1}|1|2|3\n"


def test_sys_modules_untouched_by_policy_imports(policy):
    before = set(sys.modules)
    run(policy, "import math, numpy, json")
    assert set(sys.modules) == before
