"""Checking a structured reply against the JSON schema it was asked to follow.

Mistral's strict ``json_schema`` mode usually guarantees the shape, but self-hosted servers and
older models do not, and a planner step that silently lacks a required field fails much later and
much more confusingly. The ``jsonschema`` package is used when installed; otherwise this small
validator covers the subset structured-output schemas use (type, properties, required,
additionalProperties, items, enum, const, anyOf/oneOf, min/max bounds, $ref to $defs).
"""

from __future__ import annotations

import json
import re
from typing import Any

from executor.mistral.errors import MalformedReplyError

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def parse_json_text(text: str) -> Any:
    """JSON from a model's text, tolerating a Markdown code fence around it."""
    stripped = text.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, flags=re.DOTALL)
    if fence:
        stripped = fence.group(1)
    return json.loads(stripped)


def parse_structured(reply: Any, schema: dict[str, Any]) -> Any:
    """The validated object in a ChatReply's content; MalformedReplyError (carrying the reply, so
    the caller can show it or ask the model again) when it is not JSON or does not match."""
    try:
        value = parse_json_text(reply.content)
    except ValueError as exc:
        raise MalformedReplyError(
            f"Model '{reply.model}' was asked for JSON but its reply is not valid JSON ({exc}): "
            f"{reply.content[:200]!r}",
            reply=reply,
        ) from None
    problems = schema_errors(value, schema)
    if problems:
        raise MalformedReplyError(
            f"Model '{reply.model}' replied with JSON that does not match the schema: "
            + "; ".join(problems[:5]),
            reply=reply,
        )
    return value


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Human-readable violations (empty when valid)."""
    try:
        import jsonschema  # type: ignore[import-not-found]
    except ImportError:
        return _validate(instance, schema, schema, "$")
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    expected = _TYPES.get(name)
    return expected is not None and isinstance(value, expected)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _validate(value: Any, schema: Any, root: dict[str, Any], path: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    schema = _resolve(schema, root)
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, n) for n in names):
            return [f"{path}: expected {' or '.join(names)}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']!r}")
    for key in ("anyOf", "oneOf"):
        if key in schema and all(_validate(value, option, root, path) for option in schema[key]):
            errors.append(f"{path}: matches none of the {key} alternatives")
    for option in schema.get("allOf", []):
        errors.extend(_validate(value, option, root, path))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing required property '{name}'")
        for name, item in value.items():
            if name in properties:
                errors.extend(_validate(item, properties[name], root, f"{path}.{name}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected property '{name}'")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors.extend(
                    _validate(item, schema["additionalProperties"], root, f"{path}.{name}")
                )
    if isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(_validate(item, schema.get("items"), root, f"{path}[{index}]"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above maximum {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
    return errors
