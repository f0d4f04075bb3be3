"""``mistral-executor models [--json]`` against the fake server."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import cli
from tests.fake_mistral import error, model_card

runner = CliRunner()


def test_models_lists_capabilities_and_roles(fake_mistral):
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert f"Models from {fake_mistral.url}" in result.output
    line = next(line for line in result.output.splitlines() if "codestral-latest" in line)
    assert "fim" in line and "function_calling" in line
    assert "coder       codestral-latest" in result.output


def test_models_json(fake_mistral):
    fake_mistral.models = [
        model_card("mistral-medium-latest", vision=True),
        model_card("codestral-latest", fim=True),
        model_card("mistral-embed", chat=False, function_calling=False),
        model_card("mistral-ocr-latest", chat=False, function_calling=False, ocr=True),
    ]
    result = runner.invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["source"] == "server" and payload["server_url"] == fake_mistral.url
    by_id = {m["id"]: m for m in payload["models"]}
    assert by_id["mistral-medium-latest"]["capabilities"] == ["chat", "function_calling", "vision"]
    assert payload["roles"]["vision"] == "mistral-medium-latest"
    assert payload["roles"]["embeddings"] == "mistral-embed"


def test_models_falls_back_with_a_warning(fake_mistral):
    fake_mistral.queue_for("models", error(502))
    result = runner.invoke(cli, ["models", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["source"] == "builtin" and "502" in payload["fallback_reason"]


def test_models_with_a_bad_key_exits_2_without_leaking_it(fake_mistral, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "sk-leak-me-not-42")
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 2
    assert "rejected (401)" in result.output
    assert "sk-leak-me-not-42" not in result.output
