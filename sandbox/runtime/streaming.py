"""Live output: what a running program prints, passed to the caller while it runs.

The child writes its stdout and stderr into the memfd it shares with the fork-server
(``sandbox.runtime.output``); when a run request asks for it (``"stream": true``), the
fork-server reads the new bytes every ``STREAM_INTERVAL_S`` while it waits for the child's reply
(``OutputPump``) and sends ``{"op": "output", "run", "stream", "data"}`` frames before the
result. The host checks each frame (``check_output_frame``: bound to the run, sizes capped, no
more in total than the run may print) and hands the text to the caller's callback
(``OutputRelay``). The final ``RunResult`` is read from the memfd as always: streaming changes
nothing in it.

A run that does not ask for streaming pays nothing: no frame, no extra read, no extra wake-up.
Standard library only (this module is copied into the Docker image with the runtime).
"""

from __future__ import annotations

import codecs
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from sandbox.runtime.output import HEADER
from sandbox.runtime.replies import InvalidReply

STREAM_INTERVAL_S = 0.05  # at most twenty output frames a second per stream
FRAME_DATA_BYTES = 64 * 1024  # UTF-8 bytes of output per frame
# A frame of FRAME_DATA_BYTES that JSON escapes 6-fold (``\\u00XX``), and its envelope.
MAX_OUTPUT_FRAME_BYTES = 6 * FRAME_DATA_BYTES + 1024
STREAMS = ("stdout", "stderr")

log = logging.getLogger(__name__)


class OutputPump:
    """The fork-server's reader of one run's shared output: new bytes since the last look,
    decoded without cutting a character in two, sent through ``send(stream, text)``.

    The child may be hostile and write anything into the memfd, lengths included: they are
    clamped to the sealed file, and a length that goes backwards sends nothing (the result is
    read from the memfd at the end anyway)."""

    def __init__(self, fd: int, send: Callable[[str, str], None], limit: int) -> None:
        self.fd = fd
        self.send = send
        size = os.fstat(fd).st_size
        self.cap = max(0, (size - HEADER.size) // 2)  # the memfd's room per stream
        # A session's memfd keeps its first run's size: never stream past this run's own cap.
        self.limit = min(self.cap, limit)
        self.sent = [0, 0]
        self.decoders = [codecs.getincrementaldecoder("utf-8")("ignore") for _ in STREAMS]
        self.last = time.monotonic()  # nothing to read yet: the first look is one interval on

    def tick(self) -> None:
        """Send what is new if the last send was at least ``STREAM_INTERVAL_S`` ago."""
        now = time.monotonic()
        if now - self.last >= STREAM_INTERVAL_S:
            self.last = now
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        """Send everything written so far (``final``: the run is over, nothing more comes)."""
        if self.limit <= 0:
            return
        try:
            lengths = HEADER.unpack(os.pread(self.fd, HEADER.size, 0))
        except OSError:
            return
        for index, name in enumerate(STREAMS):
            end = min(lengths[index], self.limit)
            base = HEADER.size + index * self.cap
            while self.sent[index] < end:
                size = min(end - self.sent[index], FRAME_DATA_BYTES)
                data = os.pread(self.fd, size, base + self.sent[index])
                if not data:
                    break
                self.sent[index] += len(data)
                text = self.decoders[index].decode(data, False)
                if text:
                    self.send(name, text)
            if final:
                rest = self.decoders[index].decode(b"", True)
                if rest:
                    self.send(name, rest)


def check_output_frame(frame: dict[str, Any], run_id: str) -> tuple[str, str]:
    """The (stream, text) of an ``{"op": "output"}`` frame for run ``run_id``; InvalidReply for
    a frame of another run, an unknown stream, or text over the per-frame cap."""
    if frame.get("run") != run_id:
        raise InvalidReply("an output frame does not belong to this run (late or forged)")
    stream = frame.get("stream")
    if stream not in STREAMS:
        raise InvalidReply(f"an output frame names an unknown stream {str(stream)[:40]!r}")
    data = frame.get("data")
    if not isinstance(data, str):
        raise InvalidReply("an output frame's data is not a string")
    if len(data) > FRAME_DATA_BYTES or len(data.encode("utf-8", "replace")) > FRAME_DATA_BYTES:
        raise InvalidReply(f"an output frame holds more than {FRAME_DATA_BYTES} bytes")
    return stream, data


def relay_output(relay: OutputRelay | None, frame: dict[str, Any]) -> str | None:
    """Pass one output frame to ``relay``; what is wrong with it, or None. A frame for a run
    that did not ask for streaming (``relay`` None) is wrong too."""
    if relay is None:
        return "the worker streamed output nobody asked for"
    try:
        relay.handle(frame)
    except InvalidReply as exc:
        return str(exc)
    return None


class OutputRelay:
    """The host's end: checks each output frame and calls the caller's ``on_output``.

    ``max_bytes``: what the run may print per stream (its output cap); a worker that streams
    more than that is not to be trusted. A callback that raises is logged and not called
    again for this run: the caller's bug must not break the run."""

    def __init__(self, on_output: Callable[[str, str], None], run_id: str, max_bytes: int):
        self.on_output: Callable[[str, str], None] | None = on_output
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.received = {name: 0 for name in STREAMS}

    def handle(self, frame: dict[str, Any]) -> None:
        """Check one ``{"op": "output"}`` frame and pass it on; InvalidReply for a bad one."""
        stream, data = check_output_frame(frame, self.run_id)
        self.received[stream] += len(data.encode("utf-8", "replace"))
        if self.received[stream] > self.max_bytes:
            raise InvalidReply(f"more {stream} was streamed than the run's output cap")
        callback = self.on_output
        if callback is None or not data:
            return
        try:
            callback(stream, data)
        except Exception:
            log.exception("the on_output callback failed; no more output is passed to it")
            self.on_output = None
