"""Model listing, TTL cache, built-in fallback, roles and capability checks, via the fake server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from executor.mistral import (
    AuthenticationError,
    CapabilityError,
    MistralClient,
    ModelNotFoundError,
    image_chunk,
)
from executor.mistral.models import ROLE_DEFAULTS
from tests.fake_mistral import FakeMistral, error, malformed, model_card, openai_style_models, reply


def _pixel_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_listing_maps_wire_capabilities(fake_mistral):
    models = {m.id: m for m in MistralClient().list_models()}
    assert models["mistral-large-latest"].capabilities >= {"chat", "function_calling", "vision"}
    assert "fim" in models["codestral-latest"].capabilities
    assert "vision" not in models["codestral-latest"].capabilities
    assert models["mistral-embed"].capabilities == {"embeddings"}
    assert models["mistral-ocr-latest"].capabilities == {"ocr"}
    assert models["mistral-large-latest"].source == "api"


def test_listing_is_cached_for_the_ttl(fake_mistral):
    client = MistralClient()
    client.list_models()
    client.list_models()
    client.model_for("coder")
    assert len(fake_mistral.requests_to("models")) == 1
    client.list_models(refresh=True)
    assert len(fake_mistral.requests_to("models")) == 2


def test_expired_cache_is_refetched(fake_mistral):
    client = MistralClient(models_ttl_s=0)
    client.list_models()
    fake_mistral.models = [model_card("brand-new-model")]
    assert [m.id for m in client.list_models()] == ["brand-new-model"]


@pytest.mark.parametrize("failure", [error(500), error(404), malformed()])
def test_unusable_listing_falls_back_to_builtin_models(fake_mistral, failure):
    fake_mistral.queue_for("models", failure)
    client = MistralClient()
    models = client.list_models()
    assert {m.source for m in models} == {"builtin"}
    assert {"mistral-embed", "codestral-latest", "mistral-ocr-latest"} <= {m.id for m in models}
    assert client.catalog.last_error is not None
    assert client.model_for("coder") == ROLE_DEFAULTS["coder"]


def test_builtin_fallback_is_retried_sooner(fake_mistral):
    fake_mistral.queue_for("models", error(503))
    client = MistralClient(models_fallback_ttl_s=0)
    assert client.list_models()[0].source == "builtin"
    assert client.list_models()[0].source == "api"
    assert client.catalog.last_error is None


def test_listing_with_a_rejected_key_is_an_error_not_a_fallback(fake_mistral):
    with pytest.raises(AuthenticationError):
        MistralClient(api_key="wrong-key").list_models()


def test_role_defaults_and_overrides(fake_mistral, monkeypatch):
    client = MistralClient(models={"coder": "devstral-small-latest"})
    assert client.model_for("coder") == "devstral-small-latest"
    assert client.model_for("planner") == ROLE_DEFAULTS["planner"]
    assert client.model_for("embeddings") == "mistral-embed"
    assert client.model_for("ocr") == "mistral-ocr-latest"
    monkeypatch.setenv("MISTRAL_MODEL_VISION", "pixtral-large-latest")
    assert MistralClient().model_for("vision") == "pixtral-large-latest"


def test_role_model_without_the_needed_capability_is_a_clear_error(fake_mistral):
    client = MistralClient(
        models={"vision": "codestral-latest", "embeddings": "mistral-small-latest"}
    )
    with pytest.raises(CapabilityError) as caught:
        client.model_for("vision")
    message = str(caught.value)
    assert (
        "codestral-latest" in message and "vision" in message and "mistral-large-latest" in message
    )
    with pytest.raises(CapabilityError, match="embeddings"):
        client.model_for("embeddings")


def test_unknown_override_is_model_not_found(fake_mistral):
    with pytest.raises(ModelNotFoundError, match="mistral-huge"):
        MistralClient(models={"planner": "mistral-huge"}).model_for("planner")


def test_unknown_role_is_rejected(fake_mistral):
    with pytest.raises(ValueError, match="role"):
        MistralClient().model_for("poet")


def test_images_for_a_model_without_vision_fail_before_sending(fake_mistral):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "what?"}, image_chunk(_pixel_png())]}
    ]
    with pytest.raises(CapabilityError, match="read images"):
        MistralClient().chat(messages, role="coder")
    assert fake_mistral.chat_requests == []


def test_tools_for_a_model_without_function_calling_fail_before_sending(fake_mistral):
    fake_mistral.models = [model_card("tiny", function_calling=False)]
    with pytest.raises(CapabilityError, match="call tools"):
        MistralClient().chat(
            [{"role": "user", "content": "x"}], model="tiny", tools=[{"name": "f"}]
        )
    assert fake_mistral.chat_requests == []


def test_default_missing_on_a_self_hosted_server_is_replaced_by_a_listed_model():
    with FakeMistral(compat="openai") as fake:
        fake.models = openai_style_models(["mistralai/Mistral-Small-3.2-24B-Instruct"])
        client = MistralClient(api_key="", server_url=fake.url + "/v1")
        listed = client.list_models()
        assert [(m.id, m.capabilities_known, m.source) for m in listed] == [
            ("mistralai/Mistral-Small-3.2-24B-Instruct", False, "openai-compatible")
        ]
        assert client.model_for("planner") == "mistralai/Mistral-Small-3.2-24B-Instruct"
        with pytest.raises(ModelNotFoundError):
            client.model_for("embeddings")  # no embedding model listed: say so
        fake.queue(reply("hi from vLLM"))
        assert client.chat([{"role": "user", "content": "x"}]).content == "hi from vLLM"
