"""Settings from arguments and environment."""

from __future__ import annotations

import pytest

from executor.mistral import DEFAULT_SERVER_URL, MistralClient
from executor.mistral.config import config_from, normalise_server_url


def test_environment_supplies_defaults():
    env = {
        "MISTRAL_API_KEY": "k-123456",
        "MISTRAL_SERVER_URL": "http://gpu:8000/v1/",
        "MISTRAL_TIMEOUT_S": "5",
        "MISTRAL_MAX_RETRIES": "1",
        "MISTRAL_MODEL_CODER": "devstral-small-latest",
    }
    config = config_from(environ=env)
    assert (config.api_key, config.server_url, config.timeout_s, config.max_retries) == (
        "k-123456",
        "http://gpu:8000",
        5.0,
        1,
    )
    assert config.models == {"coder": "devstral-small-latest"}


def test_arguments_win_over_environment():
    env = {
        "MISTRAL_API_KEY": "env-key",
        "MISTRAL_SERVER_URL": "http://env",
        "MISTRAL_MODEL_CODER": "a",
    }
    config = config_from("arg-key", "http://arg", timeout_s=2, models={"coder": "b"}, environ=env)
    assert (config.api_key, config.server_url, config.timeout_s, config.models["coder"]) == (
        "arg-key",
        "http://arg",
        2,
        "b",
    )


def test_cloud_is_the_default_server():
    assert config_from(environ={}).server_url == DEFAULT_SERVER_URL
    assert normalise_server_url("https://api.mistral.ai/v1") == DEFAULT_SERVER_URL


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout_s": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"models": {"poet": "x"}}, "role"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        config_from(environ={}, **kwargs)


def test_unknown_setting_is_rejected():
    with pytest.raises(TypeError, match="breaker_treshold"):
        MistralClient(api_key="k", server_url="http://x", breaker_treshold=3)


def test_key_is_not_in_any_repr():
    client = MistralClient(api_key="secret-abcdef-123", server_url="http://x")
    assert "secret-abcdef-123" not in repr(client) + repr(client.config)
    assert "api_key=set" in repr(client)
