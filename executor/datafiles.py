"""The user's data files: what a run takes in, and where the files a program wrote go out.

Inputs arrive as a list of paths or a ``{name: bytes}`` mapping and are checked here, before a
run starts, so a bad one is the caller's clear error and never a half-started run: names must
be plain file names (no path parts, NUL or control characters, at most 255 bytes), unique, and
at most ``MISTRAL_EXECUTOR_MAX_FILES`` of them; a path must be a regular file (not a directory
or a symlink) no larger than ``MISTRAL_EXECUTOR_MAX_FILE_MB``. Nothing here parses a file's
content: what a file holds is found out inside the sandbox (``executor.profiling``).

Outputs (the accepted program's artifacts) are written with ``write_outputs``: every name is
reduced to one safe file name inside the target directory, and a symlink planted there is
replaced, never followed.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_FILE_MB = 200
DEFAULT_MAX_FILES = 20
MAX_NAME_BYTES = 255
MAX_FILES_ENV = "MISTRAL_EXECUTOR_MAX_FILES"
MAX_FILE_MB_ENV = "MISTRAL_EXECUTOR_MAX_FILE_MB"

# What the chat box and the CLI accept as data (images go to the vision model instead).
DATA_EXTENSIONS = (".csv", ".tsv", ".xlsx", ".json", ".jsonl", ".parquet", ".txt", ".pdf")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")

FileInputs = Sequence[str | os.PathLike[str]] | Mapping[str, bytes] | None


class DataFileError(ValueError):
    """An input or output file cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class FileLimits:
    """How many files a run takes and how large each may be (host-configurable)."""

    max_files: int = DEFAULT_MAX_FILES
    max_file_bytes: int = DEFAULT_MAX_FILE_MB * 1024 * 1024

    @classmethod
    def from_env(cls) -> FileLimits:
        """From ``MISTRAL_EXECUTOR_MAX_FILES`` / ``MISTRAL_EXECUTOR_MAX_FILE_MB`` (the
        project's settings module)."""
        from mistral_executor.settings import SettingsError, get_settings

        try:
            settings = get_settings()
        except SettingsError as exc:
            raise DataFileError(str(exc)) from None
        return cls(
            max_files=settings.max_files,
            max_file_bytes=settings.max_file_mb * 1024 * 1024,
        )

    def describe_size(self) -> str:
        return human_size(self.max_file_bytes)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns


def check_name(name: object) -> str:
    """A plain file name (NFC-normalised), or a ``DataFileError`` saying what is wrong with it."""
    if not isinstance(name, str):
        raise DataFileError(f"a file name must be text, not {type(name).__name__}")
    shown = repr(name[:80] + ("..." if len(name) > 80 else ""))
    if not name.strip():
        raise DataFileError("a file name is empty")
    if "\0" in name:
        raise DataFileError(f"file name {shown} contains a NUL character")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise DataFileError(f"file name {shown} contains control characters")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise DataFileError(
            f"file name {shown} has path parts: give a plain file name (like data.csv)"
        )
    name = unicodedata.normalize("NFC", name)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise DataFileError(f"file name {shown} is longer than {MAX_NAME_BYTES} bytes")
    return name


def collect_inputs(files: FileInputs, limits: FileLimits | None = None) -> dict[str, bytes]:
    """The run's input files as ``{name: bytes}``, every rule checked (see the module doc)."""
    if files is None:
        return {}
    limits = limits or FileLimits.from_env()
    if isinstance(files, str | bytes | os.PathLike):
        raise DataFileError("files must be a list of paths or a {name: bytes} mapping")
    items: list[tuple[str, bytes]] = []
    if isinstance(files, Mapping):
        _check_count(len(files), limits)
        for name, content in files.items():
            if not isinstance(content, bytes | bytearray | memoryview):
                raise DataFileError(
                    f"file {name!r} must be given as bytes, not {type(content).__name__}"
                )
            items.append((check_name(name), bytes(content)))
    else:
        paths = list(files)
        _check_count(len(paths), limits)
        for path in paths:
            items.append(read_input_path(path, limits))
    inputs: dict[str, bytes] = {}
    for name, content in items:
        if name in inputs:
            raise DataFileError(f"two input files are named {name!r}: rename one of them")
        if len(content) > limits.max_file_bytes:
            raise DataFileError(
                f"file {name!r} is {human_size(len(content))}, over the "
                f"{limits.describe_size()} per-file limit ({MAX_FILE_MB_ENV})"
            )
        inputs[name] = content
    return inputs


def _check_count(count: int, limits: FileLimits) -> None:
    if count > limits.max_files:
        raise DataFileError(
            f"{count} files given, more than the limit of {limits.max_files} per run "
            f"({MAX_FILES_ENV})"
        )


def read_input_path(path: str | os.PathLike[str], limits: FileLimits) -> tuple[str, bytes]:
    """One input path's name and bytes: a regular file, not a link, within the size cap. The
    file is opened without following a symlink, so a swap after the check changes nothing."""
    if not isinstance(path, str | os.PathLike):
        raise DataFileError(f"an input file must be a path, not {type(path).__name__}")
    path = Path(path)
    if "\0" in str(path):
        raise DataFileError(f"input path {str(path)[:80]!r} contains a NUL character")
    name = check_name(path.name)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise DataFileError(f"no such file: {path}") from None
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise DataFileError(f"{path} is a symlink: give the file it points to")
    if stat.S_ISDIR(info.st_mode):
        raise DataFileError(f"{path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise DataFileError(f"{path} is not a regular file")
    if info.st_size > limits.max_file_bytes:
        raise DataFileError(
            f"file {name!r} is {human_size(info.st_size)}, over the "
            f"{limits.describe_size()} per-file limit ({MAX_FILE_MB_ENV})"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise DataFileError(f"{path} is not a regular file")
        content = handle.read(limits.max_file_bytes + 1)
    if len(content) > limits.max_file_bytes:
        raise DataFileError(
            f"file {name!r} grew past the {limits.describe_size()} per-file limit while read"
        )
    return name, content


def merge_inputs(
    earlier: Mapping[str, bytes], new: Mapping[str, bytes], limits: FileLimits | None = None
) -> dict[str, bytes]:
    """A conversation's files so far plus this turn's (a re-upload under the same name wins).
    With ``limits``, the whole set is checked too: at most ``max_files`` files, and at most
    twice the per-file cap in all (the files stay in memory for the conversation's life)."""
    merged = {**earlier, **new}
    if limits is None or not new:
        return merged
    if len(merged) > limits.max_files:
        raise DataFileError(
            f"this conversation would hold {len(merged)} files, more than the limit of "
            f"{limits.max_files} ({MAX_FILES_ENV}): start a new conversation"
        )
    total = sum(len(data) for data in merged.values())
    if total > 2 * limits.max_file_bytes:
        raise DataFileError(
            f"this conversation's files would take {human_size(total)}, over "
            f"{human_size(2 * limits.max_file_bytes)} in all (twice {MAX_FILE_MB_ENV}): "
            "start a new conversation"
        )
    return merged


def outputs_of(files: Mapping[str, bytes], inputs: Mapping[str, bytes]) -> dict[str, bytes]:
    """What a program wrote, without the inputs given back unchanged."""
    return {name: data for name, data in files.items() if inputs.get(name) != data}


# ---------------------------------------------------------------------- outputs to a directory


def safe_output_name(name: str) -> str:
    """One plain, safe file name for a name a program produced (``sub/x.csv`` -> ``sub_x.csv``):
    no path parts, no control or NUL characters, no leading dot, at most 200 bytes."""
    name = unicodedata.normalize("NFC", str(name))
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    cleaned = "_".join(parts)
    cleaned = "".join("_" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in cleaned)
    cleaned = cleaned.lstrip(".").strip() or "output"
    encoded = cleaned.encode("utf-8")
    if len(encoded) > 200:
        stem, dot, ext = cleaned.rpartition(".")
        tail = f".{ext}" if dot and len(ext) <= 10 else ""
        cleaned = encoded[: 200 - len(tail.encode())].decode("utf-8", "ignore") + tail
    return cleaned


def write_outputs(files: Mapping[str, bytes], directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``files`` into ``directory`` (made if missing) under safe names; never outside it,
    never through a symlink. Returns the paths written, in order."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise DataFileError(f"output directory {target} exists and is not a directory")
    target.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    written: list[Path] = []
    used: set[str] = set()
    try:
        for name, content in files.items():
            safe = _unique(safe_output_name(name), used)
            used.add(safe)
            _write_at(dir_fd, safe, bytes(content))
            written.append(target / safe)
    finally:
        os.close(dir_fd)
    return written


def _unique(name: str, used: set[str]) -> str:
    if name not in used:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    number = 2
    while True:
        candidate = f"{stem}-{number}{'.' + ext if ext else ''}"
        if candidate not in used:
            return candidate
        number += 1


def _write_at(dir_fd: int, name: str, content: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    except OSError:
        # A symlink (or something else) sits under that name: replace it, never follow it.
        try:
            info = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            raise
        if stat.S_ISDIR(info.st_mode):
            raise DataFileError(f"cannot write {name!r}: a directory has that name") from None
        os.unlink(name, dir_fd=dir_fd)
        fd = os.open(name, flags | os.O_EXCL, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
