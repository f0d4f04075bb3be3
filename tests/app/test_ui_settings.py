"""Settings and credentials: per-session values, clamped limits, and where the key comes from."""

from __future__ import annotations

import pytest

from app.ui import models as model_lookup
from app.ui.session import (
    MAX_ITERATIONS_CAP,
    MEMORY_CAP_MB,
    NO_KEY_MESSAGE,
    TIMEOUT_CAP_S,
    SessionSettings,
    key_status_markdown,
    resolve_credentials,
)
from app.ui.settings import AUTO_MODEL, apply_settings, refresh_models
from tests.conftest import FAKE_API_KEY
from tests.fake_mistral import model_card


@pytest.fixture(autouse=True)
def not_hosted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_SERVER_URL", raising=False)


def test_apply_settings_clamps_limits_and_keeps_only_chosen_models(no_env_key) -> None:
    updated, message = apply_settings(
        SessionSettings(),
        "",
        "  http://localhost:8000  ",
        "no-such-backend",
        99,
        10_000,
        1,
        "codestral-latest",
        AUTO_MODEL,
        "",
        "mistral-ocr-latest",
    )
    assert updated.max_iterations == MAX_ITERATIONS_CAP
    assert updated.timeout_s == TIMEOUT_CAP_S
    assert updated.memory_mb >= 64
    assert updated.sandbox == "auto"  # an unknown backend is not kept
    assert updated.server_url == "http://localhost:8000"
    assert updated.models == {"planner": "codestral-latest", "ocr": "mistral-ocr-latest"}
    assert "Saved for this session" in message
    assert "self-hosted server at `http://localhost:8000` without one" in message


def test_apply_settings_returns_a_new_object_and_leaves_the_old_one_alone(no_env_key) -> None:
    original = SessionSettings()
    updated, _ = apply_settings(original, "", "", "restricted", 5, 30, MEMORY_CAP_MB * 2)
    assert updated is not original
    assert (original.max_iterations, original.timeout_s) == (3, 10.0)
    assert (updated.max_iterations, updated.timeout_s, updated.memory_mb) == (
        5,
        30.0,
        MEMORY_CAP_MB,
    )
    assert updated.limits().timeout_s == 30.0


def test_without_any_key_the_status_says_how_to_add_one(no_env_key) -> None:
    status = key_status_markdown("", SessionSettings())
    assert status == NO_KEY_MESSAGE
    assert "Settings" in status and "console.mistral.ai" in status
    assert "Sandbox" in status  # and that the key-less tabs still work
    # Host advice (which env var to set) is for the README and the host's log, not a visitor.
    assert "MISTRAL_API_KEY" not in status


def test_apply_checks_the_visitors_key_with_one_cheap_call(fake_mistral, no_env_key) -> None:
    from app.ui.settings import check_key_markdown

    settings = SessionSettings(server_url=fake_mistral.url)
    rejected = check_key_markdown("wrong-key", settings)
    assert "The key you pasted was rejected" in rejected
    assert "wrong-key" not in rejected and "MISTRAL_API_KEY" not in rejected
    works = check_key_markdown(FAKE_API_KEY, settings)
    assert "works" in works and "models available" in works
    # Each check is one models listing; no chat call is spent on it.
    assert len(fake_mistral.requests_to("models")) == 2, [r.endpoint for r in fake_mistral.requests]
    assert fake_mistral.chat_requests == []
    # No key of the visitor's own: nothing to check (the host's key is never probed per visitor).
    assert check_key_markdown("", settings) == ""


def test_an_unreachable_server_is_not_a_rejected_key(no_env_key) -> None:
    from app.ui.settings import check_key_markdown

    message = check_key_markdown("some-key", SessionSettings(server_url="http://127.0.0.1:9"))
    assert "Could not check" in message and "rejected" not in message


def test_the_visitors_own_key_wins_and_is_never_shown(monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "host-secret")
    credentials = resolve_credentials("  visitor-secret ", SessionSettings())
    assert credentials.api_key == "visitor-secret"
    assert credentials.source == "session"
    assert "visitor-secret" not in repr(credentials)
    status = key_status_markdown("visitor-secret", SessionSettings())
    assert "your API key" in status and "visitor-secret" not in status


def test_the_hosts_key_is_used_but_never_sent_to_a_visitors_server(monkeypatch) -> None:
    """A visitor must not be able to point the app at their server and receive the host's key."""
    monkeypatch.setenv("MISTRAL_API_KEY", "host-secret")
    monkeypatch.setenv("MISTRAL_SERVER_URL", "https://api.example.test")
    settings = SessionSettings(server_url="http://attacker.example")
    credentials = resolve_credentials("", settings)
    assert credentials.source == "environment"
    assert credentials.api_key == "host-secret"
    assert credentials.server_url == "https://api.example.test"
    status = key_status_markdown("", settings)
    assert "host-secret" not in status
    assert "ignored" in status
    # With their own key the visitor's server is honoured.
    assert resolve_credentials("mine", settings).server_url == "http://attacker.example"


def test_on_a_hosted_app_a_visitors_server_url_is_ignored(monkeypatch) -> None:
    """Hosted, the app must not send requests wherever a visitor says (nor their key)."""
    monkeypatch.setenv("SPACE_ID", "someone/mistral-executor")
    monkeypatch.delenv("MISTRAL_SERVER_URL", raising=False)
    settings = SessionSettings(server_url="http://169.254.169.254")
    credentials = resolve_credentials("visitor-key", settings)
    assert credentials.server_url is None  # the client's default: Mistral's cloud
    assert "ignored on this hosted app" in key_status_markdown("visitor-key", settings)


def test_a_self_hosted_server_may_be_used_without_a_key_locally_only(monkeypatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.setenv("MISTRAL_SERVER_URL", "http://gpu-box:8000")
    assert resolve_credentials("", SessionSettings()).ready
    assert "without one" in key_status_markdown("", SessionSettings())
    monkeypatch.setenv("MISTRAL_EXECUTOR_UI_PRIVATE", "1")
    assert not resolve_credentials("", SessionSettings()).ready
    monkeypatch.setenv("MISTRAL_SERVER_URL", "https://api.mistral.ai/v1")
    monkeypatch.delenv("MISTRAL_EXECUTOR_UI_PRIVATE")
    assert not resolve_credentials("", SessionSettings()).ready


def test_refresh_models_fills_each_role_with_capable_models(fake_mistral, no_env_key) -> None:
    fake_mistral.models = [
        model_card("big-chat", vision=True),
        model_card("text-only"),
        model_card("reader-ocr", chat=False, function_calling=False, ocr=True),
    ]
    updates = refresh_models(
        "test-key",
        SessionSettings(server_url=fake_mistral.url),
        AUTO_MODEL,
        "text-only",
        "gone-model",
        AUTO_MODEL,
    )
    *role_updates, message = updates
    choices = {
        role: update["choices"]
        for role, update in zip(model_lookup.ROLES, role_updates, strict=True)
    }
    values = [update["value"] for update in role_updates]

    def ids(role: str) -> set[str]:
        return {choice if isinstance(choice, str) else choice[0] for choice in choices[role]}

    assert ids("planner") >= {"big-chat", "text-only"} and "reader-ocr" not in ids("planner")
    assert "big-chat" in ids("vision") and "text-only" not in ids("vision")
    assert "reader-ocr" in ids("ocr") and "big-chat" not in ids("ocr")
    assert values == [AUTO_MODEL, "text-only", AUTO_MODEL, AUTO_MODEL]  # a vanished pick resets
    assert "3 models" in message
    assert fake_mistral.requests_to("models")[-1].headers["authorization"] == "Bearer test-key"


def test_refresh_models_without_a_key_asks_for_one(no_env_key) -> None:
    *_, message = refresh_models("", SessionSettings(), *[AUTO_MODEL] * len(model_lookup.ROLES))
    assert "API key" in message


def test_refresh_models_reports_a_refused_key(fake_mistral, no_env_key) -> None:
    *_, message = refresh_models(
        "wrong-key",
        SessionSettings(server_url=fake_mistral.url),
        *[AUTO_MODEL] * len(model_lookup.ROLES),
    )
    assert "Could not list the models" in message
    assert "wrong-key" not in message
