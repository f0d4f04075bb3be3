"""The runner's result as a RunResult: data from inside the sandbox, checked field by field
(``sandbox.runtime.replies``, as the runner already checked its child's) rather than trusted."""

from __future__ import annotations

import base64
from typing import Any

from sandbox.contract import ErrorInfo, Limits, RunResult
from sandbox.runtime.replies import InvalidReply, check_result


def result_from_reply(data: dict[str, Any], limits: Limits | None = None) -> RunResult:
    """The runner's result dict as a RunResult; it is data from inside the sandbox, so every field
    is checked (``sandbox.runtime.replies``, as the runner checked its child's) rather than
    trusted. Raises InvalidReply."""
    checked = check_result(data)
    cap = (limits or Limits()).max_output_bytes
    files = data.get("files")
    if files is not None and not isinstance(files, dict):
        raise InvalidReply("files is not an object")
    decoded_files = {}
    for name, content in (files or {}).items():
        decoded = _unbase64(content)
        if decoded is None:
            raise InvalidReply(f"file {str(name)[:80]!r} is not base64")
        decoded_files[str(name)] = decoded
    error = checked["error"]
    return RunResult(
        ok=checked["ok"],
        stdout=_stream(data.get("stdout"), cap, "stdout"),
        stderr=_stream(data.get("stderr"), cap, "stderr"),
        error=ErrorInfo(**error) if error else None,
        limit_hit=checked["limit_hit"],
        images=[base64.b64decode(png) for png in checked["images"]],
        files=decoded_files,
    )


def _stream(value: object, cap: int, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidReply(f"{what} is not a string")
    data = value.encode("utf-8", "replace")
    return value if len(data) <= cap else data[:cap].decode("utf-8", "ignore")


def _unbase64(value: object) -> bytes | None:
    """Decoded bytes, or None for anything that is not valid base64 text (never an exception)."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None


def failure(kind: str, type_: str, message: str) -> RunResult:
    return RunResult(ok=False, error=ErrorInfo(type=type_, message=message, kind=kind))  # type: ignore[arg-type]


def limit_result(limit: str, type_: str, message: str) -> RunResult:
    result = failure("limit", type_, message)
    result.limit_hit = limit  # type: ignore[assignment]
    return result
