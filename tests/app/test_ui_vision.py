"""The Vision tab: a question about an image goes to a vision model; OCR returns markdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.ui.session import NO_KEY_MESSAGE, SessionSettings
from app.ui.vision import ask_image, ocr_document
from tests.fake_mistral import FakeMistral, ocr_pages, reply


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "chart.png"
    Image.new("RGB", (64, 48), "orange").save(path)
    return path


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)


def test_a_question_about_an_image_goes_to_the_vision_model(
    fake_mistral: FakeMistral, picture: Path, no_env_key
) -> None:
    fake_mistral.queue(reply("An orange rectangle."))
    answer = ask_image(str(picture), "What is this?", SessionSettings(), "test-key")
    assert answer.startswith("An orange rectangle.")
    request = fake_mistral.last_chat
    assert len(request.images()) == 1 and request.images()[0].startswith("data:image/")
    assert "What is this?" in str(request.messages)
    assert request.json["model"] == "mistral-medium-latest"  # the vision role's default


def test_the_vision_model_chosen_in_settings_is_used(
    fake_mistral: FakeMistral, picture: Path, no_env_key
) -> None:
    fake_mistral.queue(reply("ok"))
    settings = SessionSettings(models={"vision": "pixtral-large-latest"})
    ask_image(str(picture), "", settings, "test-key")
    assert fake_mistral.last_chat.json["model"] == "pixtral-large-latest"
    assert "Describe this image" in str(fake_mistral.last_chat.messages)


def test_ocr_returns_the_documents_markdown(
    fake_mistral: FakeMistral, picture: Path, no_env_key
) -> None:
    fake_mistral.queue_for("ocr", ocr_pages("# Invoice", "Total: **42**"))
    rendered, raw = ocr_document(str(picture), SessionSettings(), "test-key")
    assert raw == "# Invoice\n\nTotal: **42**"
    assert rendered == raw
    assert fake_mistral.requests_to("ocr")


def test_without_a_key_both_say_how_to_add_one(picture: Path, no_env_key, monkeypatch) -> None:
    monkeypatch.delenv("MISTRAL_SERVER_URL", raising=False)
    assert ask_image(str(picture), "?", SessionSettings(), "") == NO_KEY_MESSAGE
    assert ocr_document(str(picture), SessionSettings(), "")[0] == NO_KEY_MESSAGE


def test_missing_inputs_and_errors_are_explained(
    fake_mistral: FakeMistral, picture: Path, tmp_path: Path, no_env_key
) -> None:
    assert "Add an image" in ask_image(None, "?", SessionSettings(), "test-key")
    assert "Add a PDF" in ocr_document(None, SessionSettings(), "test-key")[0]
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("plain text")
    assert "cannot be read as an image" in ask_image(
        str(not_an_image), "?", SessionSettings(), "test-key"
    )
    refused = ask_image(str(picture), "?", SessionSettings(), "wrong-key")
    assert "could not answer" in refused and "wrong-key" not in refused
