"""The fake server's Agents/Conversations/Files/Libraries endpoints parse with the real SDK."""

from __future__ import annotations

import pytest
from mistralai.client import Mistral
from mistralai.client.errors import SDKError

from tests.conftest import FAKE_API_KEY
from tests.fake_mistral import FakeMistral, error
from tests.fake_mistral.agents import image_reply, web_search_reply


def sdk(fake: FakeMistral) -> Mistral:
    return Mistral(api_key=FAKE_API_KEY, server_url=fake.url)


def test_agents_and_conversations_round_trip(fake_mistral: FakeMistral) -> None:
    client = sdk(fake_mistral)
    agent = client.beta.agents.create(
        model="mistral-medium-latest", name="searcher", tools=[{"type": "web_search"}]
    )
    assert client.beta.agents.get(agent_id=agent.id).tools[0].type == "web_search"
    fake_mistral.agents.queue(
        web_search_reply("First.", [("T", "https://t.example", "snippet")], query="q"),
        "Second answer.",
        error(429, retry_after=0),
    )
    started = client.beta.conversations.start(agent_id=agent.id, inputs="q")
    execution, message = started.outputs
    assert execution.type == "tool.execution" and execution.name == "web_search"
    assert message.type == "message.output"
    text, reference = message.content
    assert text.text == "First." and reference.type == "tool_reference"
    assert (reference.title, reference.url, reference.description) == (
        "T",
        "https://t.example",
        "snippet",
    )
    assert started.usage.connectors == {"web_search": 1}

    appended = client.beta.conversations.append(
        conversation_id=started.conversation_id, inputs="more"
    )
    assert appended.conversation_id == started.conversation_id
    assert appended.outputs[0].content[0].text == "Second answer."
    with pytest.raises(SDKError) as raised:
        client.beta.conversations.start(agent_id=agent.id, inputs="again")
    assert raised.value.status_code == 429
    assert [r.endpoint for r in fake_mistral.requests] == [
        "agents",
        "agents",
        "conversations",
        "conversations",
        "conversations",
    ]


def test_a_generated_file_is_downloadable(fake_mistral: FakeMistral) -> None:
    client = sdk(fake_mistral)
    fake_mistral.agents.queue(image_reply(b"\x89PNG fake", "done"))
    response = client.beta.conversations.start(
        model="mistral-medium-latest", inputs="draw", tools=[{"type": "image_generation"}]
    )
    chunk = response.outputs[-1].content[-1]
    assert chunk.type == "tool_file" and chunk.file_name == "image_generated_0.png"
    assert client.files.download(file_id=chunk.file_id).read() == b"\x89PNG fake"
    with pytest.raises(SDKError):
        client.files.download(file_id="file_missing").read()


def test_libraries_and_documents(fake_mistral: FakeMistral) -> None:
    client = sdk(fake_mistral)
    library = client.beta.libraries.create(name="docs", description="d")
    document = client.beta.libraries.documents.upload(
        library_id=library.id, file={"file_name": "a.md", "content": b"alpha beta"}
    )
    assert (document.name, document.size, document.process_status) == ("a.md", 10, "done")
    listed = client.beta.libraries.documents.list(library_id=library.id)
    assert [d.id for d in listed.data] == [document.id]
    fetched = client.beta.libraries.documents.get(library_id=library.id, document_id=document.id)
    assert fetched.mime_type == "text/markdown"
    assert client.beta.libraries.get(library_id=library.id).nb_documents == 1
    assert [lib.id for lib in client.beta.libraries.list().data] == [library.id]

    answer = client.beta.conversations.start(
        model="mistral-medium-latest",
        inputs="what is alpha",
        tools=[{"type": "document_library", "library_ids": [library.id]}],
    )
    reference = answer.outputs[-1].content[-1]
    assert reference.type == "tool_reference" and reference.title == "a.md"

    client.beta.libraries.delete(library_id=library.id)
    assert client.beta.libraries.list().data == []
