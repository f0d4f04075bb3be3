"""A pipe to the runner inside a container: its stdin and stdout over the engine's attach socket.

Why the attach socket: it is a plain byte stream that the docker SDK opens against whatever engine
DOCKER_HOST names (unix socket, TCP, TLS, SSH), so the same warm runner works with a remote engine,
and a request costs one round trip instead of a `docker exec` (80-110 ms for a fresh python).

Without a TTY the engine multiplexes the container's stdout and stderr into frames of
``[stream, 0, 0, 0, size (4 bytes, big endian)]`` + payload. stdout carries our length-prefixed JSON
frames (sandbox.runtime.protocol); the runner's own stderr is kept as a short tail for error
messages ("container failed to start: ...").
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any

from sandbox.runtime.protocol import ProtocolError, decode_payload, encode_message

STDOUT, STDERR = 1, 2
_HEADER = struct.Struct(">BxxxL")
STDERR_TAIL_BYTES = 8192
HEADER_MAX = 24


class ChannelClosed(ConnectionError):
    """The container's end went away (runner exited, container killed or removed)."""


class ChannelTimeout(TimeoutError):
    """No complete reply before the deadline."""


class AttachChannel:
    """Request/reply over one hijacked attach connection. Not thread-safe: one run at a time."""

    def __init__(self, attach_socket: Any) -> None:
        # Keep the SDK's object alive: for TLS its response object owns the connection.
        self._handle = attach_socket
        self._sock: socket.socket = getattr(attach_socket, "_sock", attach_socket)
        if getattr(self._sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            # A remote engine: small request frames must leave at once, not wait for Nagle.
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._raw = bytearray()  # as read from the socket, still multiplexed
        self._stdout = bytearray()
        self._stderr_tail = bytearray()
        self._closed = False

    @property
    def stderr_tail(self) -> str:
        return self._stderr_tail.decode("utf-8", "replace")

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._sock.settimeout(10.0)
            self._sock.sendall(encode_message(message))
        except OSError as exc:
            raise ChannelClosed(f"cannot write to the runner: {exc}") from None

    def receive(self, deadline: float, max_bytes: int) -> dict[str, Any]:
        """One JSON frame from the runner's stdout, waiting until ``deadline`` (time.monotonic).

        A ChannelTimeout loses nothing: a frame that was partly read is completed by the next
        call (a run waiting for a cancel request polls in short steps)."""
        while True:
            frame = self._take_frame(max_bytes)
            if frame is not None:
                return frame
            self._pump(deadline)

    def has_unexpected_input(self) -> bool:
        """Between runs the runner's stdout is silent: its end of stream (the container died) or
        any stdout byte means the container must not serve another run. stderr (a warning of
        the runner's) is only kept for error messages."""
        if self._closed or self._stdout:
            return True
        try:
            while select.select([self._sock], [], [], 0)[0]:
                self._sock.settimeout(0)
                chunk = self._sock.recv(1 << 16)
                if not chunk:
                    return True
                self._raw += chunk
                self._demux()
        except (OSError, ValueError):
            return True
        return bool(self._stdout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closer in (self._sock, self._handle):
            try:
                closer.close()
            except Exception:
                pass

    def _take_frame(self, max_bytes: int) -> dict[str, Any] | None:
        end = self._stdout.find(b"\n", 0, HEADER_MAX)
        if end < 0:
            if len(self._stdout) >= HEADER_MAX:
                raise ProtocolError(f"bad frame header {bytes(self._stdout[:HEADER_MAX])!r}")
            return None
        header = bytes(self._stdout[:end])
        if not header.isdigit():
            raise ProtocolError(f"bad frame header {header[:HEADER_MAX]!r}")
        size = int(header)
        if size > max_bytes:
            raise ProtocolError(f"frame of {size} bytes exceeds the {max_bytes}-byte cap")
        stop = end + 1 + size
        if len(self._stdout) < stop:
            return None
        payload = bytes(self._stdout[end + 1 : stop])
        del self._stdout[:stop]
        return decode_payload(payload)

    def _pump(self, deadline: float) -> None:
        """Wait for more of the multiplexed stream and file what is complete under its stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChannelTimeout("the runner did not answer in time")
        try:
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(1 << 20)
        except TimeoutError:
            raise ChannelTimeout("the runner did not answer in time") from None
        except OSError as exc:
            raise ChannelClosed(f"lost the runner: {exc}") from None
        if not chunk:
            raise ChannelClosed("the runner's output ended")
        self._raw += chunk
        self._demux()

    def _demux(self) -> None:
        """Move every complete ``[stream, 0, 0, 0, size]`` + payload frame out of the raw buffer."""
        while len(self._raw) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(self._raw)
            end = _HEADER.size + size
            if len(self._raw) < end:
                return
            payload = self._raw[_HEADER.size : end]
            if stream == STDERR:
                self._stderr_tail += payload
                del self._stderr_tail[:-STDERR_TAIL_BYTES]
            else:
                self._stdout += payload
            del self._raw[:end]
