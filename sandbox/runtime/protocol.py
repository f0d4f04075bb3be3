"""Framing for host <-> worker messages: a decimal length line, then that many bytes of JSON.

JSON and never pickle: a worker whose policy was fully escaped can still only send data, and the
host refuses frames over its size cap instead of reading without end.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO


class ProtocolError(RuntimeError):
    """The other side sent something that is not a well-formed frame."""


def encode_message(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return b"%d\n" % len(payload) + payload


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(encode_message(message))
    stream.flush()


def read_message(stream: BinaryIO, max_bytes: int) -> dict[str, Any] | None:
    """Read one frame; None at a clean end of stream."""
    header = stream.readline(24)
    if not header:
        return None
    if not header.endswith(b"\n") or not header[:-1].isdigit():
        raise ProtocolError(f"bad frame header {header[:24]!r}")
    size = int(header)
    if size > max_bytes:
        raise ProtocolError(f"frame of {size} bytes exceeds the {max_bytes}-byte cap")
    payload = stream.read(size)
    if len(payload) != size:
        raise ProtocolError("stream ended inside a frame")
    try:
        message = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message
