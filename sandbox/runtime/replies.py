"""Checking a run's result dict before anyone relies on it, wherever it crosses a boundary.

A child process ran hostile code: whatever frame it wrote is checked here by the fork-server
(field by field, images decoded, bound to the run by a nonce the child got with its request),
and the host checks the fork-server's frame again with the same function. A frame that fails
ends only the run and the process that sent it, with an ``internal`` error naming the cause.

Standard library only: this module is copied into the Docker image with the rest of the runtime.
"""

from __future__ import annotations

import binascii
from typing import Any

ERROR_KINDS = ("syntax", "policy", "import", "runtime", "limit", "crash", "internal", "cancelled")
LIMIT_KINDS = ("timeout", "memory", "output", "processes")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGES = 20
MAX_IMAGE_CHARS = 16 * 1024 * 1024  # base64 characters over all images of one run
MAX_ERROR_FIELD_BYTES = 64 * 1024  # message and traceback, each, in UTF-8
MAX_ERROR_TYPE_CHARS = 200


class InvalidReply(ValueError):
    """A result that does not have the shape the protocol promises; the message names why."""


def _text(value: Any, cap_bytes: int, what: str) -> str:
    """A string field, cut to ``cap_bytes`` UTF-8 bytes (a long text is not malformed)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidReply(f"{what} is not a string")
    if len(value) * 4 <= cap_bytes:
        return value
    data = value.encode("utf-8", "replace")
    if len(data) <= cap_bytes:
        return value
    return data[:cap_bytes].decode("utf-8", "ignore")


def check_error(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidReply("error is not an object")
    kind = value.get("kind", "runtime")
    if kind not in ERROR_KINDS:
        raise InvalidReply(f"unknown error kind {str(kind)[:40]!r}")
    lineno = value.get("lineno")
    if lineno is not None and (type(lineno) is not int or not 0 <= lineno < 1 << 31):
        raise InvalidReply("error.lineno is not a line number")
    return {
        "type": _text(value.get("type"), MAX_ERROR_TYPE_CHARS, "error.type") or "Error",
        "message": _text(value.get("message"), MAX_ERROR_FIELD_BYTES, "error.message"),
        "traceback": _text(value.get("traceback"), MAX_ERROR_FIELD_BYTES, "error.traceback"),
        "lineno": lineno,
        "kind": kind,
    }


def check_images(value: Any) -> list[str]:
    """The base64 PNGs, each decoded to check it really is one; the total size is capped."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_IMAGES:
        raise InvalidReply(f"images is not a list of at most {MAX_IMAGES}")
    total = 0
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidReply(f"image {index} is not a base64 string")
        total += len(item)
        if total > MAX_IMAGE_CHARS:
            raise InvalidReply(f"the images exceed {MAX_IMAGE_CHARS} base64 characters")
        try:
            png = binascii.a2b_base64(item.encode("ascii"), strict_mode=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise InvalidReply(f"image {index} is not valid base64") from None
        if not png.startswith(PNG_MAGIC):
            raise InvalidReply(f"image {index} is not a PNG")
    return list(value)


def check_result(data: Any) -> dict[str, Any]:
    """The run-result fields (ok, error, limit_hit, images) checked and normalised; any other
    key is dropped. Raises InvalidReply."""
    if not isinstance(data, dict):
        raise InvalidReply("the result is not an object")
    limit_hit = data.get("limit_hit")
    if limit_hit is not None and limit_hit not in LIMIT_KINDS:
        raise InvalidReply(f"unknown limit {str(limit_hit)[:40]!r}")
    ok = data.get("ok")
    if not isinstance(ok, bool):
        raise InvalidReply("ok is not a boolean")
    error = check_error(data.get("error"))
    return {
        "ok": ok and error is None and limit_hit is None,
        "error": error,
        "limit_hit": limit_hit,
        "images": check_images(data.get("images")),
    }


def check_bound(frame: dict[str, Any], run_id: str) -> None:
    """The frame answers the run ``run_id`` (the nonce sent with its request), or InvalidReply:
    a reply can never be taken for another run's."""
    if frame.get("run") != run_id:
        raise InvalidReply("the reply does not belong to this run (late or forged)")
