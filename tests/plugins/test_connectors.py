"""Each built-in connector: Mistral's hosted primary (fake server) and its local fallback."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from plugins import ConnectorContext, ToolCall, ToolResult, load_plugins
from plugins.builtin.document_library import upload_document
from sandbox import ErrorInfo, RunResult, Sandbox, create_sandbox
from tests.fake_mistral import FakeMistral, error, reply
from tests.fake_mistral.agents import (
    code_interpreter_reply,
    image_reply,
    web_search_reply,
)

PARIS = ("Paris - Wikipedia", "https://en.wikipedia.org/wiki/Paris", "Paris is the capital.")


_SHARED: list[Sandbox] = []


@pytest.fixture(scope="module", autouse=True)
def close_shared_sandbox():
    yield
    while _SHARED:
        _SHARED.pop().close()


def shared_restricted() -> Sandbox:
    """One restricted sandbox for the module, lent to the connectors (its workers start once)."""
    if not _SHARED:
        _SHARED.append(create_sandbox("restricted"))
    return _SHARED[0]


class LazySandboxContext(ConnectorContext):
    """Starts the shared sandbox only when a connector actually runs code locally."""

    @contextlib.contextmanager
    def use_sandbox(self):
        self.sandbox = shared_restricted()
        with super().use_sandbox() as sandbox:
            yield sandbox


def context(home: Path) -> ConnectorContext:
    return LazySandboxContext.from_env(home=home)


def call(ctx: ConnectorContext, tool: str, **arguments) -> ToolResult:
    registry = load_plugins(load=[]).tool_registry(ctx)
    return registry.call(ToolCall(tool, json.dumps(arguments), id="call_1"))


def png(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------------------- web search


def test_web_search_through_mistral_returns_cited_results(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    fake_mistral.agents.queue(
        web_search_reply("Paris is the capital of France [1].", [PARIS], query="capital"),
        web_search_reply("Still Paris.", [PARIS]),
    )
    ctx = context(clean_plugin_env)
    first = call(ctx, "web_search", query="capital of France")
    second = call(ctx, "web_search", query="capital of France again")

    assert first.ok and first.served_by == "mistral"
    assert first.reason == "Mistral web_search connector"
    assert first.content.startswith("Paris is the capital of France [1].")
    assert "[1] Paris - Wikipedia\n    https://en.wikipedia.org/wiki/Paris" in first.content
    assert first.output.citations == [
        {"title": PARIS[0], "url": PARIS[1], "snippet": PARIS[2], "source": "web_search"}
    ]
    assert second.ok
    (agent,) = fake_mistral.requests_to("agents")  # created once, then reused
    assert agent.json["tools"] == [{"type": "web_search"}]
    starts = fake_mistral.requests_to("conversations")
    assert [r.json["inputs"] for r in starts] == ["capital of France", "capital of France again"]
    assert {r.json["agent_id"] for r in starts} == set(fake_mistral.agents.agents)


def test_web_search_premium_is_selectable(
    fake_mistral: FakeMistral, clean_plugin_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_EXECUTOR_WEB_SEARCH", "web_search_premium")
    fake_mistral.agents.queue(web_search_reply("News.", [PARIS], premium=True))
    result = call(context(clean_plugin_env), "web_search", query="news")
    assert result.served_by == "mistral" and result.output.data["engine"] == "web_search_premium"
    assert fake_mistral.requests_to("agents")[0].json["tools"] == [{"type": "web_search_premium"}]


def test_web_search_falls_back_to_ddgs_and_offline_says_so_clearly(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    fake_mistral.agents.queue(error(503, "connector overloaded"))
    result = call(context(clean_plugin_env), "web_search", query="capital of France")
    # Mistral failed -> ddgs; ddgs goes through a dead proxy (conftest) -> offline message.
    assert result.served_by == "local"
    assert result.reason.startswith("Mistral web_search failed: HTTP 503")
    assert not result.ok
    assert result.content.startswith(
        "Web search is unavailable (no internet connection or the search engines did not "
        "answer), so no results for 'capital of France'. Continue without web results."
    )
    assert result.output.data["engine"] == "ddgs"


def test_web_search_without_a_key_goes_local_and_never_raises(clean_plugin_env: Path) -> None:
    result = call(ConnectorContext(home=clean_plugin_env), "web_search", query="python")
    assert result.served_by == "local" and result.reason == "no MISTRAL_API_KEY is set"
    assert "Web search is unavailable" in result.content


# ------------------------------------------------------------------------- code interpreter


def test_code_interpreter_uses_the_local_sandbox_by_default(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    result = call(context(clean_plugin_env), "code_interpreter", code="print(6 * 7)")
    assert result.ok and result.served_by == "local"
    assert "is not enabled" in result.reason
    assert result.content == "status: ok\nstdout:\n42"
    assert fake_mistral.requests_to("conversations") == []


def test_code_interpreter_on_mistral_when_enabled_and_local_when_it_fails(
    fake_mistral: FakeMistral, clean_plugin_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_EXECUTOR_MISTRAL_CONNECTORS", "code_interpreter")
    fake_mistral.agents.queue(code_interpreter_reply("print(6 * 7)", "42\n"), error(500))
    ctx = context(clean_plugin_env)

    hosted = call(ctx, "code_interpreter", code="print(6 * 7)")
    assert hosted.served_by == "mistral" and hosted.content == "output:\n42\n"
    assert fake_mistral.requests_to("agents")[0].json["tools"] == [{"type": "code_interpreter"}]

    local = call(ctx, "code_interpreter", code="print(6 * 7)")
    assert local.served_by == "local"
    assert local.reason.startswith("Mistral code_interpreter failed: HTTP 500")
    assert local.content == "status: ok\nstdout:\n42"


# ------------------------------------------------------------------------- image generation


def test_image_generation_downloads_the_generated_file(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    picture = png("blue")
    fake_mistral.agents.queue(image_reply(picture, "A blue square."))
    result = call(context(clean_plugin_env), "generate_image", prompt="a blue square")
    assert result.ok and result.served_by == "mistral"
    assert result.output.images == [picture]
    (file_id,) = result.output.data["file_ids"]
    downloads = fake_mistral.requests_to("files")
    assert [r.path for r in downloads] == [f"/v1/files/{file_id}/content"]
    assert fake_mistral.requests_to("agents")[0].json["tools"] == [{"type": "image_generation"}]


def drawing(code: str) -> str:
    return f"Here it is:\n\n```python\n{code}```\n"


# The first program breaks the sandbox's rules (the model gets the exact error back); the
# second one draws.
FIRST_TRY = 'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\n'
SECOND_TRY = 'import matplotlib.pyplot as plt\nplt.bar(["a", "b"], [3, 5], color="green")\n'


def test_image_generation_falls_back_to_model_written_code_in_the_sandbox(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    fake_mistral.agents.queue(error(503))
    fake_mistral.queue(reply(drawing(FIRST_TRY)), reply(drawing(SECOND_TRY)))
    result = call(context(clean_plugin_env), "generate_image", prompt="a green bar chart")
    assert result.served_by == "local", result.content
    assert result.reason.startswith("Mistral image_generation failed: HTTP 503")
    assert result.ok and len(result.output.images) == 1
    assert result.output.images[0].startswith(b"\x89PNG")
    assert result.output.data["code"] == SECOND_TRY
    first, second = fake_mistral.chat_requests
    assert "a green bar chart" in first.messages[0]["content"]
    assert (
        "do not call plt.show(), plt.savefig() or matplotlib.use()" in first.messages[0]["content"]
    )
    assert second.messages[-1]["content"].startswith("That failed: AttributeError (line 2)")


def test_image_generation_without_a_key_or_model_explains_itself(clean_plugin_env: Path) -> None:
    result = call(ConnectorContext(home=clean_plugin_env), "generate_image", prompt="a cat")
    assert not result.ok and result.served_by == "none"
    assert result.content == (
        "image_generation is unavailable: no MISTRAL_API_KEY is set; the local fallback failed "
        "too: RuntimeError: no model available to write drawing code: no MISTRAL_API_KEY is set"
    )


# ------------------------------------------------------------------------- document library

NOTES = b"The deploy window is Thursday at 14:00. Ask Mireille before deploying.\n"


def test_documents_upload_to_the_mistral_library_and_search_it(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    ctx = context(clean_plugin_env)
    uploaded = upload_document(ctx, "notes.md", NOTES)
    assert uploaded.served_by == "mistral+local"
    assert "embedded with mistral-embed" in uploaded.text  # via the fake's /v1/embeddings
    (library,) = fake_mistral.agents.libraries.values()
    (document,) = fake_mistral.agents.documents[library["id"]].values()
    assert document["name"] == "notes.md" and document["size"] == len(NOTES)

    result = call(ctx, "search_documents", query="when is the deploy window")
    assert result.ok and result.served_by == "mistral"
    assert result.content.endswith("Sources:\n[1] notes.md")
    assert result.output.citations[0]["file"] == "notes.md"
    agent = fake_mistral.requests_to("agents")[0].json
    assert agent["tools"] == [{"type": "document_library", "library_ids": [library["id"]]}]


def test_documents_fall_back_to_the_local_index_with_file_and_chunk(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    ctx = context(clean_plugin_env)
    upload_document(ctx, "notes.md", NOTES)
    fake_mistral.agents.queue(error(500))
    result = call(ctx, "search_documents", query="deploy window")
    assert result.served_by == "local"
    assert result.reason.startswith("Mistral document_library failed: HTTP 500")
    assert "[1] notes.md, chunk 1:" in result.content
    assert result.output.citations[0]["file"] == "notes.md"
    assert result.output.citations[0]["chunk"] == 1


def test_a_failing_library_upload_still_indexes_locally(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    ctx = context(clean_plugin_env)
    fake_mistral.agents.fail_next("libraries", error(500))
    uploaded = upload_document(ctx, "notes.md", NOTES)
    assert uploaded.served_by == "local"
    assert uploaded.reason.startswith("uploading to the Mistral library failed")
    result = call(ctx, "search_documents", query="deploy window")
    assert result.served_by == "local"
    assert result.reason.startswith("Mistral document_library failed: LookupError")


class LentSandbox(Sandbox):
    """A host's long-lived sandbox stand-in: records what ran and whether anyone closed it."""

    name = "lent"

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []
        self.closed = False

    def run(self, code, *, files=None, session_id=None, limits=None) -> RunResult:
        self.ran.append(code)
        return RunResult(
            ok=False,
            stdout="partial\n",
            backend=self.name,
            error=ErrorInfo("ValueError", "bad value", lineno=2),
        )

    def close(self) -> None:
        self.closed = True


def test_a_sandbox_lent_by_the_host_is_used_and_never_closed(clean_plugin_env: Path) -> None:
    lent = LentSandbox()
    ctx = ConnectorContext(home=clean_plugin_env, sandbox=lent)
    result = call(ctx, "code_interpreter", code="x = 1\nraise ValueError('bad value')")
    assert lent.ran == ["x = 1\nraise ValueError('bad value')"] and not lent.closed
    assert not result.ok and result.served_by == "local"
    assert result.content == (
        "status: failed\nstdout:\npartial\nerror: ValueError (line 2): bad value"
    )
    assert result.output.data["engine"] == "sandbox:lent"


# ------------------------------------------------------------- through the host's client layer


def test_with_the_host_client_a_transient_failure_is_retried_and_counted(
    fake_mistral: FakeMistral, clean_plugin_env: Path
) -> None:
    """Connectors reach Mistral through the executor's client (``MistralAccess``): its retries
    turn a passing 503 into the hosted answer, and the conversation's tokens count in its usage.
    Without a host client the same 503 sends the connector to its local fallback (test above)."""
    from executor.mistral import MistralClient
    from plugins import MistralAccess

    fake_mistral.agents.queue(
        error(503, "connector overloaded"),
        web_search_reply("Paris is the capital of France [1].", [PARIS]),
    )
    with MistralClient(retry_base_delay_s=0.01, retry_max_delay_s=0.05) as client:
        assert isinstance(client, MistralAccess)
        ctx = LazySandboxContext.from_env(home=clean_plugin_env, client=client)
        result = call(ctx, "web_search", query="capital of France")
        assert result.ok and result.served_by == "mistral", result.content
        assert "Paris" in result.content
        assert client.usage.calls >= 1  # the conversation's usage is in the client's totals
