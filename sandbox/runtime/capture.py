"""Turning what user code did into plain data: output with a cap, figures, precise errors."""

from __future__ import annotations

import base64
import io
import sys
import traceback
from typing import Any

USER_FILENAME = "<user>"


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
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(lines),
        "lineno": lineno,
        "kind": kind,
    }
