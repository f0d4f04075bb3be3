"""The compile-time half of the restricted policy: a RestrictingNodeTransformer that stays native.

Stock RestrictedPython routes every attribute load, subscript, iteration and unpacking through
Python-level guards, which costs about 3.7x on CPU-bound code. Here only what can reach a
capability pays for a guard:

* attribute loads of public names compile to plain ``LOAD_ATTR``; names starting with ``_`` and
  a short deny-list of public names (frame walkers, ``format``, library doors, see
  guards.GUARDED_PUBLIC_NAMES) become calls to ``_getprivate_``/``_getattr_``;
  ``x.format(...)`` becomes one ``_call_format_(x, ...)`` call (native for plain templates);
* a function whose first parameter is never rebound and whose body uses its private
  attributes or writes its attributes is compiled twice; one test per call (is ``self`` an
  object of the code's own classes?) picks the copy where ``self._x`` and ``self.x = v`` are
  native, or the one where every access is guarded;
* attribute writes go through ``_write_(obj, name)`` (writes to library objects are
  allow-listed, see writes.py); dunder writes are refused here;
* subscripts, slices, unpacking and augmented assignment stay native (none of them names an
  attribute), except ``obj.<guarded> += v`` which is split into guarded steps; loops keep
  RestrictedPython's ``_getiter_(it)`` hook, one call per loop;
* names shaped like our guards (``_x_``) or dunders are refused, so code can neither read nor
  rebind ``_getattr_`` and friends; class bodies may define an allow-list of dunder methods.

Refusals are collected as Violations (line, message, kind) instead of RestrictedPython's
strings, so the self-healer gets a precise message and line.
"""

from __future__ import annotations

import ast

from RestrictedPython.transformer import RestrictingNodeTransformer

from sandbox.restricted.errors import OWN_CLASS_MARKER
from sandbox.restricted.fast_path import SelfFastPath
from sandbox.restricted.guards import (
    ENUM_NAMES,
    GUARDED_PREFIXES,
    GUARDED_PUBLIC_NAMES,
    READABLE_DUNDERS,
    is_dunder,
)
from sandbox.restricted.syntax_rules import (
    CLASS_BODY_DUNDERS,
    DEFINABLE_DUNDERS,
    NAME_LIST_DUNDERS,
    REFUSED_SYNTAX,
    FromImportCheck,
    ImportAndPatternChecks,
    ImportCheck,
    Violation,
    mangle,
)

__all__ = ["PolicyTransformer", "Violation", "transform"]


class PolicyTransformer(SelfFastPath, ImportAndPatternChecks, RestrictingNodeTransformer):
    """Checks and rewrites one module's AST; read ``violations`` afterwards."""

    def __init__(
        self,
        check_import: ImportCheck,
        check_from_import: FromImportCheck | None = None,
        guard_iteration: bool = False,
    ) -> None:
        super().__init__()
        self.violations: list[Violation] = []
        self._check_import = check_import
        self._check_from_import = check_from_import
        self._guard_iteration = guard_iteration
        # ("class", name) or ("function", receiver): ``receiver`` is the first parameter when
        # its private attributes get the fast path (see _fast_receiver)
        self._scopes: list[tuple[str, str | None]] = []
        self._approved_stores: set[int] = set()
        self._temps = 0

    # ------------------------------------------------------------------ errors

    def refuse(self, node: ast.AST, message: str, kind: str = "policy") -> None:
        self.violations.append(Violation(getattr(node, "lineno", None), message, kind))

    def error(self, node: ast.AST, info: str) -> None:  # RestrictedPython's own refusals
        self.refuse(node, info)

    def not_allowed(self, node: ast.AST) -> None:
        name = type(node).__name__
        self.refuse(node, REFUSED_SYNTAX.get(name, f"{name} statements are not allowed"))

    def warn(self, node: ast.AST, info: str) -> None:
        pass

    # ------------------------------------------------------------------ scopes and names

    def _in_class_body(self) -> bool:
        return bool(self._scopes) and self._scopes[-1][0] == "class"

    def _class_name(self) -> str | None:
        for kind, name in reversed(self._scopes):
            if kind == "class":
                return name
        return None

    def _check_identifier(
        self, node: ast.AST, name: str, store: bool, class_body: bool | None = None
    ) -> None:
        if name == "_":
            return
        in_class = self._in_class_body() if class_body is None else class_body
        if is_dunder(name):
            if (not store and name == "__name__") or (in_class and name in CLASS_BODY_DUNDERS):
                return
            self.refuse(node, f"name '{name}' is not allowed (names like '__x__' are reserved)")
        elif name.startswith("_") and name.endswith("_"):
            if in_class and name in ENUM_NAMES:
                return
            self.refuse(
                node,
                f"name '{name}' is not allowed (names like '_x_' are reserved for the sandbox)",
            )

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if name is not None:
            self._check_identifier(node, name, store=True)

    def _check_arguments(self, args: ast.arguments) -> None:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in every:
            self._check_identifier(arg, arg.arg, store=True, class_body=False)

    def _visit_body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        result: list[ast.stmt] = []
        for statement in body:
            new = self.visit(statement)
            if isinstance(new, list):
                result.extend(new)
            elif new is not None:
                result.append(new)
        return result

    def _guard_call(self, guard: str, value: ast.expr, attr: str, where: ast.AST) -> ast.Call:
        call = ast.Call(ast.Name(guard, ast.Load()), [value, ast.Constant(attr)], [])
        return ast.copy_location(call, where)

    # ------------------------------------------------------------------ module, names

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._visit_body(node.body)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if node.value == OWN_CLASS_MARKER and type(node.value) is str:
            self.refuse(node, "this string constant is reserved for the sandbox")
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        store = not isinstance(node.ctx, ast.Load)
        if store and node.id in NAME_LIST_DUNDERS and id(node) not in self._approved_stores:
            self.refuse(node, f"'{node.id}' may only be assigned a literal tuple of names")
        self._check_identifier(node, node.id, store)
        return node

    def visit_Global(self, node: ast.Global) -> ast.AST:
        for name in node.names:
            self._check_identifier(node, name, store=True)
        return node

    visit_Nonlocal = visit_Global  # noqa: N815 - NodeTransformer's naming

    # ------------------------------------------------------------------ attributes

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.value = self.visit(node.value)
        attr = mangle(node.attr, self._class_name())
        load = isinstance(node.ctx, ast.Load)
        if not attr.startswith("_"):
            if load and (attr in GUARDED_PUBLIC_NAMES or attr.startswith(GUARDED_PREFIXES)):
                return self._guard_call("_getattr_", node.value, attr, node)
            if not load:  # writes to library objects are allow-listed (guards.check_write)
                node.value = self._write_receiver(node.value, attr)
            return node
        if is_dunder(attr):
            if not load:
                action = "assignment to" if isinstance(node.ctx, ast.Store) else "deletion of"
                self.refuse(node, f"{action} attribute '{attr}' is not allowed")
            elif attr not in READABLE_DUNDERS:
                self.refuse(node, f"access to attribute '{attr}' is not allowed")
            else:
                return self._guard_call("_getattr_", node.value, attr, node)
            return node
        receiver = (
            self._scopes[-1][1] if self._scopes and self._scopes[-1][0] == "function" else None
        )
        fast = isinstance(node.value, ast.Name) and node.value.id == receiver and receiver
        if load:
            if fast:  # the fast copy of a method body: ``self`` is the code's own object
                node.attr = attr
                return node
            return self._guard_call("_getprivate_", node.value, attr, node)
        node.value = self._write_receiver(node.value, attr)
        node.attr = attr
        return node

    def _write_receiver(self, value: ast.expr, attr: str) -> ast.expr:
        """``_write_(obj, attr)``, the receiver of a store or delete: it returns ``obj`` when
        the write is allowed. ``self`` of a fast-path function skips it for the user's objects."""
        receiver = (
            self._scopes[-1][1] if self._scopes and self._scopes[-1][0] == "function" else None
        )
        if receiver and isinstance(value, ast.Name) and value.id == receiver:
            return value  # the fast copy of a method body
        guarded = self._guard_call("_write_", value, attr, value)
        if not isinstance(value, ast.Name) or attr.startswith("_"):
            return guarded
        # ``n.next = v`` on a local: ``(n if _type_(n) in _pureview_ else _write_(n, 'next'))``,
        # a C-level test instead of a call for the code's own objects (the name is read twice,
        # nothing can happen in between)
        own = ast.Compare(
            ast.Call(ast.Name("_type_", ast.Load()), [ast.Name(value.id, ast.Load())], []),
            [ast.In()],
            [ast.Name("_pureview_", ast.Load())],
        )
        plain = ast.Name(value.id, ast.Load())
        return ast.copy_location(ast.IfExp(own, plain, guarded), value)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("format", "format_map")
            and isinstance(func.ctx, ast.Load)
        ):
            guard = "_call_format_" if func.attr == "format" else "_call_format_map_"
            args = [self.visit(func.value), *(self.visit(arg) for arg in node.args)]
            keywords = [self.visit(keyword) for keyword in node.keywords]
            call = ast.Call(ast.Name(guard, ast.Load()), args, keywords)
            return ast.copy_location(call, node)
        return self.node_contents_visit(node)

    # ------------------------------------------------------------------ assignment

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if self._in_class_body():
            for target in node.targets:
                if (
                    isinstance(target, ast.Name)
                    and target.id in NAME_LIST_DUNDERS
                    and len(node.targets) == 1
                    and self._is_name_literal(node.value, target.id)
                ):
                    self._approved_stores.add(id(target))
        return self.node_contents_visit(node)

    def _is_name_literal(self, value: ast.expr, which: str) -> bool:
        items = value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
        for item in items:
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                return False
            name = item.value
            # A class pattern reads __match_args__ natively on any subject that passes
            # isinstance (ABC registration, runtime protocols): public names only.
            private = which == "__match_args__" and name.startswith("_")
            if private or is_dunder(name) or not name.isidentifier():
                self.refuse(item, f"'{name}' is not allowed in {which}")
        return True

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        target = node.target
        if isinstance(target, ast.Attribute):
            attr = mangle(target.attr, self._class_name())
            if attr in GUARDED_PUBLIC_NAMES or attr.startswith(GUARDED_PREFIXES):
                return self._guarded_aug_assign(node, target, attr)
        node.target = self.visit(target)
        node.value = self.visit(node.value)
        return node

    def _guarded_aug_assign(
        self, node: ast.AugAssign, target: ast.Attribute, attr: str
    ) -> list[ast.stmt]:
        """``o.name += v`` for a guarded name: read through ``_getattr_``, evaluate ``o`` once."""
        holder, value = f"_aug{self._temps}_", f"_aug{self._temps + 1}_"
        self._temps += 2
        read = self._guard_call("_getattr_", ast.Name(holder, ast.Load()), attr, node)
        statements: list[ast.stmt] = [
            ast.Assign([ast.Name(holder, ast.Store())], self.visit(target.value)),
            ast.Assign([ast.Name(value, ast.Store())], read),
            ast.AugAssign(ast.Name(value, ast.Store()), node.op, self.visit(node.value)),
            ast.Assign(
                [
                    ast.Attribute(
                        self._write_receiver(ast.Name(holder, ast.Load()), attr), attr, ast.Store()
                    )
                ],
                ast.Name(value, ast.Load()),
            ),
            ast.Delete([ast.Name(holder, ast.Del()), ast.Name(value, ast.Del())]),
        ]
        return [ast.copy_location(statement, node) for statement in statements]

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if isinstance(node.target, ast.Name) and node.target.id in NAME_LIST_DUNDERS:
            self.refuse(node, f"'{node.target.id}' may only be assigned a literal tuple of names")
        return self.node_contents_visit(node)

    def visit_With(self, node: ast.With) -> ast.AST:
        return self.node_contents_visit(node)

    # ------------------------------------------------------------------ loops

    def _guard_iter(self, node: ast.For | ast.comprehension) -> ast.AST:
        node = self.node_contents_visit(node)
        if self._guard_iteration:
            call = ast.Call(ast.Name("_getiter_", ast.Load()), [node.iter], [])
            node.iter = ast.copy_location(call, node.iter)
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        return self._guard_iter(node)

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        if node.is_async:
            self.refuse(node.iter, "'async for' is not allowed")
        return self._guard_iter(node)

    # ------------------------------------------------------------------ definitions

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if is_dunder(node.name):
            if not (self._in_class_body() and node.name in DEFINABLE_DUNDERS):
                where = "in a class" if self._in_class_body() else "outside a class"
                self.refuse(node, f"defining '{node.name}' {where} is not allowed")
        else:
            self._check_identifier(node, node.name, store=True)
        self._check_arguments(node.args)
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args = self.visit(node.args)
        if node.returns is not None:
            node.returns = self.visit(node.returns)
        receiver = self._fast_receiver(node)
        method = self._in_class_body()
        if receiver is None:
            self._scopes.append(("function", None))
            node.body = self._visit_body(node.body)
            self._scopes.pop()
            return node
        node.body = self._fast_and_guarded(node, receiver, method)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._check_arguments(node.args)
        node.args = self.visit(node.args)
        self._scopes.append(("function", None))
        node.body = self.visit(node.body)
        self._scopes.pop()
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._check_identifier(node, node.name, store=True)
        for keyword in node.keywords:
            if keyword.arg is None:
                self.refuse(keyword, "'**' keyword arguments in a class statement are not allowed")
            elif keyword.arg == "metaclass":
                self.refuse(keyword, "the 'metaclass' keyword is not allowed in class statements")
        node.bases = [self.visit(base) for base in node.bases]
        node.keywords = [self.visit(keyword) for keyword in node.keywords]
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self._scopes.append(("class", node.name))
        node.body = self._visit_body(node.body)
        self._scopes.pop()
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name is not None:
            self._check_identifier(node, node.name, store=True)
        return self.node_contents_visit(node)


def transform(
    tree: ast.Module,
    check_import: ImportCheck,
    check_from_import: FromImportCheck | None = None,
    guard_iteration: bool = False,
) -> list[Violation]:
    """Rewrite ``tree`` in place; the refusals found (empty when the code may run)."""
    transformer = PolicyTransformer(check_import, check_from_import, guard_iteration)
    transformer.visit(tree)
    ast.fix_missing_locations(tree)
    return transformer.violations
