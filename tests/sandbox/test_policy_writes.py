"""Attribute writes: free on the code's own objects, allow-listed on library objects.

A library object's public state can reach generated source (``dataclasses.Field.name`` ends up
in the ``__init__`` that dataclasses ``exec``s, where a default runs with the real builtins),
so every write (``=``, augmented assignment, ``del``, ``setattr``, ``object.__setattr__``)
to a library object is refused unless the attribute is on the reviewed allow-list.
"""

from __future__ import annotations

import pytest

from sandbox.restricted.policy import Policy, PolicyError
from tests.sandbox.test_policy import output_of, run
from tests.sandbox.test_policy_adversarial import refused

DATACLASS = "import dataclasses\n@dataclasses.dataclass\nclass X:\n    a: int = 1\n"
FIELD = "dataclasses.fields(X)[0]"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


@pytest.mark.parametrize(
    "write",
    [
        f"{FIELD}.name = 'a=print()'",
        f"f = {FIELD}\nf.name += '=1'",
        f"setattr({FIELD}, 'name', 'y')",
        f"object.__setattr__({FIELD}, 'name', 'y')",
        f"del {FIELD}.name",
        f"delattr({FIELD}, 'init')",
        f"{FIELD}.init = False",
        f"{FIELD}.repr = False",
        f"{FIELD}.compare = False",
        f"{FIELD}.default = 2",
        "dataclasses.Field.name = 1",
    ],
)
def test_dataclass_field_attributes_are_read_only(policy, write):
    error = refused(policy, DATACLASS + write)
    assert "Field" in str(error), str(error)
    assert getattr(error, "kind", "policy") == "policy"


def test_rewritten_field_name_never_reaches_generated_source(policy):
    """The reported attack: rename a base field, then subclass so dataclasses exec()s it."""
    source = (
        DATACLASS
        + f"{FIELD}.name = \"a=__import__('os').getpid()\"\n"
        + "@dataclasses.dataclass\nclass Y(X):\n    b: int = 2\n"
    )
    refused(policy, source, match="'name' of 'Field' object")


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("import json\njson.JSONEncoder.default = lambda s, o: 1", "JSONEncoder"),
        ("import random\nrandom.Random().gauss_next = 1.0", "Random"),
        ("import functools\np = functools.partial(print)\np.x = 1", "partial"),
        ("import decimal\ndecimal.getcontext().foo = 1", "Context"),
        ("import numpy as np\nnp.zeros(2).flags.owndata = True", "flags"),
        ("import numpy as np\ndel np.zeros(2).shape", None),
        ("import enum\nclass E(enum.Enum):\n    A = 1\nE.A.name2 = 'x'\nenum.Enum.foo = 1", "Enum"),
        ("import typing\ntyping.List.x = 1", None),
        ("import matplotlib.pyplot as plt\nfig = plt.figure()\nfig.canvas = None", "Figure"),
    ],
)
def test_writes_to_other_library_objects_are_refused_with_type_and_name(policy, source, names):
    error = refused(policy, source, also=(AttributeError, TypeError))
    if names is not None:
        assert names in str(error), str(error)


def test_refusal_message_names_the_object_type_and_attribute(policy):
    error = refused(policy, "import random\nr = random.Random()\nr.seedling = 3")
    assert "'seedling'" in str(error) and "'Random' object" in str(error)
    assert isinstance(error, PolicyError) and error.kind == "policy"


BENIGN_WRITES = """
import calendar, collections, decimal, dataclasses, enum, json, textwrap
import collections.abc
import numpy as np
import matplotlib.pyplot as plt
d = collections.defaultdict(int)
d.default_factory = list
w = textwrap.TextWrapper()
w.width = 20
c = calendar.TextCalendar()
c.firstweekday = 6
a = np.zeros(6)
a.shape = (2, 3)
a.flags.writeable = False
b = np.zeros(3, dtype=complex)
b.real = [1, 2, 3]
b.imag = 1
rng = np.random.default_rng(1)
state = rng.bit_generator.state
rng.bit_generator.state = state
r = np.zeros(3, dtype=[("x", int), ("y", float)]).view(np.recarray)
r.x = [5, 6, 7]
fig, ax = plt.subplots()
fig.dpi = 80
ax.xaxis.labelpad = 5
line, = ax.plot([1, 2])
line.zorder = 3
e = ValueError("x")
e.extra = 1
def f():
    pass
f.calls = 0
f.calls += 1
class C:
    pass
C.count = 0
C.count += 1
class Color(enum.Enum):
    RED = 1
    def __init__(self, v):
        self.label = "red"
class Shape(collections.abc.Hashable):
    def __init__(self):
        self.sides = 0
    def __hash__(self):
        return 1
class Square(Shape):
    def __init__(self):
        super().__init__()
        self.sides += 4
@dataclasses.dataclass(frozen=True)
class P:
    x: int
    def __post_init__(self):
        object.__setattr__(self, "x", self.x * 2)
class MyArr(np.ndarray):
    pass
m = np.zeros(4).view(MyArr)
m.info = "hi"
m.shape = (2, 2)
class Enc(json.JSONEncoder):
    def __init__(self, **k):
        super().__init__(**k)
        self.extra = 1
print(a.shape, a.flags.writeable, b.real.tolist(), r.x.tolist(), fig.dpi, f.calls, C.count)
print(Color.RED.label, Square().sides, P(2), m.info, m.shape, json.dumps([1], cls=Enc))
with decimal.localcontext() as ctx:
    ctx.prec = 50
    print(decimal.Decimal(1) / 7)
"""


def test_writes_real_code_makes_to_its_own_and_allow_listed_library_objects_work(policy):
    out = output_of(policy, BENIGN_WRITES)
    assert out.splitlines() == [
        "(2, 3) False [1.0, 2.0, 3.0] [5, 6, 7] 80 1 1",
        "red 4 P(x=4) hi (2, 2) [1]",
        "0.14285714285714285714285714285714285714285714285714",
    ]


def test_user_subclass_cannot_write_through_a_library_data_descriptor(policy):
    # a subclass instance still refuses library setters that are not allow-listed
    source = "import numpy as np\nclass A(np.ndarray):\n    pass\nnp.zeros(2).view(A).base = None"
    refused(policy, source, also=(AttributeError,))


def test_fast_self_writes_keep_the_rule_for_foreign_receivers(policy):
    source = (
        "import dataclasses\n@dataclasses.dataclass\nclass X:\n    a: int = 1\n"
        "class Renamer:\n    def rename(self):\n        self.name = 'x'\n"
        "Renamer.rename(dataclasses.fields(X)[0])"
    )
    refused(policy, source, match="'Field' object")


def test_instances_of_the_users_classes_take_any_public_attribute(policy):
    namespace, _ = run(
        policy,
        "class Node:\n    pass\nn = Node()\nn.next = None\nn.value = 3\nn.value += 1\n"
        "setattr(n, 'dyn', 5)\ndel n.next",
    )
    node = namespace["n"]
    assert (node.value, node.dyn, hasattr(node, "next")) == (4, 5, False)


@pytest.mark.parametrize(
    "write",
    [
        f"dataclasses.Field.name.__set__({FIELD}, 'a=print(1)')",
        f"type({FIELD}).init.__set__({FIELD}, False)",
        f"dataclasses.Field.name.__delete__({FIELD})",
        f"{FIELD}.__init__(1, None, True, True, None, True, {{}}, False)",
        f"dataclasses.Field.__init__({FIELD}, 1, None, True, True, None, True, {{}}, False)",
    ],
)
def test_descriptor_setters_and_reinitialisation_are_writes_too(policy, write):
    error = refused(policy, DATACLASS + write)
    assert "Field" in str(error), str(error)


@pytest.mark.parametrize(
    "source",
    [
        "import functools, random\ndef f():\n    pass\nf.seed = 1\n"
        "functools.update_wrapper(random.Random(), f)",
        "import dataclasses, json\ndataclasses.dataclass(json.JSONEncoder)",
    ],
)
def test_library_helpers_do_not_write_library_objects_for_the_code(policy, source):
    refused(policy, source, match="defined in this code")


def test_own_descriptors_and_base_initialisers_still_work(policy):
    source = (
        "import collections, functools, json\n"
        "class Positive:\n    name = '_x'\n"
        "    def __get__(self, obj, owner=None):\n        return getattr(obj, self.name)\n"
        "    def __set__(self, obj, value):\n        setattr(obj, self.name, abs(value))\n"
        "class P:\n    x = Positive()\n"
        "p = P()\np.x = -3\n"
        "class Enc(json.JSONEncoder):\n    def __init__(self):\n"
        "        json.JSONEncoder.__init__(self, indent=None)\n        self.n = 1\n"
        "class D(collections.OrderedDict):\n    def __init__(self):\n        super().__init__(a=1)\n"
        "class Timer:\n    def __init__(self, f):\n        functools.update_wrapper(self, f)\n"
        "        self.f = f\n    def __call__(self):\n        return self.f()\n"
        "@Timer\ndef hello():\n    'doc'\n    return 'hi'\n"
        "print(p.x, Enc().encode([1]), D(), hello(), hello.__doc__)"
    )
    assert output_of(policy, source) == "3 [1] D([('a', 1)]) hi doc\n"


def test_methods_keep_their_semantics_in_both_compiled_copies(policy):
    source = (
        "count = 0\nclass A:\n    'doc'\n    def __init__(self):\n        self._items = []\n"
        "    def add(self, x):\n        global count\n        count += 1\n"
        "        self._items.append(x)\n        def inner():\n            return len(self._items)\n"
        "        return inner()\n"
        "    def walk(self):\n        for item in self._items:\n            yield item\n"
        "class B(A):\n    pass\n"
        "a, b = A(), B()\nprint(a.add(1), a.add(2), b.add(3), count, list(a.walk()), A.__doc__)\n"
        "print(A.add(b, 4), list(b.walk()))"
    )
    assert output_of(policy, source) == "1 2 1 3 [1, 2] doc\n2 [3, 4]\n"


def test_a_pure_classs_method_on_a_library_subclass_instance_is_guarded(policy):
    # A's method writes natively only for A's own objects; B's objects are numpy arrays too
    source = (
        "import numpy as np\nclass A:\n    def set(self, value):\n        self.strides = value\n"
        "class B(A, np.ndarray):\n    pass\n"
        "b = np.zeros(2, dtype=object).view(B)\nb.set((0,))"
    )
    refused(policy, source, match="strides")


def test_a_method_called_on_a_foreign_object_is_guarded(policy):
    source = (
        DATACLASS + "class R:\n    def rename(self):\n        self.name = 'x'\n"
        "    rename2 = staticmethod(rename)\n"
        "import functools\nfunctools.partial(R.rename, dataclasses.fields(X)[0])()"
    )
    refused(policy, source, match="'Field' object")
