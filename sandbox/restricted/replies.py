"""Turning a fork-server's reply into a RunResult without trusting a single field of it.

The reply is JSON produced by a process that may be fully compromised. JSON parsing cannot run
code; what remains is to check every field's type and size before it reaches a dataclass the
rest of the program relies on.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sandbox.contract import LIMIT_KINDS, ErrorInfo, Limits, RunResult

ERROR_KINDS = ("syntax", "policy", "import", "runtime", "limit", "crash", "internal")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGES = 20
MAX_IMAGE_CHARS = 16 * 1024 * 1024
MAX_ERROR_FIELD = 64 * 1024


class MalformedReply(ValueError):
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


def _error(value: Any) -> ErrorInfo | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedReply("error is not an object")
    type_ = _text(value.get("type"), 200, "error.type") or "Error"
    kind = value.get("kind", "runtime")
    if kind not in ERROR_KINDS:
        raise MalformedReply(f"unknown error kind {kind!r}")
    lineno = value.get("lineno")
    if lineno is not None and (type(lineno) is not int or lineno < 0):
        raise MalformedReply("error.lineno is not a line number")
    return ErrorInfo(
        type=type_,
        message=_text(value.get("message"), MAX_ERROR_FIELD, "error.message"),
        traceback=_text(value.get("traceback"), MAX_ERROR_FIELD, "error.traceback"),
        lineno=lineno,
        kind=kind,
    )


def _images(value: Any) -> list[bytes]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_IMAGES:
        raise MalformedReply("images is not a short list")
    images = []
    for item in value:
        if not isinstance(item, str):
            raise MalformedReply("an image is not a base64 string")
        try:
            png = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedReply("an image is not valid base64") from None
        if not png.startswith(PNG_MAGIC):
            raise MalformedReply("an image is not a PNG")
        images.append(png)
    return images


def result_from_reply(reply: dict[str, Any], limits: Limits, backend: str) -> RunResult:
    """The RunResult a ``{"op": "result"}`` frame describes; MalformedReply otherwise."""
    if reply.get("op") != "result" or not isinstance(reply.get("result"), dict):
        raise MalformedReply(f"expected a result frame, got op {reply.get('op')!r}")
    data = reply["result"]
    limit_hit = data.get("limit_hit")
    if limit_hit is not None and limit_hit not in LIMIT_KINDS:
        raise MalformedReply(f"unknown limit {limit_hit!r}")
    error = _error(data.get("error"))
    return RunResult(
        ok=data.get("ok") is True and error is None and limit_hit is None,
        stdout=_text(data.get("stdout"), limits.max_output_bytes, "stdout"),
        stderr=_text(data.get("stderr"), limits.max_output_bytes, "stderr"),
        error=error,
        limit_hit=limit_hit,
        images=_images(data.get("images")),
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
