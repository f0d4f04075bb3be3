"""Turning what user code did into plain data: output with a cap, figures, precise errors."""

from __future__ import annotations

import base64
import io
import sys
import traceback
from typing import Any

USER_FILENAME = "<user>"
# What one error text (message, traceback) may take in a reply, in UTF-8 bytes: the host caps
# its whole reply, so an unbounded ``raise ValueError("x" * 10**7)`` would otherwise cost the
# user their real error (and the host a worker restart).
MAX_ERROR_TEXT_BYTES = 64 * 1024
MAX_ERROR_TYPE_CHARS = 200


class CappedWriter(io.TextIOBase):
    """A text sink that keeps at most ``limit`` bytes and remembers that it cut the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[str] = []
        self.truncated = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.truncated:
            return len(text)
        encoded_len = len(text.encode("utf-8", "replace"))
        if self.size + encoded_len > self.limit:
            room = self.limit - self.size
            self.parts.append(text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore"))
            self.size = self.limit
            self.truncated = True
        else:
            self.parts.append(text)
            self.size += encoded_len
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


def collect_figures(max_images: int = 20, dpi: int = 100) -> list[str]:
    """Every matplotlib figure left open, as base64 PNG; the figures are closed afterwards."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    images = []
    for number in pyplot.get_fignums()[:max_images]:
        buffer = io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png", dpi=dpi)
        images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    pyplot.close("all")
    return images


def cap_text(text: str, limit: int = MAX_ERROR_TEXT_BYTES) -> str:
    """``text`` if it fits in ``limit`` UTF-8 bytes, else its head and tail around a
    ``... [cut N chars] ...`` marker (the tail of a traceback names the exception)."""
    if len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    room = max(limit - 64, 0) // 2
    head = data[:room].decode("utf-8", "ignore")
    tail = data[len(data) - room :].decode("utf-8", "ignore")
    cut = len(text) - len(head) - len(tail)
    return f"{head}\n... [cut {cut} chars] ...\n{tail}"


def cap_error(error: dict[str, Any]) -> dict[str, Any]:
    """The error dict with its texts capped (see ``cap_text``); other fields untouched."""
    capped = dict(error)
    for key in ("message", "traceback"):
        if isinstance(capped.get(key), str):
            capped[key] = cap_text(capped[key])
    if isinstance(capped.get("type"), str):
        capped["type"] = capped["type"][:MAX_ERROR_TYPE_CHARS]
    return capped


def error_from_exception(
    exc: BaseException, filename: str = USER_FILENAME, kind: str = "runtime"
) -> dict[str, Any]:
    """Type, message, the traceback limited to the user's frames, and the user's line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    lineno = frames[-1].lineno if frames else None
    if isinstance(exc, SyntaxError) and exc.filename in (filename, None):
        lineno = exc.lineno
        kind = "syntax"
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return cap_error(
        {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(lines),
            "lineno": lineno,
            "kind": kind,
        }
    )
