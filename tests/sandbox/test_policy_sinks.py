"""Paths in the allowed modules that compile or evaluate source, each closed where it is reached.

One test per known path (the policy in-process, where ``Policy()`` hardens the process as the
worker does), the stand-ins' bases (none may hand out a real base's methods through
``super()``), and a walk over everything reachable from the allowed modules that fails when a
new function reaching ``exec``/``eval``/``compile``/``__import__``/``get_type_hints``... appears
without a review.
"""

from __future__ import annotations

import builtins
import dis
import functools
import inspect
import sys
import types
import typing
import warnings
from collections.abc import Iterator

import pytest

from sandbox.restricted import classes, guards
from sandbox.restricted.policy import Policy, PolicyError
from tests.sandbox.test_policy import output_of
from tests.sandbox.test_policy_adversarial import refused


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


EVIL = "().__class__.__base__.__subclasses__()"


def as_user(policy: Policy, probe):
    """Call ``probe`` from code running under the policy (as library code called on the
    code's behalf would be: the replaced sinks act while such code is on the stack)."""
    namespace = policy.new_namespace()
    namespace["probe"] = probe
    exec(policy.compile("result = probe()"), namespace)
    return namespace["result"]


# --------------------------------------------------------------------------- annotations


@pytest.mark.parametrize(
    "source",
    [
        # the reported bypass: the real base's __init__ through super() -> real singledispatch
        "import functools\nS = functools.singledispatchmethod\nclass M(S):\n"
        "    def __init__(self, func):\n        super(S, self).__init__(func)\n"
        "m = M(lambda self, x: 1)\n"
        f"def g(x: {EVIL!r}):\n    pass\nm.dispatcher.register(g)",
        "import functools\n@functools.singledispatch\ndef f(x):\n    pass\n"
        f"@f.register\ndef _(x: {EVIL!r}):\n    pass",
        "import functools\nclass C:\n    @functools.singledispatchmethod\n"
        "    def f(self, x):\n        pass\n"
        f"    @f.register\n    def _(self, x: {EVIL!r}):\n        pass",
        "import functools\n@functools.singledispatch\ndef f(x):\n    pass\n"
        "@f.register\ndef _(x: 'print'):\n    pass",
        "import functools, typing\n@functools.singledispatch\ndef f(x):\n    pass\n"
        "@f.register\ndef _(x: typing.List['().__class__']):\n    pass",
    ],
)
def test_string_annotations_never_run_as_code(policy, source):
    refused(policy, source, also=(TypeError, NameError))


def test_string_annotations_naming_types_still_dispatch(policy):
    source = (
        "from __future__ import annotations\nimport functools\nimport numpy as np\n"
        "class Node:\n    pass\n"
        "@functools.singledispatch\ndef kind(x):\n    return 'other'\n"
        "@kind.register\ndef _(x: int | None):\n    return 'int'\n"
        "@kind.register\ndef _(x: np.ndarray):\n    return 'array'\n"
        "@kind.register\ndef _(x: Node):\n    return 'node'\n"
        "class K:\n    @functools.singledispatchmethod\n    def f(self, x):\n"
        "        return 'base'\n    @f.register\n    def _(self, x: str):\n        return 'str'\n"
        "print(kind(1), kind(np.zeros(1)), kind(Node()), kind('s'), K().f('a'), K().f(2))"
    )
    assert output_of(policy, source) == "int array node other str base\n"


def test_forward_references_are_evaluated_without_eval(policy):
    from sandbox.restricted.sinks import evaluate_annotation

    def f(x, y):
        pass

    f.__annotations__ = {"x": "list[int] | None", "y": "dict[str, 'int']", "return": "int"}
    hints = as_user(policy, lambda: typing.get_type_hints(f))
    assert hints == {"x": list[int] | None, "y": dict[str, int], "return": int}
    f.__annotations__ = {"x": "().__class__"}
    with pytest.raises(PolicyError):
        as_user(policy, lambda: typing.get_type_hints(f))
    for source, what in [
        (EVIL, "Call"),
        ("().__class__", "attribute '__class__'"),
        ("sys", "module"),
        ("print('x') or int", "BoolOp"),
        ("print('x')", "Call"),
        ("[c for c in ()]", "ListComp"),
        ("open", "not defined"),
        ("f", "'open' is a function"),
    ]:
        with pytest.raises((PolicyError, NameError), match=what):
            evaluate_annotation(source, {"sys": sys, "f": open, "__builtins__": builtins}, None)


def test_get_annotations_eval_str_uses_the_same_evaluator(policy):
    def f(x):
        pass

    f.__annotations__ = {"x": "().__class__"}
    with pytest.raises(PolicyError):
        as_user(policy, lambda: inspect.get_annotations(f, eval_str=True))
    f.__annotations__ = {"x": "int"}
    assert as_user(policy, lambda: inspect.get_annotations(f, eval_str=True)) == {"x": int}


def test_outside_the_codes_calls_the_originals_still_evaluate(policy):
    """A process that built a Policy (the worker's own work, this test suite) keeps the real
    behaviour for everything the sandboxed code did not cause (e.g. typer's signatures)."""

    def f(x):
        pass

    f.__annotations__ = {"x": "typing.Optional[int]"}
    assert typing.get_type_hints(f) == {"x": typing.Optional[int]}  # noqa: UP045
    assert inspect.get_annotations(f, eval_str=True) == {"x": typing.Optional[int]}  # noqa: UP045


def test_docstring_text_signatures_of_classes_are_not_evaluated(policy):
    C = type("C", (), {"__doc__": "C(a=sys.platform)\n--\n\n"})  # noqa: N806
    classes.register_user_class(C)
    assert C.__text_signature__ is not None
    with pytest.raises(ValueError, match="no signature"):
        as_user(policy, lambda: inspect.signature(C))
    assert str(as_user(policy, lambda: inspect.signature(divmod))) == "(x, y, /)"


def test_numpy_vectorize_of_a_class_with_a_text_signature_evaluates_nothing(policy):
    source = (
        'class C:\n    """C(a=sys.platform)\n--\n\n"""\n    def __call__(self, x):\n'
        "        return x\nimport numpy as np\nprint(np.vectorize(C())([1, 2]).tolist())"
    )
    assert output_of(policy, source) == "[1, 2]\n"


# --------------------------------------------------------------------------- code generation


def test_dataclass_generated_source_only_sees_identifier_field_names(policy):
    import dataclasses

    @dataclasses.dataclass
    class Base:
        a: int = 1

    field = dataclasses.fields(Base)[0]
    object.__setattr__(field, "name", "a=print('evaluated')")  # however it got renamed

    def subclass():
        @dataclasses.dataclass
        class Child(Base):
            b: int = 2

    with pytest.raises(PolicyError, match="field name"):
        as_user(policy, subclass)


def test_dataclass_fields_must_be_real_fields(policy):
    source = (
        "import dataclasses\nclass F(dataclasses.Field):\n    pass\n"
        "f = F(1, None, True, True, None, True, {}, False)\n"
        "class D:\n    x: int = f\ndataclasses.dataclass(D)"
    )
    refused(policy, source, match="dataclasses.field")


def test_typed_dict_keys_cannot_become_dataclass_fields(policy):
    refused(
        policy,
        "from typing import TypedDict\nfrom dataclasses import dataclass\n"
        "T = TypedDict('T', {'x=print(1) or 1': int})\ndataclass(T)",
        match="dataclass",
    )


@pytest.mark.parametrize(
    "source",
    [
        "import collections\ncollections.namedtuple('P', ['a=print(1)'])",
        "import collections\ncollections.namedtuple('P=print(1)', ['a'])",
        "import collections\ncollections.namedtuple('P', 'a, b=print(1)')",
        "import collections\nclass S(str):\n    def isidentifier(self):\n        return True\n"
        "collections.namedtuple('P', [S('a=print(1)')])",
        "import typing\ntyping.NamedTuple('P', [('a=print(1)', int)])",
    ],
)
def test_namedtuple_names_are_validated_before_its_eval(policy, source):
    refused(policy, source, also=(ValueError, TypeError))


def test_namedtuple_still_works(policy):
    source = (
        "import collections, typing\nP = collections.namedtuple('P', 'x y', defaults=[0])\n"
        "class Q(typing.NamedTuple):\n    a: int\n    b: str = 'b'\n"
        "print(P(1), P(1)._replace(y=2), Q(1), Q._fields)"
    )
    assert output_of(policy, source) == "P(x=1, y=0) P(x=1, y=2) Q(a=1, b='b') ('a', 'b')\n"


@pytest.mark.parametrize(
    "names",
    ["['__array_interface__']", "'__class__ a'", "{'_sunder_': 1}", "[('__init__', 1)]"],
)
def test_functional_enum_api_refuses_non_public_member_names(policy, names):
    refused(policy, f"import enum\nenum.Enum('E', {names})", match="enum member name")


def test_functional_enum_api_still_works(policy):
    source = "import enum\nE = enum.Enum('E', 'A B')\nprint(list(E), E.B.value)"
    assert output_of(policy, source) == "[<E.A: 1>, <E.B: 2>] 2\n"


def test_string_template_substitutes_names_only(policy):
    source = (
        "import string\nclass T(string.Template):\n    delimiter = '%'\n"
        "print(string.Template('$x.__class__ ${y}').substitute(x=1, y='z'))\n"
        "print(T('%x').safe_substitute({'x': 2}))"
    )
    assert output_of(policy, source) == "1.__class__ z\n2\n"


def test_format_templates_inside_libraries_resolve_attributes_under_the_policy(policy):
    refused(
        policy,
        "import matplotlib.ticker as t\nt.StrMethodFormatter('{x.__class__}')(1.0)",
        also=(AttributeError,),
    )
    refused(policy, "import string\nstring.Formatter().format('{0.__class__}', 1)")


# --------------------------------------------------------------------------- stand-ins

# Stand-ins that subclass a real library class, and why super() into that base is harmless.
REVIEWED_STANDIN_BASES = {
    "numpy.ndarray": "GuardedMeta validates calls; the real __new__/__init__ read through "
    "super() pass the numpy new guard (numpy_doors.install_numpy)",
    "numpy.memmap": "as numpy.ndarray (memmap's __new__ is mapped to a path-checking one)",
    "numpy.rec.recarray": "as numpy.ndarray (recarray's __new__ is mapped to a validating one)",
}


def _ours(cls: type) -> bool:
    """Made by the sandbox: every function in its namespace (or its metaclass's) has its code
    under sandbox/restricted (a library class with one method patched in place is not)."""
    files = [
        func.__code__.co_filename
        for klass in (cls, type(cls))
        for value in vars(klass).values()
        if hasattr(func := getattr(value, "__func__", value), "__code__")
    ]
    return bool(files) and all("/sandbox/restricted/" in name for name in files)


def _handed_out_classes(policy: Policy) -> Iterator[type]:
    yield from (v for v in policy.new_namespace()["__builtins__"].values() if isinstance(v, type))
    for proxy in policy.gate.proxies.values():
        yield from (v for v in vars(proxy).values() if isinstance(v, type))
    yield from (v for v in classes._CLASS_STANDINS.values() if isinstance(v, type))


def test_no_stand_in_subclasses_an_unreviewed_real_class(policy):
    unreviewed = {}
    for cls in _handed_out_classes(policy):
        if not _ours(cls):
            continue
        for base in type.__getattribute__(cls, "__mro__")[1:]:
            name = f"{base.__module__}.{base.__qualname__}"
            if _ours(base) or base in guards.BUILTIN_TYPES or name in REVIEWED_STANDIN_BASES:
                continue
            unreviewed[cls.__qualname__] = name
    assert not unreviewed, f"stand-ins with real bases reachable by super(): {unreviewed}"


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nS = np.ndarray\nclass A(S):\n    pass\n"
        "super(S, A).__new__(A, (2,), object, bytes(16))",
        "import numpy as np\nS = np.recarray\nclass A(S):\n    pass\n"
        "super(S, A).__new__(A, (2,), dtype=object, buf=bytes(16))",
        "import numpy as np\nS = np.memmap\nclass A(S):\n    pass\n"
        "super(S, A).__new__(A, '/etc/passwd')",
        "import numpy as np\na = np.zeros(2)\nsuper(np.ndarray, a).__init__((2,), object, bytes(16))",
    ],
)
def test_super_into_the_real_base_of_a_numpy_stand_in_is_still_checked(policy, source):
    refused(policy, source, also=(TypeError,))


# --------------------------------------------------------------------------- the walk

_GLOBAL_SINKS = {
    id(builtins.exec),
    id(builtins.eval),
    id(builtins.compile),
    id(builtins.__import__),
}
_ATTRIBUTE_SINKS = frozenset(
    [
        "exec",
        "eval",
        "__import__",
        "import_module",
        "get_type_hints",
        "_eval_type",
        "_evaluate",
        "_create_fn",
        "get_annotations",
        "_signature_fromstr",
    ]
)
# Every function reachable from the allowed modules that reaches a sink, and why it is closed.
REVIEWED_SINKS = {
    "dataclasses._create_fn": "exec of generated source; field names checked by the hardened "
    "dataclasses._process_class (sinks.py) and Field attributes are not writable",
    "collections.namedtuple": "eval of a lambda built from names it checks itself: exact str, "
    "isidentifier, not a keyword",
    "functools.singledispatch": "get_type_hints -> ForwardRef._evaluate, replaced (sinks.py)",
    "typing.ForwardRef._evaluate": "the original, in the replacement's closure: it runs only "
    "while no code under the policy is on the stack (sinks.user_code_running)",
    "typing._eval_type": "calls ForwardRef._evaluate, replaced (sinks.py)",
    "inspect.get_annotations": "replaced (sinks.py); this is the real one inside the wrapper",
    "inspect._signature_fromstr": "replaced for classes (sinks.py); builtins' text signatures "
    "come from C",
    "ast.parse": "compile(..., PyCF_ONLY_AST): parses, never runs",
    "typing.ForwardRef.__init__": "compile(..., 'eval') only; evaluation is the replaced _evaluate",
    "PIL.features.check_module": "__import__ of a module named by Pillow's fixed feature table "
    "(an unknown feature is a ValueError first)",
    "PIL.features.check_feature": "as check_module",
    "PIL.Image.init": "__import__ of Pillow's fixed plugin list",
    "PIL.Image._import_plugin_for_extension": "__import__ of a plugin named by Pillow's own "
    "extension table",
    "matplotlib.pyplot.figure": "import_module of the backend, fixed to Agg at load "
    "(matplotlib.use and switch_backend are denied)",
    "matplotlib.backend_bases.get_registered_canvas_class": "import_module of a module named "
    "by matplotlib's own table of formats",
    "matplotlib.colors._make_norm_from_scale.<locals>.ScaleNorm.__reduce__": "import_module of "
    "the class's module (already imported), compared by identity, never returned",
    "_frozen_importlib._load_unlocked": "importing a module named by the reviewed callers above",
    "_frozen_importlib.FrozenImporter.exec_module": "as above",
    "_frozen_importlib_external._LoaderBasics.exec_module": "as above",
    "_frozen_importlib_external.SourceLoader.source_to_code": "as above",
    "_frozen_importlib_external.NamespaceLoader.get_code": "as above",
    "importlib.import_module": "only reached from the reviewed callers above",
    "sandbox.restricted.sinks._safe_forward_evaluate": "the replacement: evaluate_annotation "
    "(no eval), then typing's own recursion into nested references",
    "matplotlib._afm._parse_header": "inspect.get_annotations of matplotlib's own class, "
    "without eval_str",
}


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _names(func: types.FunctionType) -> tuple[set[str], set[str]]:
    global_names: set[str] = set()
    attribute_names: set[str] = set()
    for code in _codes(func.__code__):
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                global_names.add(instruction.argval)
            elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM"):
                attribute_names.add(instruction.argval)
    return global_names, attribute_names


def reaching_sinks(policy: Policy) -> dict[str, str]:
    """Functions reachable from the proxies (members of classes, the globals and attributes
    their code names, closures, defaults) that name a sink: qualified name -> a path to it."""
    pending = [(v, f"{n}.{a}") for n, p in policy.gate.proxies.items() for a, v in vars(p).items()]
    seen: set[int] = set()
    found: dict[str, str] = {}
    while pending:
        obj, path = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            pending.append((obj.func, path))
            continue
        if isinstance(obj, type):
            for klass in type.__getattribute__(obj, "__mro__"):
                for key, value in vars(klass).items():
                    value = getattr(value, "__func__", value)
                    if isinstance(value, property):
                        accessors = (value.fget, value.fset, value.fdel)
                        pending += [(f, f"{path}.{key}") for f in accessors if f]
                    elif callable(value):
                        pending.append((value, f"{path}.{key}"))
            continue
        func = getattr(obj, "__func__", obj)
        if not isinstance(func, types.FunctionType):
            continue
        namespace = func.__globals__
        table = namespace.get("__builtins__", builtins)
        table = table if isinstance(table, dict) else vars(table)
        global_names, attribute_names = _names(func)
        hit = bool(attribute_names & _ATTRIBUTE_SINKS)
        for name in global_names:
            value = namespace[name] if name in namespace else table.get(name)
            if value is None:
                continue
            hit = hit or id(value) in _GLOBAL_SINKS
            if isinstance(value, types.ModuleType):
                for attr in attribute_names:
                    member = getattr(value, attr, None)
                    if callable(member) and not isinstance(member, types.ModuleType):
                        pending.append((member, f"{path} -> {value.__name__}.{attr}"))
            elif callable(value):
                pending.append((value, f"{path} -> {name}"))
        if hit:
            found.setdefault(f"{func.__module__}.{func.__qualname__}", path)
        for cell in func.__closure__ or ():
            try:
                pending.append((cell.cell_contents, f"{path} -> <closure>"))
            except ValueError:
                pass
        pending += [(d, f"{path} -> <default>") for d in func.__defaults__ or () if callable(d)]
    return found


def test_every_reachable_path_to_exec_eval_compile_or_import_is_reviewed(policy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = reaching_sinks(policy)
    new = {name: path for name, path in found.items() if name not in REVIEWED_SINKS}
    assert not new, "unreviewed paths to exec/eval/compile/import:\n" + "\n".join(
        f"{name}\n    via {path}" for name, path in sorted(new.items())
    )
    assert "dataclasses._create_fn" in found  # the walk does see the known ones


def test_the_replaced_sinks_are_in_place(policy):
    import dataclasses

    for function in (
        typing.ForwardRef._evaluate,
        inspect.get_annotations,
        inspect._signature_fromstr,
        dataclasses._process_class,
    ):
        assert getattr(function, "__sandbox_checked__", False), function


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nnp.array2string(np.arange(2), formatter={'all': '{0.__class__}'.format})",
        "import numpy as np\nnp.set_printoptions(formatter={'int': '{0.real.__class__}'.format})\n"
        "try:\n    print(np.arange(2))\nfinally:\n    np.set_printoptions(formatter=None)",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
        "ax.xaxis.set_major_formatter('{x.__class__}')\nfig.canvas.draw()",
        "import operator\noperator.methodcaller('format', 1)('{0.__class__}')",
        "f = str.format\nf('{0.__class__}', 1)",
    ],
)
def test_format_templates_handed_to_libraries_cannot_walk_attributes(policy, source):
    refused(policy, source, match="__class__")
