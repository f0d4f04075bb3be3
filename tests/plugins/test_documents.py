"""The local document library: upload TXT/MD/PDF, search, and answers that cite file and chunk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugins import ConnectorContext, ToolCall, load_plugins
from plugins.builtin.document_library import DocumentLibrary, upload_document
from plugins.doc_index import CHUNK_WORDS, DocumentIndex
from tests.plugins.pdf_maker import make_pdf

NOTES = b"# Team notes\n\nThe deploy window is Thursday at 14:00. Ask Mireille before deploying.\n"
RECIPES = b"Pancakes need flour, eggs, milk and a pinch of salt. Rest the batter ten minutes.\n"


def search(ctx: ConnectorContext, query: str, top_k: int = 3):
    registry = load_plugins(load=[]).tool_registry(ctx)
    return registry.call(ToolCall("search_documents", {"query": query, "top_k": top_k}))


def test_uploaded_files_are_searched_and_cited_by_file_and_chunk(tmp_path: Path) -> None:
    ctx = ConnectorContext(home=tmp_path)
    pdf = make_pdf(["Quarterly report\nRevenue grew slowly.", "Zebras were counted: 42 zebras."])
    assert "1 chunk(s) locally (BM25 only)" in upload_document(ctx, "notes.md", NOTES).text
    upload_document(ctx, "recipes.txt", RECIPES)
    upload_document(ctx, "report.pdf", pdf)

    result = search(ctx, "how many zebras were counted")
    assert result.ok and result.served_by == "local"
    assert result.reason == "no MISTRAL_API_KEY is set"
    assert result.content.splitlines()[1] == "[1] report.pdf, chunk 2, page 2:"
    assert "42 zebras" in result.content
    top = result.output.citations[0]
    assert (top["file"], top["chunk"], top["page"]) == ("report.pdf", 2, 2)

    result = search(ctx, "when is the deploy window")
    assert result.output.citations[0]["file"] == "notes.md"
    assert "[1] notes.md, chunk 1:" in result.content


def test_the_index_persists_under_the_home_directory(tmp_path: Path) -> None:
    upload_document(ConnectorContext(home=tmp_path), "recipes.txt", RECIPES)
    assert (tmp_path / "documents" / "index.json").is_file()
    fresh = DocumentLibrary()  # a new process would start with an empty cache like this
    hits = fresh.index(ConnectorContext(home=tmp_path)).search("pancake batter flour")
    assert [(hit.file, hit.chunk) for hit in hits] == [("recipes.txt", 1)]


def test_long_files_become_overlapping_chunks_and_reuploads_replace(tmp_path: Path) -> None:
    words = [f"word{i}" for i in range(CHUNK_WORDS * 2)]
    index = DocumentIndex(tmp_path)
    record = index.add("long.txt", " ".join(words).encode())
    assert record["chunks"] == 3
    assert "word150" in index.chunks[0].text and "word150" in index.chunks[1].text  # overlap
    index.add("long.txt", b"now it is short")
    assert [(c.file, c.chunk, c.text) for c in index.chunks] == [("long.txt", 1, "now it is short")]


def toy_embed(texts: list[str]) -> list[list[float]]:
    """A deterministic bag-of-words embedding over a small vocabulary."""
    vocabulary = ["deploy", "thursday", "pancakes", "flour", "zebras", "window", "batter"]
    return [[float(w in re.findall(r"\w+", t.lower())) + 0.01 for w in vocabulary] for t in texts]


def test_embeddings_rank_when_available_and_bm25_takes_over_when_they_fail(tmp_path: Path) -> None:
    calls: list[int] = []

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        if calls and len(calls) > 3:
            raise ConnectionError("embedding service down")
        return toy_embed(texts)

    ctx = ConnectorContext(home=tmp_path, embed=embed)
    assert "embedded with mistral-embed" in upload_document(ctx, "notes.md", NOTES).text
    upload_document(ctx, "recipes.txt", RECIPES)
    result = search(ctx, "pancakes")
    assert result.output.data["engine"] == "local index (embeddings)"
    assert result.output.citations[0]["file"] == "recipes.txt"
    result = search(ctx, "deploy window")  # the 4th embed call fails
    assert result.output.data["engine"] == "local index (bm25)"
    assert result.output.citations[0]["file"] == "notes.md"


def test_unsupported_files_and_an_empty_library_are_explained(tmp_path: Path) -> None:
    ctx = ConnectorContext(home=tmp_path)
    with pytest.raises(ValueError, match="unsupported document type '.docx'"):
        upload_document(ctx, "letter.docx", b"...")
    result = search(ctx, "anything")
    assert not result.ok
    assert "No documents have been uploaded" in result.content
