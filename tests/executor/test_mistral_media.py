"""Images and documents turned into message chunks."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from executor.mistral import NotAnImageError, document_chunk, image_chunk


def _image_bytes(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "blue").save(buffer, format=fmt)
    return buffer.getvalue()


def _decode(data_url: str) -> tuple[str, Image.Image]:
    header, payload = data_url.split(",", 1)
    return header, Image.open(io.BytesIO(base64.b64decode(payload)))


def test_small_png_is_sent_unchanged():
    data = _image_bytes((40, 20))
    chunk = image_chunk(data)
    assert chunk["type"] == "image_url"
    assert chunk["image_url"] == "data:image/png;base64," + base64.b64encode(data).decode()


def test_large_image_is_resized_to_max_side_keeping_aspect():
    header, img = _decode(
        image_chunk(_image_bytes((3000, 1500), "JPEG"), max_side=1000)["image_url"]
    )
    assert header == "data:image/jpeg;base64"
    assert img.size == (1000, 500)


def test_transparent_image_stays_png_when_resized():
    header, img = _decode(
        image_chunk(_image_bytes((2000, 2000), mode="RGBA"), max_side=500)["image_url"]
    )
    assert header == "data:image/png;base64"
    assert img.size == (500, 500) and img.mode == "RGBA"


def test_other_formats_are_converted(tmp_path):
    path = tmp_path / "scan.bmp"
    path.write_bytes(_image_bytes((10, 10), "BMP"))
    header, img = _decode(image_chunk(path)["image_url"])
    assert header == "data:image/png;base64" and img.size == (10, 10)
    assert image_chunk(str(path)) == image_chunk(path)


@pytest.mark.parametrize("data", [b"", b"definitely not an image", b"%PDF-1.7 ..."])
def test_non_images_raise_a_clear_value_error(data):
    with pytest.raises(NotAnImageError, match="not an image") as caught:
        image_chunk(data)
    assert isinstance(caught.value, ValueError)


def test_urls_pass_through():
    assert image_chunk("https://example.com/cat.png") == {
        "type": "image_url",
        "image_url": "https://example.com/cat.png",
    }


def test_document_chunks_for_pdf_image_and_url():
    pdf = document_chunk(b"%PDF-1.4\n...")
    assert pdf == {
        "type": "document_url",
        "document_url": "data:application/pdf;base64,"
        + base64.b64encode(b"%PDF-1.4\n...").decode(),
    }
    assert document_chunk(_image_bytes((5, 5)))["image_url"].startswith("data:image/png;base64,")
    assert document_chunk("https://example.com/paper.pdf") == {
        "type": "document_url",
        "document_url": "https://example.com/paper.pdf",
    }
    with pytest.raises(ValueError, match="mime_type"):
        document_chunk(b"\x00\x01 unknown")
