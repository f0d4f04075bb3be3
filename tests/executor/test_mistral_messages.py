"""Error messages say what really happened and name the real way out."""

from __future__ import annotations

import pytest

from executor.mistral import (
    MalformedReplyError,
    MistralClient,
    ModelNotFoundError,
    NotAnImageError,
    ServerError,
    ServerUnreachableError,
    image_chunk,
)
from tests.fake_mistral import error, html_page, raw, reply

USER = [{"role": "user", "content": "hi"}]
MODEL = "mistral-small-latest"


def client(**settings) -> MistralClient:
    return MistralClient(max_retries=0, **settings)


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_a_200_with_an_html_page_says_so_and_points_at_the_server_url(fake_mistral, stream):
    fake_mistral.queue(html_page())
    with pytest.raises(MalformedReplyError) as caught:
        if stream:
            list(client().stream(USER, model=MODEL))
        else:
            client().chat(USER, model=MODEL)
    message = str(caught.value)
    assert "HTML page titled 'Sign in'" in message and "MISTRAL_SERVER_URL" in message
    assert "rejected" not in message and "<html" not in message


def test_a_200_with_plain_text_says_it_is_not_json(fake_mistral):
    fake_mistral.queue(raw("Service moved to a new address", content_type="text/plain"))
    with pytest.raises(MalformedReplyError, match="something that is not JSON: 'Service moved"):
        client().chat(USER, model=MODEL)


def test_a_proxy_error_page_is_summarised_not_pasted(fake_mistral):
    fake_mistral.queue(html_page(status=502))
    with pytest.raises(ServerError) as caught:
        client().chat(USER, model=MODEL)
    assert "(502)" in str(caught.value) and "an HTML page titled 'Sign in'" in str(caught.value)
    assert "<!DOCTYPE" not in str(caught.value)


def test_a_missing_roles_model_names_the_run_option_and_the_variable(fake_mistral, monkeypatch):
    monkeypatch.setenv("MISTRAL_MODEL_CODER", "codestral-latest")
    fake_mistral.queue(error(404, "Invalid model: codestral-latest"))
    with pytest.raises(ModelNotFoundError) as caught:
        client().chat(USER, role="coder")
    message = str(caught.value)
    assert "`mistral-executor run --model-coder NAME`" in message
    assert "MISTRAL_MODEL_CODER=NAME" in message
    assert "--model /" not in message


def test_a_missing_explicit_model_names_every_way(fake_mistral):
    fake_mistral.queue(error(404, "Invalid model: mistral-huge"))
    with pytest.raises(ModelNotFoundError) as caught:
        client().chat(USER, model="mistral-huge")
    assert "--model-<role>" in str(caught.value) and "MISTRAL_MODEL_<ROLE>" in str(caught.value)


def test_a_role_model_the_server_does_not_list_names_the_option(fake_mistral):
    with pytest.raises(ModelNotFoundError, match="--model-coder NAME.*MISTRAL_MODEL_CODER"):
        client(models={"coder": "no-such-coder"}).chat(USER, role="coder")


def test_an_image_error_names_the_file_not_a_bytesio(tmp_path):
    text = tmp_path / "holiday.png"
    text.write_text("not really a picture")
    with pytest.raises(NotAnImageError) as caught:
        image_chunk(text)
    assert "holiday.png" in str(caught.value) and "BytesIO" not in str(caught.value)
    truncated = tmp_path / "cut.png"
    from PIL import Image

    Image.new("RGB", (64, 64), "red").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(NotAnImageError) as caught:
        image_chunk(truncated)
    assert "cut.png" in str(caught.value) and "BytesIO" not in str(caught.value)


def test_a_stream_cut_in_the_middle_of_an_event_says_it_ended_early(fake_mistral):
    fake_mistral.queue(reply("one two three four five", cut_after_events=3))
    received = []
    with pytest.raises(ServerUnreachableError) as caught:
        for item in client().stream(USER, model=MODEL):
            received.append(item)
    message = str(caught.value)
    assert "ended early in the middle of an event" in message and "not JSON" not in message
    assert "".join(d.text for d in received) == "one two "  # what arrived stays valid


def test_a_stream_event_that_is_not_json_mid_stream_is_still_called_that(fake_mistral):
    body = (
        'data: {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "a"}}]}'
        "\n\ndata: <garbage>\n\n"
        'data: {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "b"},'
        ' "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    )
    fake_mistral.queue(raw(body, content_type="text/event-stream"))
    with pytest.raises(MalformedReplyError, match="an event that is not JSON: '<garbage>'"):
        list(client().stream(USER, model=MODEL))
