"""Images and documents as message chunks (base64 data URLs), sized for the model.

Vision models downscale large images anyway; sending a 12-megapixel photo costs upload time and
tokens for nothing, so images whose longer side exceeds ``max_side`` are resized here with Pillow.
Bytes that are not an image fail here with a clear error instead of as an opaque 400 from the API.
"""

from __future__ import annotations

import base64
import io
import mimetypes
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_SIDE = 1568
#: Formats every Mistral vision model accepts as-is.
_PASS_THROUGH = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class NotAnImageError(ValueError):
    """The data given as an image cannot be decoded as one."""


ImageSource = bytes | bytearray | memoryview | str | Path


def _read(source: ImageSource) -> tuple[bytes, str]:
    """The bytes and a label for messages ("image.png" or "the given bytes")."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "the given bytes"
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such image or document file: {path}")
    return path.read_bytes(), path.name


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_data_url(image: ImageSource, max_side: int | None = DEFAULT_MAX_SIDE) -> str:
    """A ``data:image/...;base64,`` URL, resized so the longer side is at most ``max_side``."""
    data, label = _read(image)
    if not data:
        raise NotAnImageError(f"{label} is empty, not an image")
    buffer = io.BytesIO(data)
    try:
        with Image.open(buffer) as img:
            img.load()
            fmt = img.format or ""
            small_enough = max_side is None or max(img.size) <= max_side
            if small_enough and fmt in _PASS_THROUGH:
                return _data_url(_PASS_THROUGH[fmt], data)
            return _reencode(img, max_side)
    except UnidentifiedImageError:
        why = "its content is not in an image format Pillow recognises"
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        # Pillow names the file it read, here our BytesIO: say the user's file instead.
        why = f"{type(exc).__name__}: {str(exc).replace(repr(buffer), label)}"
    raise NotAnImageError(
        f"{label} is not an image that can be sent to a vision model ({why}). "
        "Supported: PNG, JPEG, WEBP, GIF and anything else Pillow can open."
    )


def _reencode(img: Image.Image, max_side: int | None) -> str:
    frame = img.copy()
    if max_side is not None:
        frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    has_alpha = frame.mode in ("RGBA", "LA", "P", "PA") or "transparency" in frame.info
    out = io.BytesIO()
    if has_alpha or img.format != "JPEG":  # keep lossless sources (screenshots, plots) lossless
        frame.convert("RGBA" if has_alpha else "RGB").save(out, format="PNG", optimize=True)
        return _data_url("image/png", out.getvalue())
    frame.convert("RGB").save(out, format="JPEG", quality=90)
    return _data_url("image/jpeg", out.getvalue())


def image_chunk(image: ImageSource, max_side: int = DEFAULT_MAX_SIDE) -> dict[str, Any]:
    """``{"type": "image_url", "image_url": "data:image/png;base64,..."}`` for a message's content.

    A string that already is a data URL or an http(s) link is passed through untouched.
    """
    if isinstance(image, str) and image.startswith(("data:image/", "http://", "https://")):
        return {"type": "image_url", "image_url": image}
    return {"type": "image_url", "image_url": image_data_url(image, max_side)}


def text_chunk(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _sniff_mime(data: bytes, name: str | None) -> str | None:
    if data.startswith(b"%PDF"):
        return "application/pdf"
    if name:
        guessed, _ = mimetypes.guess_type(name)
        if guessed:
            return guessed
    try:
        with Image.open(io.BytesIO(data)) as img:
            return Image.MIME.get(img.format or "")
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def document_chunk(document: ImageSource, mime_type: str | None = None) -> dict[str, Any]:
    """The OCR ``document`` field: an ``image_url`` chunk for images, ``document_url`` otherwise."""
    if isinstance(document, str) and document.startswith(("http://", "https://")):
        is_image = (mimetypes.guess_type(document)[0] or "").startswith("image/")
        if is_image:
            return {"type": "image_url", "image_url": document}
        return {"type": "document_url", "document_url": document}
    data, label = _read(document)
    if not data:
        raise ValueError(f"{label} is empty; nothing to OCR")
    mime = mime_type or _sniff_mime(data, None if label == "the given bytes" else label)
    if mime is None:
        raise ValueError(
            f"cannot tell what kind of document {label} is; pass mime_type (e.g. 'application/pdf')"
        )
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": image_data_url(data, max_side=None)}
    return {"type": "document_url", "document_url": _data_url(mime, data)}
