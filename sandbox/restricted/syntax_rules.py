"""What the transformer accepts, as data and small helpers, plus its import and pattern checks.

Split out of transformer.py: the dunder lists a class body may define, the refusal messages,
``Violation``, scope helpers for the ``self`` fast path, name mangling, and the visitors for
imports and ``match`` patterns (a mixin of PolicyTransformer).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.restricted.guards import GUARDED_PUBLIC_NAMES, words

_OPERATORS = words("add sub mul matmul truediv floordiv mod divmod pow lshift rshift and xor or")
# Dunder methods a class statement may define: protocols that only ever run the user's code.
DEFINABLE_DUNDERS = frozenset(
    words(
        "__init__ __new__ __post_init__ __repr__ __str__ __format__ __bytes__ __hash__ __bool__ "
        "__len__ __length_hint__ __iter__ __next__ __reversed__ __contains__ __getitem__ "
        "__setitem__ __delitem__ __missing__ __call__ __enter__ __exit__ __eq__ __ne__ __lt__ "
        "__le__ __gt__ __ge__ __neg__ __pos__ __abs__ __invert__ __complex__ __int__ "
        "__float__ __index__ __round__ __trunc__ __floor__ __ceil__ __copy__ __deepcopy__ "
        "__get__ __set__ __delete__ __setattr__ __delattr__ __dir__ __sizeof__ "
        # numpy's subclass and override protocols (they only call back into this code);
        # never __array_interface__/__array_struct__, which hand numpy raw pointers, nor
        # __array_function__, which numpy calls with its real, unwrapped functions
        # (``np.loadtxt(path, like=obj)`` would hand out a loader without the path checks)
        "__array__ __array_finalize__ __array_wrap__ __array_ufunc__ __array_priority__"
    )
    + [f"__{prefix}{op}__" for op in _OPERATORS for prefix in ("", "r", "i")]
)
# Class-body names whose value is checked to be a literal tuple of attribute names.
NAME_LIST_DUNDERS = frozenset({"__slots__", "__match_args__"})
CLASS_BODY_DUNDERS = DEFINABLE_DUNDERS | NAME_LIST_DUNDERS | {"__doc__"}

REFUSED_SYNTAX = {
    "AsyncFunctionDef": "'async def' is not allowed",
    "Await": "'await' is not allowed",
    "AsyncFor": "'async for' is not allowed",
    "AsyncWith": "'async with' is not allowed",
    "TryStar": "'except*' is not allowed",
}


@dataclass(frozen=True)
class Violation:
    lineno: int | None
    message: str
    kind: str = "policy"  # or "import"


ImportCheck = Callable[[str], "str | None"]
FromImportCheck = Callable[[str, str], "str | None"]


_NESTED_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def walk_scope(body: list[ast.stmt]) -> list[ast.AST]:
    """Nodes of one function body, not descending into nested scopes."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, _NESTED_SCOPES):
            pending.extend(ast.iter_child_nodes(node))
    return found


def binds(node: ast.AST, name: str) -> bool:
    """Whether ``node`` (re)binds ``name`` anywhere a function body could."""
    if isinstance(node, ast.Name):
        return node.id == name and not isinstance(node.ctx, ast.Load)
    if isinstance(node, ast.Global | ast.Nonlocal):
        return name in node.names
    if isinstance(node, ast.alias):
        return (node.asname or node.name.split(".")[0]) == name
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return node.name == name
    if isinstance(node, ast.MatchMapping):
        return node.rest == name
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    return False


def mangle(name: str, class_name: str | None) -> str:
    """Python's private name mangling (``__x`` inside ``class C`` is ``_C__x``)."""
    if not class_name or not name.startswith("__") or name.endswith("__") or "." in name:
        return name
    stripped = class_name.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


class ImportAndPatternChecks:
    """PolicyTransformer's visitors for imports and ``match`` statements."""

    # provided by PolicyTransformer
    _check_import: ImportCheck
    _check_from_import: FromImportCheck | None
    refuse: Any
    visit: Any
    node_contents_visit: Any
    _check_identifier: Any

    # ------------------------------------------------------------------ imports

    def visit_Import(self, node: ast.Import) -> ast.AST:
        for alias in node.names:
            self._refuse_import(node, self._check_import(alias.name))
            bound = alias.asname or alias.name.split(".")[0]
            self._check_identifier(node, bound, store=True)
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        module = node.module or ""
        if node.level:
            self.refuse(node, "relative imports are not allowed", kind="import")
            return node
        if module == "__future__":
            return node
        self._refuse_import(node, self._check_import(module))
        for alias in node.names:
            if alias.name == "*":
                continue  # binds the proxy's public names, all of them allowed
            self._check_identifier(node, alias.asname or alias.name, store=True)
            if self._check_from_import is not None:
                self._refuse_import(node, self._check_from_import(module, alias.name))
        return node

    def _refuse_import(self, node: ast.AST, message: str | None) -> None:
        if message is not None:
            self.refuse(node, message, kind="import")

    # ------------------------------------------------------------------ match statements

    def visit_Match(self, node: ast.Match) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_match_case(self, node: ast.match_case) -> ast.AST:
        return self.node_contents_visit(node)

    def _check_pattern_expr(self, expr: ast.expr) -> None:
        """Patterns hold literals and dotted names; they must stay untransformed, so only
        plain public attributes may appear."""
        for child in ast.walk(expr):
            if isinstance(child, ast.Attribute):
                name = child.attr
                if name.startswith("_") or name in GUARDED_PUBLIC_NAMES:
                    self.refuse(child, f"attribute '{name}' is not allowed in a pattern")
            elif isinstance(child, ast.Name):
                self._check_identifier(child, child.id, store=False)

    def visit_MatchValue(self, node: ast.MatchValue) -> ast.AST:
        self._check_pattern_expr(node.value)
        return node

    def visit_MatchSingleton(self, node: ast.MatchSingleton) -> ast.AST:
        return node

    def visit_MatchSequence(self, node: ast.MatchSequence) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> ast.AST:
        for key in node.keys:
            self._check_pattern_expr(key)
        node.patterns = [self.visit(pattern) for pattern in node.patterns]
        if node.rest is not None:
            self._check_identifier(node, node.rest, store=True)
        return node

    def visit_MatchClass(self, node: ast.MatchClass) -> ast.AST:
        self._check_pattern_expr(node.cls)
        for name in node.kwd_attrs:
            if name.startswith("_"):
                self.refuse(node, f"matching attribute '{name}' is not allowed")
        node.patterns = [self.visit(pattern) for pattern in node.patterns]
        node.kwd_patterns = [self.visit(pattern) for pattern in node.kwd_patterns]
        return node

    def visit_MatchStar(self, node: ast.MatchStar) -> ast.AST:
        if node.name is not None:
            self._check_identifier(node, node.name, store=True)
        return node

    def visit_MatchAs(self, node: ast.MatchAs) -> ast.AST:
        if node.pattern is not None:
            node.pattern = self.visit(node.pattern)
        if node.name is not None:
            self._check_identifier(node, node.name, store=True)
        return node

    def visit_MatchOr(self, node: ast.MatchOr) -> ast.AST:
        return self.node_contents_visit(node)
