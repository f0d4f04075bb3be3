"""A faithful local fake of the Mistral API, for every test that needs a model.

The Mistral API is unreachable from the machines that run the tests, so tests point the real
``mistralai`` SDK at this server (``MISTRAL_SERVER_URL``). It is a real threaded HTTP server on
127.0.0.1 that speaks the wire format the SDK's pydantic models expect, so a test exercises the
SDK's real request building and response parsing, not a mock.

Scripting::

    from tests.fake_mistral import FakeMistral, reply, tool_call, error, drop_connection, malformed

    with FakeMistral() as fake:                       # free port; fake.url is the base URL (no /v1)
        fake.queue(                                   # chat replies, consumed in order
            reply("text"),
            reply(tool_calls=[tool_call("search", {"q": "x"}), tool_call("open", {"n": 1})]),
            reply(json={"answer": 42}),               # structured output: the object, serialised
            reply("final", thinking="let me think"),  # content as [thinking chunk, text chunk]
            error(429, retry_after=0),                # Retry-After header (seconds, may be 0.1)
            error(500), error(401), error(404, "Invalid model"), error(422),
            reply("slow", delay_s=0.5),               # slow reply (timeouts)
            drop_connection(),                        # socket closed without an answer
            silent(),                                 # never answers (until the server closes)
            malformed(),                              # truncated JSON with status 200
            error(401, echo_key=True),                # the key quoted back in the error body
            html_page(),                              # 200 with an HTML page instead of JSON
            "plain text",                             # a bare string means reply("plain text")
        )
        fake.on_chat(lambda request: reply(request.messages[-1]["content"].upper()))
        # ^ decides from the request when the chat queue is empty; return None for the default.
        # With neither a queued script nor a handler, chat answers 500 "fake server: no reply
        # scripted" so a test that forgot to script fails loudly.

        fake.queue_for("models", error(503))          # same for "models", "embeddings", "ocr"
        fake.queue_for("embeddings", embeddings([[0.1, 0.2]]))
        fake.queue_for("ocr", ocr_pages("# Page 1", "# Page 2"))
        fake.on("embeddings", lambda request: ...)
        fake.models = [model_card("my-model", vision=True)]   # what GET /v1/models lists

        fake.requests          # every RecordedRequest: .method .path .headers .body .json .endpoint
                               # .received_at (monotonic time)
        fake.chat_requests     # only POST /v1/chat/completions; fake.last_chat is the latest
        fake.requests_to("embeddings")
        fake.last_chat.messages, fake.last_chat["tools"], fake.last_chat.images(), .stream
        fake.pending("chat")   # scripts not consumed yet (assert 0 at the end of a test)

Streaming: when a request has ``"stream": true`` the same ``reply`` is sent as SSE events
(``data: {...}\\n\\n`` chunks, word by word, ending with ``data: [DONE]``). ``reply(...,
drop_after_events=n)`` drops the socket mid-stream; ``cut_after_events=n`` sends half of event
n and ends the body cleanly; ``event_gap_s`` spaces the events.

Defaults: embeddings answer deterministic vectors (``fake.embedding_for(text)``, dimension
``embedding_dim``); OCR answers one markdown page; models list ``catalog.default_models()``.

Options: ``FakeMistral(api_key="test-key")`` answers 401 to any other bearer token;
``FakeMistral(compat="openai")`` imitates an OpenAI-compatible self-hosted server (vLLM, Ollama):
model cards without ``type``/``capabilities`` and streamed tool calls in argument fragments.

The pytest fixture ``fake_mistral`` (tests/conftest.py) starts one per test and sets
``MISTRAL_SERVER_URL`` and ``MISTRAL_API_KEY=test-key`` for it.
"""

from tests.fake_mistral.catalog import default_models, model_card, openai_style_models
from tests.fake_mistral.scripts import (
    drop_connection,
    embeddings,
    error,
    html_page,
    malformed,
    ocr_pages,
    raw,
    reply,
    silent,
    tool_call,
)
from tests.fake_mistral.server import NO_REPLY_SCRIPTED, FakeMistral, RecordedRequest

__all__ = [
    "NO_REPLY_SCRIPTED",
    "FakeMistral",
    "RecordedRequest",
    "default_models",
    "drop_connection",
    "embeddings",
    "error",
    "html_page",
    "malformed",
    "model_card",
    "ocr_pages",
    "openai_style_models",
    "raw",
    "reply",
    "silent",
    "tool_call",
]
