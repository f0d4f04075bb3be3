"""Turning PNG bytes from the sandbox into something Gradio can show."""

from __future__ import annotations

import io

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
