"""Normal but tricky code that must just work, with exactly CPython's output, on every backend.

Stock RestrictedPython refuses much of this (underscore attributes of the user's own classes,
augmented assignment to items, format specs...); a sandbox that is safe by refusing real code is
not useful, so each program here must run and print exactly what plain CPython prints.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.sandbox.conftest import describe

PROGRAMS: dict[str, tuple[str, str]] = {}


def program(name: str, expected: str, code: str) -> None:
    PROGRAMS[name] = (textwrap.dedent(code).strip() + "\n", textwrap.dedent(expected).lstrip("\n"))


program(
    "dunder_methods",
    """
    Vec(1, 2) + Vec(3, 4) = Vec(4, 6)
    True False
    [1, 2] 2 2
    True
    hash ok
    """,
    """
    class Vec:
        def __init__(self, x, y):
            self.x = x
            self.y = y
        def __repr__(self):
            return f"Vec({self.x}, {self.y})"
        def __add__(self, other):
            return Vec(self.x + other.x, self.y + other.y)
        def __eq__(self, other):
            return isinstance(other, Vec) and (self.x, self.y) == (other.x, other.y)
        def __hash__(self):
            return hash((self.x, self.y))
        def __iter__(self):
            yield self.x
            yield self.y
        def __len__(self):
            return 2
        def __getitem__(self, i):
            return (self.x, self.y)[i]
        def __lt__(self, other):
            return (self.x, self.y) < (other.x, other.y)
        def __bool__(self):
            return bool(self.x or self.y)
    a, b = Vec(1, 2), Vec(3, 4)
    print(f"{a!r} + {b!r} = {a + b!r}")
    print(a == Vec(1, 2), a == b)
    print(list(a), len(a), a[1])
    print(sorted([b, a])[0] == a)
    print("hash ok" if len({a, Vec(1, 2)}) == 1 else "hash broken")
    """,
)

program(
    "private_attributes_of_own_classes",
    """
    3
    1 2
    """,
    """
    class Counter:
        def __init__(self):
            self._count = 0
        def bump(self):
            self._count += 1
            return self
        def _helper(self):
            return self._count
    c = Counter().bump().bump().bump()
    print(c._helper())
    class Pair:
        def __init__(self, a, b):
            self._a, self._b = a, b
    p = Pair(1, 2)
    print(p._a, p._b)
    """,
)

program(
    "name_mangled_private_attributes",
    """
    secret
    100
    """,
    """
    class Account:
        def __init__(self, balance):
            self.__balance = balance
            self.__owner = "secret"
        def owner(self):
            return self.__owner
        def balance(self):
            return self.__balance
    a = Account(100)
    print(a.owner())
    print(a.balance())
    """,
)

program(
    "inheritance_and_super",
    """
    Dog Rex says Woof
    Animal init ran: True
    Puppy Bit says Yip (a Dog says Woof)
    True True
    """,
    """
    class Animal:
        kind = "Animal"
        def __init__(self, name):
            self.name = name
            self.initialised = True
        def speak(self):
            return "..."
        def describe(self):
            return f"{self.kind} {self.name} says {self.speak()}"
    class Dog(Animal):
        kind = "Dog"
        def __init__(self, name):
            super().__init__(name)
        def speak(self):
            return "Woof"
    class Puppy(Dog):
        kind = "Puppy"
        def speak(self):
            return f"Yip (a Dog says {super().speak()})"
    d = Dog("Rex")
    print(d.describe())
    print("Animal init ran:", d.initialised)
    print(Puppy("Bit").describe())
    print(isinstance(Puppy("x"), Animal), issubclass(Puppy, Dog))
    """,
)

program(
    "dataclasses",
    """
    Point(x=1, y=2)
    Inventory(items=[], owner='me')
    [] ['a']
    frozen
    [Version(major=1, minor=2), Version(major=1, minor=10), Version(major=2, minor=0)]
    True
    """,
    """
    from dataclasses import dataclass, field, FrozenInstanceError
    @dataclass
    class Point:
        x: int
        y: int = 0
    @dataclass
    class Inventory:
        items: list = field(default_factory=list)
        owner: str = "me"
    @dataclass(frozen=True, order=True)
    class Version:
        major: int
        minor: int
    print(Point(1, 2))
    print(Inventory())
    a, b = Inventory(), Inventory()
    b.items.append("a")
    print(a.items, b.items)
    try:
        Version(1, 0).major = 3
    except FrozenInstanceError:
        print("frozen")
    print(sorted([Version(2, 0), Version(1, 10), Version(1, 2)]))
    print(Version(1, 2) < Version(1, 10))
    """,
)

program(
    "generators",
    """
    [0, 1, 1, 2, 3, 5, 8, 13]
    [1, 2, 3, 10, 20]
    got 5
    285
    """,
    """
    def fib():
        a, b = 0, 1
        while True:
            yield a
            a, b = b, a + b
    def take(n, it):
        out = []
        for v in it:
            if len(out) == n:
                break
            out.append(v)
        return out
    print(take(8, fib()))
    def inner():
        yield 1
        yield 2
        yield 3
    def outer():
        yield from inner()
        yield from (10, 20)
    print(list(outer()))
    def echo():
        received = yield
        yield f"got {received}"
    g = echo()
    next(g)
    print(g.send(5))
    print(sum(x * x for x in range(10)))
    """,
)

program(
    "closures_and_nonlocal",
    """
    1 2 3
    [0, 1, 4]
    11
    """,
    """
    def make_counter():
        count = 0
        def step():
            nonlocal count
            count += 1
            return count
        return step
    c = make_counter()
    print(c(), c(), c())
    funcs = [lambda x, i=i: x * i for i in range(3)]
    print([f(i) for i, f in enumerate(funcs)])
    def adder(n):
        return lambda x: x + n
    print(adder(10)(1))
    """,
)

program(
    "match_statement",
    """
    origin
    on the x axis at 3
    point 1,2
    list of 3 starting with 1
    dict with name Ada
    other
    """,
    """
    from dataclasses import dataclass
    @dataclass
    class P:
        x: int
        y: int
    def where(value):
        match value:
            case (0, 0):
                return "origin"
            case (x, 0):
                return f"on the x axis at {x}"
            case P(x, y):
                return f"point {x},{y}"
            case [first, *rest] if len(rest) == 2:
                return f"list of 3 starting with {first}"
            case {"name": name}:
                return f"dict with name {name}"
            case _:
                return "other"
    for v in [(0, 0), (3, 0), P(1, 2), [1, 2, 3], {"name": "Ada"}, "x"]:
        print(where(v))
    """,
)

program(
    "walrus_and_comprehensions",
    """
    [4, 16]
    {'a': 1, 'b': 2}
    {0, 1, 4}
    found 7
    [(1, 'a'), (2, 'b')]
    """,
    """
    data = [1, 2, 3, 4]
    print([y for x in data if (y := x * x) % 2 == 0])
    print({k: v for k, v in zip("ab", [1, 2])})
    print({x * x for x in range(-2, 3)})
    if (n := 7) > 5:
        print("found", n)
    print([(i, c) for i, c in enumerate("ab", start=1)])
    """,
)

program(
    "format_strings_and_specs",
    """
          3.14|3.14      |
    hello Ada, 0042, 1,234,567.89
    b
    3 4
    0x1f 0b101 12.50% 1.23e+03
    [left    ][  mid   ][   right]
    Ada is 36
    """,
    """
    print("{:>10.2f}|{:<10.2f}|".format(3.14159, 3.14159))
    name = "Ada"
    print(f"hello {name}, {42:04d}, {1234567.891:,.2f}")
    print("{0[1]}".format(["a", "b"]))
    class P:
        def __init__(self):
            self.x, self.y = 3, 4
    print("{p.x} {p.y}".format(p=P()))
    print(f"{31:#x} {5:#b} {0.125:.2%} {1234.5:.2e}")
    print(f"[{'left':<8}][{'mid':^8}][{'right':>8}]")
    print("{name} is {age}".format_map({"name": "Ada", "age": 36}))
    """,
)

program(
    "augmented_assignment",
    """
    {'a': 3, 'b': 1}
    5
    [10, 2, 3]
    [[1, 5], [0, 0]]
    6
    abcabc
    """,
    """
    counts = {}
    for k in "aab" + "a":
        counts[k] = counts.get(k, 0)
    for k in "aba" + "a":
        counts[k] += 1
    counts["a"] -= 0
    print(counts)
    class Acc:
        def __init__(self):
            self.n = 0
    acc = Acc()
    for i in range(5):
        acc.n += 1
    print(acc.n)
    xs = [1, 2, 3]
    xs[0] *= 10
    print(xs)
    grid = [[1, 0], [0, 0]]
    grid[0][1] += 5
    print(grid)
    total = 0
    for i in range(4):
        total += i
    print(total)
    s = "abc"
    s *= 2
    print(s)
    """,
)

program(
    "exceptions",
    """
    caught ValueError('bad')
    finally ran
    InsufficientFunds('need 50 more') 50
    'missing'
    chained True
    else ran
    """,
    """
    try:
        raise ValueError("bad")
    except (TypeError, ValueError) as e:
        print("caught", repr(e))
    finally:
        print("finally ran")
    class BankError(Exception):
        pass
    class InsufficientFunds(BankError):
        def __init__(self, missing):
            super().__init__(f"need {missing} more")
            self.missing = missing
    try:
        raise InsufficientFunds(50)
    except BankError as e:
        print(repr(e), e.missing)
    try:
        {}["missing"]
    except LookupError as e:
        print(e)
    try:
        try:
            1 / 0
        except ZeroDivisionError as e:
            raise RuntimeError("wrapped") from e
    except RuntimeError as e:
        print("chained", isinstance(e, RuntimeError))
    try:
        pass
    except Exception:
        print("no")
    else:
        print("else ran")
    """,
)

program(
    "context_managers",
    """
    enter
    body
    exit True
    suppressed
    ['open', 'close']
    """,
    """
    class Tracker:
        def __init__(self, log):
            self.log = log
        def __enter__(self):
            print("enter")
            return self
        def __exit__(self, exc_type, exc, tb):
            print("exit", exc_type is ValueError)
            return True
    with Tracker([]) as t:
        print("body")
        raise ValueError("x")
    print("suppressed")
    log = []
    class Resource:
        def __enter__(self):
            log.append("open")
        def __exit__(self, *exc_info):
            log.append("close")
    try:
        with Resource(), Resource():
            raise KeyError("k")
    except KeyError:
        pass
    print(log[:1] + log[-1:])
    """,
)

program(
    "numpy_math",
    """
    [5. 7. 9.]
    32.0
    [[19 22]
     [43 50]]
    2.5 1.118
    [0 2 4]
    (2, 3) 6
    """,
    """
    import numpy as np
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([4.0, 5.0, 6.0])
    print(a + b)
    print(a @ b)
    m = np.array([[1, 2], [3, 4]])
    print(m @ np.array([[5, 6], [7, 8]]))
    v = np.array([1, 2, 3, 4])
    print(v.mean(), round(float(v.std()), 3))
    print(np.arange(6)[::2])
    z = np.zeros((2, 3))
    print(z.shape, z.size)
    """,
)

program(
    "collections_module",
    """
    [('a', 3), ('b', 2)]
    {'x': [1, 2]}
    deque([0, 1, 2], maxlen=3)
    Point(x=1, y=2) 3
    OrderedDict([('b', 2), ('a', 1)])
    """,
    """
    from collections import Counter, defaultdict, deque, namedtuple, OrderedDict
    print(Counter("abacab").most_common(2))
    d = defaultdict(list)
    d["x"].append(1)
    d["x"].append(2)
    print(dict(d))
    q = deque([1, 2], maxlen=3)
    q.appendleft(0)
    print(q)
    Point = namedtuple("Point", "x y")
    p = Point(1, 2)
    print(p, p.x + p.y)
    print(OrderedDict([("b", 2), ("a", 1)]))
    """,
)

program(
    "itertools_functools",
    """
    [(1, 'a'), (1, 'b'), (2, 'a'), (2, 'b')]
    [1, 3, 6, 10]
    ['AB', 'AC', 'BC']
    a 3
    b 1
    354224848179261915075
    24
    8
    """,
    """
    import itertools
    import functools
    print(list(itertools.product([1, 2], "ab")))
    print(list(itertools.accumulate([1, 2, 3, 4])))
    print(["".join(c) for c in itertools.combinations("ABC", 2)])
    for key, group in itertools.groupby("aaab"):
        print(key, len(list(group)))
    @functools.lru_cache(maxsize=None)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    print(fib(100))
    print(functools.reduce(lambda x, y: x * y, range(1, 5)))
    power_of_two = functools.partial(pow, 2)
    print(power_of_two(3))
    """,
)

program(
    "heapq_bisect",
    """
    [1, 2, 3]
    [5, 4]
    2 [1, 2, 4, 5]
    """,
    """
    import heapq
    import bisect
    h = []
    for x in [3, 1, 2]:
        heapq.heappush(h, x)
    print([heapq.heappop(h) for _ in range(3)])
    print(heapq.nlargest(2, [1, 5, 3, 4]))
    xs = [1, 2, 5]
    i = bisect.bisect_left(xs, 4)
    bisect.insort(xs, 4)
    print(i, xs)
    """,
)

program(
    "json_re_datetime",
    """
    {"a": [1, 2], "b": null}
    True
    ['2024-01-05', '2023-12-31']
    2024-01-05 Friday
    2024-02-04
    """,
    """
    import json
    import re
    import datetime
    data = {"a": [1, 2], "b": None}
    text = json.dumps(data)
    print(text)
    print(json.loads(text) == data)
    print(re.findall(r"\\d{4}-\\d{2}-\\d{2}", "on 2024-01-05 and 2023-12-31"))
    day = datetime.date(2024, 1, 5)
    print(day.isoformat(), day.strftime("%A"))
    print(day + datetime.timedelta(days=30))
    """,
)

program(
    "decimal_fractions_enum",
    """
    0.3
    1/3 5/6
    Color.RED 1 GREEN
    [<Color.RED: 1>, <Color.GREEN: 2>]
    """,
    """
    from decimal import Decimal
    from fractions import Fraction
    from enum import Enum
    print(Decimal("0.1") + Decimal("0.2"))
    print(Fraction(1, 3), Fraction(1, 2) + Fraction(1, 3))
    class Color(Enum):
        RED = 1
        GREEN = 2
    print(Color.RED, Color.RED.value, Color(2).name)
    print(list(Color))
    """,
)

program(
    "typing_annotations",
    """
    [1, 2]
    3
    Box(7)
    """,
    """
    from typing import Generic, Optional, TypeVar
    T = TypeVar("T")
    def first_two(xs: list[int]) -> list[int]:
        return xs[:2]
    def add(a: int, b: Optional[int] = None) -> int:
        return a + (b or 0)
    class Box(Generic[T]):
        def __init__(self, item: T) -> None:
            self.item = item
        def __repr__(self) -> str:
            return f"Box({self.item})"
    count: int = 0
    print(first_two([1, 2, 3]))
    print(add(1, 2))
    print(Box[int](7))
    """,
)

program(
    "sorting_and_unpacking",
    """
    [('bob', 25), ('al', 30)]
    ['a', 'bb', 'ccc']
    1 [2, 3] 4
    [1, 2, 3, 4]
    {'a': 1, 'b': 3}
    a=1 b=2
    """,
    """
    people = [("al", 30), ("bob", 25)]
    print(sorted(people, key=lambda p: p[1]))
    print(sorted(["ccc", "a", "bb"], key=len))
    first, *middle, last = [1, 2, 3, 4]
    print(first, middle, last)
    print([*[1, 2], *(3, 4)])
    print({**{"a": 1, "b": 2}, "b": 3})
    def show(a, b):
        return f"a={a} b={b}"
    print(show(**{"a": 1, "b": 2}))
    """,
)

program(
    "globals_recursion_bigints",
    """
    3
    55
    1267650600228229401496703205376
    120
    """,
    """
    calls = 0
    def bump():
        global calls
        calls += 1
    for _ in range(3):
        bump()
    print(calls)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    print(fib(10))
    print(2 ** 100)
    def fact(n):
        return 1 if n == 0 else n * fact(n - 1)
    print(fact(5))
    """,
)

program(
    "string_methods",
    """
    Hello, World
    ['a', 'b', 'c']
    a-b-c
    True True
    xxhixx
    3
    dlrow
    """,
    """
    print("hello, world".title())
    print("a,b,c".split(","))
    print("-".join(["a", "b", "c"]))
    print("abc".startswith("a"), "ABC".isupper())
    print("hi".center(6, "x"))
    print("banana".count("a"))
    print("world"[::-1])
    """,
)

program(
    "class_and_static_methods_properties",
    """
    Temp(100.0)
    212.0
    True
    37.5
    """,
    """
    class Temp:
        def __init__(self, celsius):
            self._c = celsius
        @classmethod
        def from_fahrenheit(cls, f):
            return cls((f - 32) * 5 / 9)
        @staticmethod
        def valid(c):
            return c > -273.15
        @property
        def fahrenheit(self):
            return self._c * 9 / 5 + 32
        @property
        def celsius(self):
            return self._c
        @celsius.setter
        def celsius(self, value):
            self._c = value
        def __repr__(self):
            return f"Temp({self._c})"
    t = Temp.from_fahrenheit(212)
    print(t)
    print(t.fahrenheit)
    print(Temp.valid(0))
    t.celsius = 37.5
    print(t.celsius)
    """,
)

program(
    "main_guard",
    """
    main ran
    """,
    """
    def main():
        print("main ran")
    if __name__ == "__main__":
        main()
    """,
)

program(
    "math_random_statistics",
    """
    3.0 6 1.4142
    2.5 1.5
    True
    """,
    """
    import math
    import random
    import statistics
    print(math.sqrt(9), math.factorial(3), round(math.sqrt(2), 4))
    print(statistics.mean([1, 2, 3, 4]), statistics.median([1, 2]))
    rng = random.Random(42)
    values = [rng.random() for _ in range(5)]
    print(all(0 <= v < 1 for v in values))
    """,
)

program(
    "matplotlib_plot",
    """
    plotted 3 points
    """,
    """
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 4, 9], label="squares")
    ax.set_title("Squares")
    ax.legend()
    print("plotted", len(ax.lines[0].get_xdata()), "points")
    """,
)

program(
    "iteration_protocols",
    """
    [3, 2, 1]
    [(0, 'a'), (1, 'b')]
    [1, 2, 3]
    {'a': 1}
    6
    """,
    """
    class Countdown:
        def __init__(self, start):
            self.current = start
        def __iter__(self):
            return self
        def __next__(self):
            if self.current <= 0:
                raise StopIteration
            self.current -= 1
            return self.current + 1
    print(list(Countdown(3)))
    print(list(enumerate("ab")))
    it = iter([1, 2, 3])
    print([next(it), next(it), next(it)])
    print(dict([("a", 1)]))
    print(sum(map(int, "123")))
    """,
)


program(
    "library_attributes_real_code_sets",
    """
    (2, 3) False [5, 6, 7] 80
    40 6 list
    1/7 = 0.14285714285714285714
    red 4 P(x=4)
    """,
    """
    import calendar, collections, dataclasses, decimal, enum, textwrap
    import numpy as np
    import matplotlib.pyplot as plt
    a = np.zeros(6)
    a.shape = (2, 3)
    a.flags.writeable = False
    r = np.zeros(3, dtype=[("x", int), ("y", float)]).view(np.recarray)
    r.x = [5, 6, 7]
    fig, ax = plt.subplots()
    fig.dpi = 80
    ax.xaxis.labelpad = 4
    print(a.shape, a.flags.writeable, r.x.tolist(), round(fig.dpi))
    plt.close(fig)
    w = textwrap.TextWrapper()
    w.width = 40
    c = calendar.TextCalendar()
    c.firstweekday = 6
    d = collections.defaultdict(int)
    d.default_factory = list
    print(w.width, c.firstweekday, d["k"].__class__.__name__)
    with decimal.localcontext() as ctx:
        ctx.prec = 20
        print("1/7 =", decimal.Decimal(1) / 7)
    class Color(enum.Enum):
        RED = 1
        def __init__(self, value):
            self.label = "red"
    class Shape:
        sides = 0
    class Square(Shape):
        def __init__(self):
            self.sides += 4
    @dataclasses.dataclass(frozen=True)
    class P:
        x: int
        def __post_init__(self):
            object.__setattr__(self, "x", self.x * 2)
    print(Color.RED.label, Square().sides, P(2))
    """,
)

program(
    "offered_modules_and_hierarchies",
    """
    ['a,1', 'b,2'] [{'x': '1', 'y': '2'}]
    True LATIN SMALL LETTER A True (1, 'a') captured
    4 [1, 0, 3] True
    ['B', 'A', 'object'] ['B', 'A', 'object']
    int str other
    """,
    """
    from __future__ import annotations
    import abc, contextlib, csv, functools, io, numbers, queue, stat, unicodedata
    import numpy.ma as ma
    buf = io.StringIO()
    csv.writer(buf).writerows([["a", 1], ["b", 2]])
    print(buf.getvalue().split(), list(csv.DictReader(io.StringIO("x,y\\n1,2\\n"))))
    q = queue.PriorityQueue()
    q.put((2, "b"))
    q.put((1, "a"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print("captured")
    print(isinstance(1, numbers.Integral), unicodedata.name("a"), stat.S_ISDIR(0o040755),
          q.get(), out.getvalue().strip())
    m = ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    class Base(abc.ABC):
        @abc.abstractmethod
        def f(self): ...
    try:
        Base()
    except TypeError:
        abstract = True
    print(m.sum(), m.filled(0).tolist(), abstract)
    class A:
        pass
    class B(A):
        pass
    print([k.__name__ for k in B.mro()], [k.__name__ for k in B.__mro__])
    @functools.singledispatch
    def kind(x):
        return "other"
    @kind.register
    def _(x: int):
        return "int"
    @kind.register
    def _(x: str):
        return "str"
    print(kind(1), kind("s"), kind(1.5))
    """,
)


def test_programs_match_cpython():
    """The expected outputs are CPython's own: checked here, in the host, without a sandbox."""
    import contextlib
    import io

    wrong = {}
    for name, (code, expected) in PROGRAMS.items():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, "<benign>", "exec"), {"__name__": "__main__"})
        if buffer.getvalue() != expected:
            wrong[name] = buffer.getvalue()
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:
        pass
    assert wrong == {}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_benign_program_runs_exactly(sandbox, name):
    code, expected = PROGRAMS[name]
    result = sandbox.run(code)
    assert result.ok, describe(result)
    assert result.stdout == expected, describe(result)


def test_benign_program_in_a_session_across_runs(sandbox):
    """A class defined in one run is usable in the next, with its private state intact."""
    define = "class Stack:\n    def __init__(self):\n        self._items = []\n" + (
        "    def push(self, x):\n        self._items.append(x)\n"
        "    def __len__(self):\n        return len(self._items)\nstack = Stack()\n"
    )
    assert sandbox.run(define, session_id="benign-stack").ok
    assert sandbox.run("stack.push(1)\nstack.push(2)", session_id="benign-stack").ok
    result = sandbox.run("print(len(stack), stack._items)", session_id="benign-stack")
    assert result.stdout == "2 [1, 2]\n", describe(result)
