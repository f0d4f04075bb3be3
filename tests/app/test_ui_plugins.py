"""The Plugins tab: what is loaded and how each connector will serve; the document library."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ui import chat
from app.ui.plugins_tab import plugins_overview, search_library, upload_documents
from app.ui.session import SessionSettings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    return tmp_path / "home"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.md"
    path.write_text("# Pump maintenance\n\nThe pump valve must be replaced every 400 hours.\n")
    return path


def test_without_a_key_every_connector_reports_its_local_fallback(home) -> None:
    plugins, tools, connectors, sandboxes, failures = plugins_overview(
        "", SessionSettings(), chat.ChatSession()
    )
    assert "plugins.builtin.document_library" in set(plugins["plugin"])
    assert {"web_search", "search_documents"} <= set(tools["tool"])
    assert set(connectors["serves with"]) == {"local"}
    assert all("MISTRAL_API_KEY" in why for why in connectors["why"])
    assert "restricted" in set(sandboxes["sandbox"])
    assert failures == "Every plugin loaded."


def test_with_a_key_the_mistral_connectors_are_primary(home) -> None:
    _, _, connectors, _, _ = plugins_overview("some-key", SessionSettings(), chat.ChatSession())
    serving = dict(zip(connectors["connector"], connectors["serves with"], strict=True))
    assert serving["web_search"].startswith("Mistral")


def test_an_uploaded_document_is_indexed_and_found_with_its_citation(home, notes, tmp_path) -> None:
    session = chat.ChatSession()
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ")
    report, documents = upload_documents([str(notes), str(bad)], "", SessionSettings(), session)
    assert "✅" in report and "notes.md" in report
    assert "❌ tool.exe" in report
    assert list(documents["document"]) == ["notes.md"]
    assert (home / "documents").is_dir()  # locally: the shared library under the home

    found = search_library("how often is the valve replaced", "", SessionSettings(), session)
    assert "400 hours" in found and "notes.md" in found and "served by local" in found


def test_in_private_mode_each_session_has_its_own_library(home, notes, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_EXECUTOR_UI_PRIVATE", "1")
    mine, theirs = chat.ChatSession(), chat.ChatSession()
    upload_documents([str(notes)], "", SessionSettings(), mine)
    assert "400 hours" in search_library("valve", "", SessionSettings(), mine)
    assert "400 hours" not in search_library("valve", "", SessionSettings(), theirs)
    assert not (home / "documents").exists()
    chat.close_session(mine)
    assert not Path(mine.documents_home).exists()
