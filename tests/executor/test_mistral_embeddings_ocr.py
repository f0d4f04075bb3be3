"""Embeddings (batched) and OCR against the fake server."""

from __future__ import annotations

import pytest

from executor.mistral import MalformedReplyError, MistralClient, ServerError
from tests.fake_mistral import embeddings, error, ocr_pages


def test_embeddings_are_batched_and_keep_order(fake_mistral):
    texts = [f"text {i}" for i in range(5)]
    vectors = MistralClient(embed_batch_size=2).embed(texts)
    assert vectors == [fake_mistral.embedding_for(t) for t in texts]
    sent = fake_mistral.requests_to("embeddings")
    assert [r["input"] for r in sent] == [["text 0", "text 1"], ["text 2", "text 3"], ["text 4"]]
    assert {r["model"] for r in sent} == {"mistral-embed"}


def test_embedding_usage_is_recorded(fake_mistral):
    client = MistralClient()
    client.embed(["some words here"])
    assert client.usage.snapshot().by_model["mistral-embed"].prompt_tokens > 0


def test_embedding_batch_is_retried(fake_mistral):
    fake_mistral.queue_for("embeddings", error(503))
    assert len(MistralClient(retry_base_delay_s=0.01).embed(["a"])) == 1
    assert len(fake_mistral.requests_to("embeddings")) == 2


def test_embeddings_reply_with_missing_vectors_is_malformed(fake_mistral):
    fake_mistral.queue_for("embeddings", embeddings([[0.1]]))
    with pytest.raises(MalformedReplyError):
        MistralClient().embed(["a", "b"])


def test_embed_refuses_a_bare_string(fake_mistral):
    with pytest.raises(TypeError):
        MistralClient().embed("one text")


def test_ocr_of_a_pdf_returns_markdown_pages(fake_mistral, tmp_path):
    fake_mistral.queue_for("ocr", ocr_pages("# Title", "Second page"))
    path = tmp_path / "paper.pdf"
    path.write_bytes(b"%PDF-1.4 fake")
    client = MistralClient()
    result = client.ocr_document(path)
    assert result.pages == ["# Title", "Second page"]
    assert result.markdown == "# Title\n\nSecond page"
    assert result.usage.cost_usd > 0
    sent = fake_mistral.requests_to("ocr")[0]
    assert sent["model"] == "mistral-ocr-latest"
    assert sent["document"]["type"] == "document_url"
    assert sent["document"]["document_url"].startswith("data:application/pdf;base64,")


def test_ocr_of_an_image_sends_an_image_chunk(fake_mistral):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="PNG")
    assert MistralClient().ocr(buffer.getvalue()).startswith("# Fake OCR")
    document = fake_mistral.requests_to("ocr")[0]["document"]
    assert document["type"] == "image_url"


def test_ocr_server_failure_is_a_mistral_error(fake_mistral):
    fake_mistral.queue_for("ocr", *[error(500)] * 2)
    with pytest.raises(ServerError):
        MistralClient(max_retries=1, retry_base_delay_s=0.01).ocr(b"%PDF-1.4")
