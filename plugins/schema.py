"""JSON schemas for tools: derived from a typed Python function, and checked against arguments.

Plugin authors should be able to write an ordinary function with type hints and a docstring and get
a correct function-calling schema, exactly like ``llm``'s tools. Arguments are checked with
``jsonschema`` before the tool runs: a model's malformed arguments become a precise message naming
the offending path, which it can fix, instead of a ``TypeError`` deep inside the tool.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jsonschema

_PRIMITIVES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_ARGS_HEADERS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_SECTION_HEADERS = _ARGS_HEADERS | {
    "returns",
    "return",
    "yields",
    "raises",
    "examples",
    "example",
    "notes",
    "note",
    "see also",
    "attributes",
    "warnings",
    "references",
    "other parameters",
}


def schema_from_function(fn: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """Return ``(description, parameters_schema)`` for ``fn``.

    Raises ``TypeError`` for a parameter type that has no JSON equivalent, so a bad tool is refused
    when it is registered rather than when the model first calls it.
    """
    summary, param_docs = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolvable forward references
        raise TypeError(f"cannot resolve the type hints of {fn!r}: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(param.name)
        # An unannotated parameter still needs guidance for the model: text is the safe default.
        prop = type_schema(hint) if hint is not None else {"type": "string"}
        if param.name in param_docs and "description" not in prop:
            prop["description"] = param_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _json_literal(param.default):
            prop["default"] = param.default
        properties[param.name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return summary, schema


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of one Python type annotation."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        schema = type_schema(args[0])
        notes = [meta for meta in args[1:] if isinstance(meta, str)]
        if notes:
            schema["description"] = notes[0]
        return schema
    if tp is Any or tp is object:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if origin in (typing.Union, types.UnionType):
        members = [type_schema(arg) for arg in args if arg is not type(None)]
        # Optional[X] is "X, may be left out": the default carries the None.
        return members[0] if len(members) == 1 else {"anyOf": members}
    if origin is typing.Literal:
        schema = {"enum": list(args)}
        kinds = {_PRIMITIVES.get(type(arg)) for arg in args}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    if origin is not None and isinstance(origin, type):
        if issubclass(origin, (str, bytes)):
            raise TypeError(f"unsupported parameter type {tp!r}")
        if issubclass(origin, Mapping):
            value = type_schema(args[1]) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": value}
        if issubclass(origin, tuple) and args and args[-1] is not Ellipsis:
            items = [type_schema(arg) for arg in args]
            return {
                "type": "array",
                "prefixItems": items,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if issubclass(origin, (Sequence, set, frozenset)):
            return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if tp in (list, tuple, set, frozenset):
        return {"type": "array"}
    if tp is dict:
        return {"type": "object"}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _record_schema(
            tp,
            {
                f.name
                for f in dataclasses.fields(tp)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            },
        )
    if typing.is_typeddict(tp):
        return _record_schema(tp, set(tp.__required_keys__))
    raise TypeError(
        f"unsupported parameter type {tp!r}: use str, int, float, bool, Literal, "
        "Enum, list, dict, a dataclass or a TypedDict"
    )


def _record_schema(tp: type, required: set[str]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp, include_extras=True)
    return {
        "type": "object",
        "properties": {name: type_schema(hint) for name, hint in hints.items()},
        "required": [name for name in hints if name in required],
    }


def _json_literal(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value is not None
    if isinstance(value, (list, tuple)):
        return all(_json_literal(item) for item in value)
    return False


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a docstring into its description and per-parameter docs.

    Understands Google style (``Args:`` + ``name (type): text``), numpy style (``Parameters`` over a
    dashed rule, ``name : type`` then indented text) and Sphinx fields (``:param name: text``).
    """
    lines = doc.expandtabs().splitlines()
    params: dict[str, str] = {}
    summary: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        header = stripped.rstrip(":").lower()
        numpy_rule = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x")
        if header in _SECTION_HEADERS and (stripped.endswith(":") or numpy_rule):
            start = i + (2 if numpy_rule else 1)
            end = _section_end(lines, start, _indent(line))
            if header in _ARGS_HEADERS:
                params.update(
                    _parse_numpy(lines[start:end])
                    if numpy_rule
                    else _parse_google(lines[start:end])
                )
            i = end
            continue
        sphinx = re.match(r":param\s+(?:[^:]*\s)?(\w+):\s*(.*)", stripped)
        if sphinx:
            params[sphinx.group(1)] = sphinx.group(2).strip()
        elif not re.match(r":(returns?|raises?|rtype|type)\b", stripped):
            summary.append(stripped)
        i += 1
    description = re.sub(r"\n{3,}", "\n\n", "\n".join(summary)).strip()
    return description, params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _section_end(lines: list[str], start: int, header_indent: int) -> int:
    """A section runs until the next header at the same (or lesser) indent."""
    for j in range(start, len(lines)):
        text = lines[j].strip()
        if not text:
            continue
        if _indent(lines[j]) <= header_indent:
            is_numpy = j + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[j + 1].strip() or "x")
            if text.endswith(":") or is_numpy or text.rstrip(":").lower() in _SECTION_HEADERS:
                return j
    return len(lines)


def _parse_google(block: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    current: str | None = None
    base: int | None = None
    for line in block:
        if not line.strip():
            continue
        indent = _indent(line)
        if base is None:
            base = indent
        match = re.match(r"\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)", line)
        if indent <= base and match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
    return params


def _parse_numpy(block: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    current: list[str] = []
    base: int | None = None
    for line in block:
        if not line.strip():
            continue
        indent = _indent(line)
        if base is None:
            base = indent
        if indent <= base:
            # "x, y : int" documents two parameters at once.
            current = [name.strip().lstrip("*") for name in line.split(":", 1)[0].split(",")]
            params.update({name: "" for name in current})
        else:
            for name in current:
                params[name] = f"{params[name]} {line.strip()}".strip()
    return params


def validate(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every way ``value`` breaks ``schema``, as short sentences naming the offending path, in
    document order. The project's one formatter of JSON-schema errors (tool arguments,
    structured replies, imported traces)."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [describe(e) for e in sorted(validator.iter_errors(value), key=_document_order)]


#: jsonschema quotes the offending value in its message; a huge one would drown the message.
_MAX_MESSAGE = 300


def describe(error: jsonschema.ValidationError) -> str:
    """``$.path.to.0.field: what is wrong``, cut to a readable length."""
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    return f"{'.'.join(['$', *map(str, error.absolute_path)])}: {message}"


def _document_order(error: jsonschema.ValidationError) -> tuple:
    """Array items by index (item 2 before item 10), then object keys by name."""
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path)
