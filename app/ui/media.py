"""Turning sandbox output into something Gradio can show: PNG images, and files to download."""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image

# A run may produce many figures; the browser only needs a handful and each costs an upload.
MAX_IMAGES_SHOWN = 12


def png_to_image(png: bytes) -> Image.Image | None:
    """Decode one PNG; ``None`` for bytes that are not an image (the code produced garbage)."""
    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except Exception:
        return None
    return image


def pngs_to_images(pngs: list[bytes] | None) -> list[Image.Image]:
    images = [png_to_image(png) for png in (pngs or [])[:MAX_IMAGES_SHOWN]]
    return [image for image in images if image is not None]


def image_to_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def download_dir(name: str, max_age_s: float = 7200) -> Path:
    """A fresh directory for files the browser downloads, under ``$TMPDIR/<name>``.

    Gradio serves a cached copy of each file, so ours are only needed briefly: directories older
    than ``max_age_s`` are swept here, and a long-lived host does not fill its disk.
    """
    root = Path(tempfile.gettempdir()) / name
    root.mkdir(exist_ok=True)
    cutoff = time.time() - max_age_s
    for old in root.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    directory = root / uuid.uuid4().hex
    directory.mkdir()
    return directory
