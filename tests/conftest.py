"""Shared fixtures: the fake Mistral server, and fresh settings per test (others belong near
their tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mistral_executor.settings import reset_settings
from tests.fake_mistral import FakeMistral

FAKE_API_KEY = "test-key"


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings are read once per process (``mistral_executor.settings.get_settings``); a test
    that changes the environment through ``monkeypatch`` gets them read again."""
    reset_settings()
    for name in ("setenv", "delenv"):
        original = getattr(monkeypatch, name)

        def changed(*args, _original=original, **kwargs):
            _original(*args, **kwargs)
            reset_settings()

        monkeypatch.setattr(monkeypatch, name, changed)
    yield
    reset_settings()


@pytest.fixture
def fake_mistral(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMistral]:
    """A running fake Mistral server; MISTRAL_SERVER_URL / MISTRAL_API_KEY point at it for the test.

    The server accepts only ``FAKE_API_KEY``, so a test using another key sees a real 401.
    """
    with FakeMistral(api_key=FAKE_API_KEY) as fake:
        monkeypatch.setenv("MISTRAL_SERVER_URL", fake.url)
        monkeypatch.setenv("MISTRAL_API_KEY", FAKE_API_KEY)
        yield fake
