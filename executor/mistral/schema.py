"""Checking a structured reply against the JSON schema it was asked to follow.

Mistral's strict ``json_schema`` mode usually guarantees the shape, but self-hosted servers and
older models do not, and a planner step that silently lacks a required field fails much later and
much more confusingly. The validator is ``jsonschema``, through the project's one error
formatter (``plugins.schema.validate``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from executor.mistral.errors import MalformedReplyError
from plugins.schema import validate


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
    """Human-readable violations (empty when valid), each naming the offending path -- the
    project's one formatter, ``plugins.schema.validate``."""
    return validate(instance, schema)
