"""Command-line text that is not text: bytes from argv that are not valid UTF-8.

Python decodes argv with ``surrogateescape``: a byte that is not UTF-8 (``run $'\\xff'``, a file
name in Latin-1) becomes a lone surrogate such as ``\\udcff``, which no UTF-8 writer accepts -- the
trace store, the terminal or an HTTP body would raise ``UnicodeEncodeError`` far from the cause.
Text the user means (a task, a context, a model name) is refused here with exit code 2 and a
message saying where the bad byte is; a path is kept as it is (the file system takes those bytes
back) and only shown with replacement characters.
"""

from __future__ import annotations

import os
import re

import typer

_SURROGATE = re.compile("[\ud800-\udfff]")


def undecodable_at(text: str) -> int | None:
    """Index of the first character that stands for an undecodable byte, or None."""
    match = _SURROGATE.search(text)
    return match.start() if match else None


def require_text(value: str, what: str) -> str:
    """``value`` if it is real text; otherwise print why not and exit with code 2."""
    where = undecodable_at(value)
    if where is None:
        return value
    char = value[where]
    try:
        found = f"byte 0x{char.encode('utf-8', 'surrogateescape').hex()}"
    except UnicodeEncodeError:  # a lone surrogate that did not come from a byte
        found = f"U+{ord(char):04X}"
    typer.echo(
        f"error: {what} holds something that is not UTF-8 text ({found} at character {where}): "
        "give it as UTF-8 (check the encoding of your terminal, locale or file).",
        err=True,
    )
    raise typer.Exit(2)


def shown(value: object) -> str:
    """A path or text for a message: undecodable bytes shown as U+FFFD, never an encoding error."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
