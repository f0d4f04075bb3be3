"""Shared fixtures: only the fake Mistral server lives here (other fixtures belong near their tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_mistral import FakeMistral

FAKE_API_KEY = "test-key"


@pytest.fixture
def fake_mistral(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMistral]:
    """A running fake Mistral server; MISTRAL_SERVER_URL / MISTRAL_API_KEY point at it for the test.

    The server accepts only ``FAKE_API_KEY``, so a test using another key sees a real 401.
    """
    with FakeMistral(api_key=FAKE_API_KEY) as fake:
        monkeypatch.setenv("MISTRAL_SERVER_URL", fake.url)
        monkeypatch.setenv("MISTRAL_API_KEY", FAKE_API_KEY)
        yield fake
