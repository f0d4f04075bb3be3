"""Library code that compiles or evaluates source, closed where the evaluation happens.

Closing only the front doors (``typing.get_type_hints`` off the proxy, a checked
``singledispatch``) left every other road to the same ``eval`` open: a ``super()`` call into the
real base of a stand-in reached ``singledispatch``'s ``get_type_hints`` and ``eval``-ed a string
annotation with plain, unguarded bytecode. So the evaluating functions themselves are replaced
in the worker process (``harden_sinks``, run by ``stdlib_wrappers.harden_process``):

* ``typing.ForwardRef._evaluate`` (behind ``get_type_hints``, ``singledispatch.register``,
  ``typing`` forward references): string annotations are evaluated by walking their AST, only
  names, public attributes (through the policy's ``getattr``), subscripts, ``|`` and literals,
  never ``eval``; the result must be a type-like value, never a module or a function;
* ``inspect.get_annotations(eval_str=True)``: the same evaluator;
* ``inspect._signature_fromstr``: a class's docstring can carry a text signature
  (``"C(a=os.sep)\\n--\\n\\n"``) whose defaults inspect evaluates against ``sys.modules``: refused
  for anything but the interpreter's own builtins;
* ``dataclasses._process_class``: field names end up in source dataclasses ``exec``s, so every
  field (own and inherited) must be a real ``dataclasses.Field`` whose name is an identifier.

The replacements apply while the policy's code is on the stack (``user_code_running``): any
evaluation it causes, however indirectly; the worker's own work and other code in a process
that built a Policy (the test suite) keep the originals.

Paths that are closed by their own validation (``collections.namedtuple`` checks exact-str
identifiers; ``enum``'s functional API is checked in stdlib_wrappers; Pillow and matplotlib
import only fixed module names) are listed with their reason in
tests/sandbox/test_policy_sinks.py, which fails when a new path appears.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import keyword
import sys
import types
import typing
from typing import Any

from sandbox.restricted.errors import USER_FILENAME
from sandbox.restricted.guards import PolicyError, guarded_getattr, is_user_class

MAX_ANNOTATION_CHARS = 1_000
_CHECKED = "__sandbox_checked__"
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes made by class statements
# Values an annotation may evaluate to, besides classes: typing's own objects.
_TYPING_MODULES = frozenset({"typing", "types", "collections.abc", "_collections_abc", "abc"})


def _refusal(source: str, what: str) -> PolicyError:
    return PolicyError(
        f"annotation {source!r}: {what} (string annotations may only name types, e.g. "
        "'int', 'list[str]', 'np.ndarray', 'Node | None')"
    )


def _vet(source: str, value: Any) -> Any:
    if isinstance(value, types.ModuleType):
        raise _refusal(source, "a module is not a type")
    if isinstance(value, types.BuiltinFunctionType | types.FunctionType | types.MethodType):
        raise _refusal(source, f"'{getattr(value, '__name__', '?')}' is a function, not a type")
    return value


def _vet_type(source: str, value: Any) -> Any:
    """What a whole annotation or a subscript may give: a type, typing's objects, literals."""
    if isinstance(value, type | tuple | list) or value is None or value is Ellipsis:
        return value
    if type(value) in (str, int, bool) or type(value).__module__ in _TYPING_MODULES:
        return value
    raise _refusal(source, f"a '{type(value).__name__}' object is not a type")


def _lookup(source: str, name: str, globalns: Any, localns: Any) -> Any:
    for namespace in (localns, globalns):
        if isinstance(namespace, dict) and name in namespace:
            return _vet(source, namespace[name])
    table = globalns.get("__builtins__", builtins) if isinstance(globalns, dict) else builtins
    table = table if isinstance(table, dict) else vars(table)
    if name in table and isinstance(table[name], type):
        return table[name]
    raise NameError(f"name '{name}' is not defined")


def evaluate_annotation(source: str, globalns: Any, localns: Any) -> Any:
    """The value of a string annotation, without ``eval``."""
    if not isinstance(source, str):
        raise TypeError(f"annotation must be str, not {type(source).__name__}")
    source = str.__str__(source)
    if len(source) > MAX_ANNOTATION_CHARS:
        raise _refusal(source[:40] + "...", "too long")
    try:
        tree = ast.parse(source.strip(), "<annotation>", "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise SyntaxError(f"Forward reference must be an expression -- got {source!r}") from exc

    def value_of(node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return _lookup(source, node.id, globalns, localns)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise _refusal(source, f"attribute '{node.attr}' is not allowed")
            return _vet(source, guarded_getattr(value_of(node.value), node.attr))
        if isinstance(node, ast.Subscript):
            return _vet_type(source, value_of(node.value)[value_of(node.slice)])
        if isinstance(node, ast.Tuple):
            return tuple(value_of(item) for item in node.elts)
        if isinstance(node, ast.List):
            return [value_of(item) for item in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return value_of(node.left) | value_of(node.right)
        if isinstance(node, ast.Constant) and isinstance(
            node.value, str | int | bool | type(None) | type(Ellipsis)
        ):
            return node.value
        raise _refusal(source, f"{type(node).__name__} expressions are not allowed")

    return _vet_type(source, value_of(tree.body))


def user_code_running() -> bool:
    """Whether the code under the policy is on the stack (it is, whenever library code works
    on its behalf). Outside it (the worker's own work, or a test process that built a
    Policy) the replaced functions behave as the originals."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == USER_FILENAME:
            return True
        frame = frame.f_back
    return False


def _checked_forward_evaluate(real: Any) -> Any:
    def _evaluate(self: Any, globalns: Any, localns: Any, recursive_guard: Any) -> Any:
        if not user_code_running():
            return real(self, globalns, localns, recursive_guard)
        return _safe_forward_evaluate(self, globalns, localns, recursive_guard)

    return _evaluate


def _safe_forward_evaluate(self: Any, globalns: Any, localns: Any, recursive_guard: Any) -> Any:
    """``typing.ForwardRef._evaluate`` (CPython 3.11) with ``evaluate_annotation`` for eval."""
    if self.__forward_arg__ in recursive_guard:
        return self
    if not self.__forward_evaluated__ or localns is not globalns:
        if globalns is None and localns is None:
            globalns = localns = {}
        elif globalns is None:
            globalns = localns
        elif localns is None:
            localns = globalns
        if self.__forward_module__ is not None:
            globalns = getattr(sys.modules.get(self.__forward_module__, None), "__dict__", globalns)
        value = evaluate_annotation(self.__forward_arg__, globalns, localns)
        type_ = typing._type_check(  # type: ignore[attr-defined]
            value,
            "Forward references must evaluate to types.",
            is_argument=self.__forward_is_argument__,
            allow_special_forms=self.__forward_is_class__,
        )
        self.__forward_value__ = typing._eval_type(  # type: ignore[attr-defined]
            type_, globalns, localns, recursive_guard | {self.__forward_arg__}
        )
        self.__forward_evaluated__ = True
    return self.__forward_value__


def _checked_get_annotations(real: Any) -> Any:
    def get_annotations(
        obj: Any,
        *,
        globals: Any = None,
        locals: Any = None,
        eval_str: bool = False,  # noqa: A002
    ) -> dict[str, Any]:
        if not (eval_str and user_code_running()):
            return real(obj, globals=globals, locals=locals, eval_str=eval_str)
        annotations = real(obj, globals=globals, locals=locals, eval_str=False)
        if globals is None:
            if isinstance(obj, type):
                module = sys.modules.get(getattr(obj, "__module__", None) or "")
                globals = getattr(module, "__dict__", None)  # noqa: A001
            elif isinstance(obj, types.ModuleType):
                globals = obj.__dict__  # noqa: A001
            else:
                globals = getattr(inspect.unwrap(obj), "__globals__", None)  # noqa: A001
        return {
            key: evaluate_annotation(value, globals or {}, locals)
            if isinstance(value, str)
            else value
            for key, value in annotations.items()
        }

    return get_annotations


def _checked_signature_fromstr(real: Any) -> Any:
    def _signature_fromstr(cls: Any, obj: Any, s: str, skip_bound_arg: bool = True) -> Any:
        # Builtins' text signatures come from C; a Python class's from its docstring.
        heap = isinstance(obj, type) and (is_user_class(obj) or obj.__flags__ & _HEAPTYPE)
        if heap and user_code_running():
            raise ValueError(f"no signature found for {obj!r}")
        return real(cls, obj, s, skip_bound_arg)

    return _signature_fromstr


def _check_field_name(name: Any, where: str) -> None:
    if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name):
        raise PolicyError(f"dataclass field name {name!r} ({where}) is not allowed")


def _checked_process_class(real: Any) -> Any:
    def _process_class(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if not user_code_running():
            return real(cls, *args, **kwargs)
        for base in type.__getattribute__(cls, "__mro__")[-1:0:-1]:
            fields = type.__getattribute__(base, "__dict__").get("__dataclass_fields__")
            if fields is None:
                continue
            for key, field in dict(fields).items():
                if type(field) is not dataclasses.Field:
                    raise PolicyError("dataclass fields must be made by dataclasses.field()")
                _check_field_name(field.name, f"inherited from {base.__name__}")
                if field.name != key:
                    raise PolicyError(f"dataclass field {key!r} was renamed to {field.name!r}")
        own = type.__getattribute__(cls, "__dict__")
        for name in dict(own.get("__annotations__", {})):
            _check_field_name(name, f"in {cls.__name__}")
            default = own.get(name)
            if isinstance(default, dataclasses.Field) and type(default) is not dataclasses.Field:
                raise PolicyError("dataclass fields must be made by dataclasses.field()")
        return real(cls, *args, **kwargs)

    return _process_class


def _replace(owner: Any, name: str, make: Any) -> None:
    current = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    if getattr(current, _CHECKED, False):
        return
    replacement = make(current)
    setattr(replacement, _CHECKED, True)
    if isinstance(owner, type):
        type.__setattr__(owner, name, replacement)
    else:
        setattr(owner, name, replacement)


def harden_sinks() -> None:
    """Replace the evaluating functions process-wide (worker only; idempotent)."""
    _replace(typing.ForwardRef, "_evaluate", _checked_forward_evaluate)
    _replace(inspect, "get_annotations", _checked_get_annotations)
    _replace(inspect, "_signature_fromstr", _checked_signature_fromstr)
    _replace(dataclasses, "_process_class", _checked_process_class)
