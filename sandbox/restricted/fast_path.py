"""The ``self`` fast path of the transformer: method bodies compiled twice.

A function whose first parameter is never rebound and whose body uses that parameter's private
attributes or writes its attributes gets two copies of its body: a fast one where
``self._x``/``self.x = v`` are native, and a guarded one; one C-level test per call picks the
fast copy only when ``self`` is an object of the code's own (pure) classes. A method defined in
a class body first compares ``type(self)`` with its own class, bound in by
classes.register_user_class (until then, and for classes with library bases, a marker constant
that no type equals).
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from sandbox.restricted.errors import OWN_CLASS_MARKER, is_dunder
from sandbox.restricted.syntax_rules import binds, mangle, walk_scope


class _DropDeclarations(ast.NodeTransformer):
    """``global``/``nonlocal`` of one function body become ``pass`` (they are hoisted to the
    top: a body duplicated in two branches would otherwise declare after a use)."""

    def visit_Global(self, node: ast.Global) -> ast.AST:
        return ast.copy_location(ast.Pass(), node)

    visit_Nonlocal = visit_Global  # noqa: N815 - NodeTransformer's naming

    def _keep(self, node: ast.AST) -> ast.AST:
        return node  # nested scopes keep their own declarations

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _keep  # noqa: N815


class SelfFastPath:
    """PolicyTransformer's handling of a function's first parameter (a mixin)."""

    # provided by PolicyTransformer
    _scopes: list[tuple[str, str | None]]
    violations: list[Any]
    visit: Any
    _visit_body: Any
    _class_name: Any

    def _fast_receiver(self, node: ast.FunctionDef) -> str | None:
        """The first parameter, if the body uses its private attributes or writes any of its
        attributes, and never rebinds it.

        Such a function's body is compiled twice, a fast and a guarded copy, chosen per call
        (see _fast_and_guarded): native speed for the common case, the full guards for anything
        else passed in.
        """
        positional = [*node.args.posonlyargs, *node.args.args]
        if not positional:
            return None
        name = positional[0].arg
        class_name = self._class_name()
        uses = sum(
            1
            for child in walk_scope(node.body)
            if isinstance(child, ast.Attribute)
            and isinstance(child.value, ast.Name)
            and child.value.id == name
            and not is_dunder(child.attr)
            and (
                mangle(child.attr, class_name).startswith("_")
                or not isinstance(child.ctx, ast.Load)
            )
        )
        if uses == 0:
            return None
        for child in ast.walk(ast.Module(body=node.body, type_ignores=[])):
            if binds(child, name):
                return None
        return name

    def _fast_and_guarded(
        self, node: ast.FunctionDef, receiver: str, method: bool
    ) -> list[ast.stmt]:
        """The body twice: ``if <self is the code's own object>: <fast> else: <guarded>``.

        The fast copy reads and writes ``self``'s attributes natively; the guarded copy runs
        every access through the guards (``self`` may be anything: ``Cls.method(obj)``).
        The test is ``_type_(self) in _pureview_``: ``_type_`` is the real ``type`` (a name
        code cannot spell), so it is C-level and nothing can make it lie. A method first tests
        ``_type_(self) is <its class>``, a constant that stays a marker (never a type) until
        classes.register_user_class binds a pure class in: one identity test per call.
        """
        body = list(node.body)
        docstring = body[:1] if ast.get_docstring(node, clean=False) is not None else []
        body = body[len(docstring) :]
        declared: dict[type, list[str]] = {ast.Global: [], ast.Nonlocal: []}
        for statement in walk_scope(body):
            if isinstance(statement, ast.Global | ast.Nonlocal):
                declared[type(statement)] += statement.names
        hoisted = [
            ast.copy_location(kind(names=list(dict.fromkeys(names))), node)
            for kind, names in declared.items()
            if names
        ]
        for statement in hoisted:
            self.visit(statement)
        guarded_copy = [_DropDeclarations().visit(s) for s in copy.deepcopy(body)]
        fast_copy = [_DropDeclarations().visit(s) for s in body]
        self._scopes.append(("function", None))
        guarded_body = self._visit_body(guarded_copy)
        self._scopes[-1] = ("function", receiver)
        already = len(self.violations)
        fast_body = self._visit_body(fast_copy)
        del self.violations[already:]  # the same code: its refusals are already recorded
        self._scopes.pop()

        def own_class() -> ast.expr:
            return ast.Call(ast.Name("_type_", ast.Load()), [ast.Name(receiver, ast.Load())], [])

        check: ast.expr = ast.Compare(own_class(), [ast.In()], [ast.Name("_pureview_", ast.Load())])
        if method:
            exact = ast.Compare(own_class(), [ast.Is()], [ast.Constant(OWN_CLASS_MARKER)])
            check = ast.BoolOp(ast.Or(), [exact, check])
        branch = ast.If(check, fast_body or [ast.Pass()], guarded_body or [ast.Pass()])
        return [*docstring, *hoisted, ast.copy_location(branch, node)]
