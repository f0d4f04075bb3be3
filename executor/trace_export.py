"""The exported-run format (``traces export`` / ``traces import``) and its checking.

An import reads a file someone else may have written or edited, so the whole document is
checked before anything is stored: a JSON schema for shapes and types, then what a schema cannot
say (``seq`` unique among the events). A refusal names the first problem by its path in the
document (``$.events.3.seq: 'x' is not of type 'integer'``) and nothing is imported.
"""

from __future__ import annotations

import json
from typing import Any

from plugins.schema import validate

EXPORT_FORMAT = "mistral-executor-run"
EXPORT_VERSION = 1

_TEXT = {"type": "string"}
_NAME = {"type": "string", "maxLength": 100}
_TIME = {"type": ["number", "null"], "minimum": 0}
_COUNT = {"type": ["integer", "null"], "minimum": 0}

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["seq", "phase", "step", "status"],
    "properties": {
        "seq": {"type": "integer", "minimum": 0},
        "timestamp": {"type": "number", "minimum": 0},
        "phase": _NAME,
        "step": _NAME,
        "status": _NAME,
        "attempt": {"type": "integer", "minimum": 0},
        "duration_ms": {"type": "number", "minimum": 0},
        "tokens": {"type": "integer", "minimum": 0},
        "payload": {"type": "object"},
        "message": _TEXT,
        "run_id": _TEXT,  # replaced by the run's id on import
    },
}

EXPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "run"],
    "properties": {
        "format": {"const": EXPORT_FORMAT},
        "version": {"type": "integer", "minimum": 1, "maximum": EXPORT_VERSION},
        "run": {
            "type": "object",
            "required": ["id"],
            "properties": {
                # Ids are shown, typed back as prefixes and used in file names: keep them plain.
                "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"},
                "task": _TEXT,
                "status": _NAME,
                "created_at": _TIME,
                "finished_at": _TIME,
                "interrupted_at": _TIME,
                "conversation_id": {"type": ["string", "null"], "maxLength": 200},
                "total_duration_ms": _TIME,
                "total_tokens": _COUNT,
                "meta": {"type": ["object", "null"]},
            },
        },
        "result": {"type": ["object", "null"]},
        "events": {"type": "array", "items": EVENT_SCHEMA},
    },
}


class InvalidExportError(ValueError):
    """The document is not an importable exported run; the message names the first problem."""


def _reject_constant(name: str) -> float:
    raise InvalidExportError(f"{name} is not a JSON number (NaN and Infinity are not allowed)")


def parse_export(text: str) -> Any:
    """JSON text to a document, strictly: no NaN/Infinity, a precise message when malformed."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidExportError(
            f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def check_export(data: Any) -> None:
    """Raise InvalidExportError naming the first problem of ``data``; return when importable."""
    if isinstance(data, dict):
        if data.get("format") != EXPORT_FORMAT:
            raise InvalidExportError(
                f"$.format: not an exported mistral-executor run (expected {EXPORT_FORMAT!r})"
            )
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > EXPORT_VERSION:
            raise InvalidExportError(
                f"$.version: exported with a newer format version {version}; this "
                f"mistral-executor reads version {EXPORT_VERSION} (upgrade it to import this run)"
            )
    problems = validate(data, EXPORT_SCHEMA)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidExportError(problems[0] + more)
    first_of: dict[int, int] = {}
    for index, event in enumerate(data.get("events") or []):
        seq = event["seq"]
        if seq in first_of:
            raise InvalidExportError(
                f"$.events.{index}.seq: {seq} is also the seq of $.events.{first_of[seq]} "
                "(each event of a run has its own seq)"
            )
        first_of[seq] = index
