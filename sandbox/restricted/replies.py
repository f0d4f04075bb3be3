"""Turning a fork-server's reply into a RunResult without trusting a single field of it.

The reply is JSON produced by a process that may be fully compromised. JSON parsing cannot run
code; what remains is to check every field's type and size before it reaches a dataclass the
rest of the program relies on. The run-result fields are checked by the same function the
fork-server already applied to its child's reply (``sandbox.runtime.replies``).
"""

from __future__ import annotations

import base64
from typing import Any

from sandbox.contract import ErrorInfo, Limits, RunResult
from sandbox.runtime.replies import (
    MAX_ERROR_FIELD_BYTES,
    MAX_IMAGE_CHARS,
    InvalidReply,
    check_result,
)

MAX_ERROR_FIELD = MAX_ERROR_FIELD_BYTES


class MalformedReply(InvalidReply):
    """The worker's reply does not have the shape the protocol promises."""


def max_reply_bytes(limits: Limits) -> int:
    """Room for two capped streams even when JSON escapes every byte (\\uXXXX), the images, and
    the error (message and traceback, each at most MAX_ERROR_FIELD UTF-8 bytes, escaped up to
    6-fold); anything larger is a misbehaving worker."""
    return 2 * 12 * limits.max_output_bytes + MAX_IMAGE_CHARS + 16 * MAX_ERROR_FIELD + 65536


def _text(value: Any, cap: int, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReply(f"{what} is not a string")
    return value if len(value.encode("utf-8", "replace")) <= cap else _cut(value, cap)


def _cut(text: str, cap: int) -> str:
    return text.encode("utf-8", "replace")[:cap].decode("utf-8", "ignore")


def result_from_reply(reply: dict[str, Any], limits: Limits, backend: str) -> RunResult:
    """The RunResult a ``{"op": "result"}`` frame describes; MalformedReply otherwise."""
    if reply.get("op") != "result" or not isinstance(reply.get("result"), dict):
        raise MalformedReply(f"expected a result frame, got op {str(reply.get('op'))[:40]!r}")
    data = reply["result"]
    try:
        checked = check_result(data)
    except InvalidReply as exc:
        raise MalformedReply(str(exc)) from None
    error = checked["error"]
    return RunResult(
        ok=checked["ok"],
        stdout=_text(data.get("stdout"), limits.max_output_bytes, "stdout"),
        stderr=_text(data.get("stderr"), limits.max_output_bytes, "stderr"),
        error=ErrorInfo(**error) if error else None,
        limit_hit=checked["limit_hit"],
        images=[base64.b64decode(image) for image in checked["images"]],
        backend=backend,
    )


def failure(
    backend: str, kind: str, type_: str, message: str, limit: str | None = None
) -> RunResult:
    """A RunResult for failures the host itself observed (worker died, backstop timeout)."""
    return RunResult(
        ok=False,
        error=ErrorInfo(type=type_, message=message, kind=kind),  # type: ignore[arg-type]
        limit_hit=limit,  # type: ignore[arg-type]
        backend=backend,
    )
