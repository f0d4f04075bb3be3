"""The curated builtins of a sandbox namespace, and the hooks that live among them.

Everything here is what code can call by name: the safe builtins (real ones where they cannot
bypass a guard), guarded replacements (``getattr``, ``type``, ``print``...), the guards the
transformer's rewritten code calls (``_getattr_``, ``_write_``...; names code cannot spell),
``__build_class__`` (which records the user's classes), an arithmetic-only ``eval`` and stubs
that say why ``open`` or ``exec`` are missing instead of a bare NameError.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import types
from collections.abc import Callable
from typing import Any

from sandbox.restricted.guards import (
    PURE_CLASSES_VIEW,
    PolicyError,
    SafeType,
    guarded_delattr,
    guarded_getattr,
    guarded_hasattr,
    guarded_setattr,
    is_dunder,
    private_allowed,
    private_getattr,
    register_user_class,
    words,
    write_guard,
)

# Builtins that are deliberately missing: calling them says so instead of a bare NameError.
UNAVAILABLE = {
    "open": "; read and write work-dir files with numpy (np.loadtxt, np.save...) or plt.savefig",
    "input": "; there is no standard input",
    "exec": "",
    "compile": "",
    "globals": "",
    "locals": "",
    "vars": "",
    "breakpoint": "",
    "help": "",
    "exit": "; let the code end or raise an exception",
    "quit": "; let the code end or raise an exception",
}


_real_build_class = builtins.__build_class__
_real_print = builtins.print


class _Registrar:
    """Planted in every class namespace: ``type.__new__`` calls ``__set_name__`` before a
    metaclass such as Enum's runs code on the new class (member ``__init__``), so the class
    counts as the user's own from its first moment."""

    __slots__ = ()

    def __set_name__(self, owner: type, name: str) -> None:
        register_user_class(owner)
        with contextlib.suppress(AttributeError, TypeError):
            type.__delattr__(owner, name)


_REGISTRAR = _Registrar()


class _MetaclassShim:
    """The ``metaclass=`` handed to the real ``__build_class__``: the bases' own metaclass
    does all the work; the shim only adds the registrar to the namespace."""

    __slots__ = ("_meta",)

    def __init__(self, meta: type) -> None:
        self._meta = meta

    def __prepare__(self, name: str, bases: tuple[Any, ...], **kwargs: Any) -> Any:
        prepare = getattr(self._meta, "__prepare__", None)
        namespace = prepare(name, bases, **kwargs) if prepare is not None else {}
        namespace["__sandbox_registrar__"] = _REGISTRAR  # first, so its __set_name__ runs first
        return namespace

    def __call__(self, name: str, bases: tuple[Any, ...], namespace: Any, **kwargs: Any) -> Any:
        return self._meta(name, bases, namespace, **kwargs)


def _derived_metaclass(bases: tuple[Any, ...]) -> type:
    winner: type = type
    for base in bases:
        meta = type(base)
        if issubclass(winner, meta):
            continue
        if issubclass(meta, winner):
            winner = meta
            continue
        raise TypeError(
            "metaclass conflict: the metaclass of a derived class must be a (non-strict) "
            "subclass of the metaclasses of all its bases"
        )
    return winner


def guarded_build_class(func: Any, name: str, /, *bases: Any, **kwargs: Any) -> Any:
    if "metaclass" in kwargs:
        raise PolicyError("the 'metaclass' keyword is not allowed in class statements")
    resolved = types.resolve_bases(bases)
    if any(isinstance(base, type) and issubclass(base, super) for base in resolved):
        # A super proxy forwards lookups to another object: a subclass would pass for the
        # user's own class while reaching library internals.
        raise PolicyError("classes cannot derive from 'super'")
    meta = _derived_metaclass(resolved)
    cls = _real_build_class(func, name, *bases, metaclass=_MetaclassShim(meta), **kwargs)
    if isinstance(cls, type):
        register_user_class(cls)
    return cls


# --------------------------------------------------------------------------- eval

MAX_EVAL_CHARS = 10_000
# Nodes an arithmetic expression on literals is made of: nothing names, calls, reads an
# attribute or item, or builds a function, so the result only ever depends on the literals.
_EVAL_NODES = (
    ast.Expression,
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.Tuple,
    ast.List,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)
_EVAL_CONSTANTS = (int, float, complex, str, bool, type(None))
_EVAL_DESCRIPTIONS = {
    ast.Name: "a name",
    ast.Call: "a call",
    ast.Attribute: "an attribute",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
}


def _eval_refusal(what: str) -> PolicyError:
    return PolicyError(
        f"eval() only evaluates arithmetic on literals, e.g. eval('2 + 3 * 4'); {what} was refused"
    )


def safe_eval(source: Any, globals: Any = None, locals: Any = None, /) -> Any:  # noqa: A002
    """eval() of arithmetic on literals (``"2 + 3 * 4"``, ``"(1, 2) < (1, 3)"``).

    Names, calls, attributes, subscripts and comprehensions are refused, so ``globals`` and
    ``locals`` can never matter and library code calling it (``np.vectorize(eval)``) gains
    nothing either.
    """
    if isinstance(source, bytes | bytearray):
        source = bytes(source).decode("utf-8")
    if not isinstance(source, str):
        raise _eval_refusal(f"evaluating a '{type(source).__name__}' object")
    source = str.__str__(source).lstrip(" \t")
    if len(source) > MAX_EVAL_CHARS:
        raise _eval_refusal(f"an expression of {len(source)} characters (at most {MAX_EVAL_CHARS})")
    try:
        tree = ast.parse(source, "<string>", "eval")
        for node in ast.walk(tree):
            if not isinstance(node, _EVAL_NODES):
                kind = _EVAL_DESCRIPTIONS.get(type(node), f"'{type(node).__name__}'")
                name = getattr(node, "id", None) or getattr(node, "attr", None)
                raise _eval_refusal(f"{kind} '{name}'" if name else kind)
            if isinstance(node, ast.Constant) and type(node.value) not in _EVAL_CONSTANTS:
                raise _eval_refusal(f"the literal {type(node.value).__name__}")
        code = compile(tree, "<string>", "eval", dont_inherit=True)
    except (RecursionError, MemoryError):
        raise _eval_refusal("an expression nested this deeply") from None
    return builtins.eval(code, {"__builtins__": {}})


def guarded_print(
    *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    """print() to whatever sys.stdout is now (the worker swaps in a capped writer per run)."""
    if file is not None:
        raise PolicyError("print(file=...) is not allowed; print writes to standard output")
    _real_print(*args, sep=sep, end=end, flush=flush)


def make_dir(namespace: dict[str, Any]) -> Callable[..., list[str]]:
    def dir(*args: Any) -> list[str]:  # noqa: A001 - it is the builtin the user calls
        """dir([object]) -> the names code may use on the object (or in this namespace)."""
        if not args:
            return sorted(n for n in namespace if not n.startswith("__"))
        (obj,) = args
        names = builtins.dir(obj)
        return [n for n in names if n[:1] != "_" or (not is_dunder(n) and private_allowed(obj, n))]

    return dir


SAFE_BUILTIN_NAMES = words(
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict divmod "
    "enumerate filter float format frozenset hash hex id int isinstance issubclass iter len "
    "list map max memoryview min next object oct ord pow property range repr reversed round "
    "set slice sorted staticmethod str sum super tuple zip NotImplemented Ellipsis None True "
    "False"
)


def _unavailable(name: str, hint: str) -> Callable[..., Any]:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise PolicyError(f"{name}() is not available in the sandbox{hint}")

    unavailable.__name__ = unavailable.__qualname__ = name
    return unavailable


def base_builtins() -> dict[str, Any]:
    """The curated builtins every namespace starts from (the policy adds import and dir)."""
    table: dict[str, Any] = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}
    for name, value in vars(builtins).items():
        if isinstance(value, type) and issubclass(value, BaseException):
            table[name] = value
    table.update(
        type=SafeType,
        print=guarded_print,
        getattr=guarded_getattr,
        hasattr=guarded_hasattr,
        setattr=guarded_setattr,
        delattr=guarded_delattr,
        __build_class__=guarded_build_class,
        _getattr_=guarded_getattr,
        _getprivate_=private_getattr,
        _pureview_=PURE_CLASSES_VIEW,
        _type_=type,  # the real one, for generated code only: see transformer
        _write_=write_guard,
        _getiter_=iter,
        eval=safe_eval,
    )
    table.update({name: _unavailable(name, hint) for name, hint in UNAVAILABLE.items()})
    return table
