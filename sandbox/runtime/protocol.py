"""Framing for host <-> worker messages: a decimal length line, then that many bytes of JSON.

JSON and never pickle: a worker whose policy was fully escaped can still only send data, and the
host refuses frames over its size cap instead of reading without end.
"""

from __future__ import annotations

import json
import os
import select
import time
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
    return decode_payload(payload)


class FrameTimeout(TimeoutError):
    """No complete frame arrived before the deadline."""


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Write one frame to a raw file descriptor (raw fds, because forked children must not share
    buffered Python file objects with their parent)."""
    view = memoryview(encode_message(message))
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FrameReader:
    """Reads frames from a raw fd with an optional deadline, so a silent peer can be timed out.

    Buffers across calls: a peer may send several frames in one write or one frame in many.
    """

    HEADER_MAX = 24

    def __init__(self, fd: int, max_bytes: int) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def read(
        self, deadline: float | None = None, max_bytes: int | None = None
    ) -> dict[str, Any] | None:
        """The next frame; None at a clean end of stream; FrameTimeout once ``deadline``
        (a ``time.monotonic()`` value) passes."""
        cap = self.max_bytes if max_bytes is None else max_bytes
        while True:
            message = self._take_frame(cap)
            if message is not None:
                return message
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FrameTimeout("no reply before the deadline")
                if not self._poller.poll(int(remaining * 1000) + 1):
                    continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                if self._buffer:
                    raise ProtocolError("stream ended inside a frame")
                return None
            self._buffer += chunk

    def feed(self) -> bool:
        """Read what the peer sent so far (call when poll says the fd is readable, so it does
        not block); False at end of stream."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def take(self, max_bytes: int | None = None) -> dict[str, Any] | None:
        """A complete frame already read, or None; ProtocolError for a bad one."""
        return self._take_frame(self.max_bytes if max_bytes is None else max_bytes)

    @property
    def buffered(self) -> bool:
        """Bytes of an unfinished (or unread) frame are waiting."""
        return bool(self._buffer)

    def _take_frame(self, cap: int) -> dict[str, Any] | None:
        newline = self._buffer.find(b"\n", 0, self.HEADER_MAX)
        if newline < 0:
            if len(self._buffer) >= self.HEADER_MAX:
                raise ProtocolError(f"bad frame header {bytes(self._buffer[:24])!r}")
            return None
        header = bytes(self._buffer[:newline])
        if not header.isdigit():
            raise ProtocolError(f"bad frame header {header[:24]!r}")
        size = int(header)
        if size > cap:
            raise ProtocolError(f"frame of {size} bytes exceeds the {cap}-byte cap")
        end = newline + 1 + size
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[newline + 1 : end])
        del self._buffer[:end]
        return decode_payload(payload)


def decode_payload(payload: bytes) -> dict[str, Any]:
    """One frame's JSON object; ProtocolError for anything else, whatever the peer sent."""
    try:
        message = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    except Exception as exc:  # deep nesting (RecursionError), MemoryError: a hostile peer
        raise ProtocolError(f"frame could not be decoded: {type(exc).__name__}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message
