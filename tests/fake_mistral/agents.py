"""The fake server's Agents, Conversations, Files and Libraries endpoints (Mistral's connectors).

Mistral runs its built-in connectors (web_search, code_interpreter, image_generation,
document_library) inside the Conversations API, so the connector plugins talk to these endpoints:

    POST /v1/agents                          create an agent (tools = connectors)
    GET  /v1/agents/{id}
    POST /v1/conversations                   start (inputs + agent_id or model/tools)
    POST /v1/conversations/{id}              append
    GET  /v1/files/{id}/content              download a generated file
    POST /v1/libraries, GET /v1/libraries[/{id}], DELETE /v1/libraries/{id}
    POST /v1/libraries/{id}/documents        multipart upload; GET lists, GET .../{doc_id}

Replies are rendered in the exact wire format of the SDK's models (``ConversationResponse`` with
``tool.execution`` and ``message.output`` entries whose content mixes ``text``,
``tool_reference`` and ``tool_file`` chunks).

Scripting (``fake.agents`` on a running :class:`FakeMistral`)::

    fake.agents.queue(
        web_search_reply("Paris is the capital.", [("Paris - Wikipedia", "https://...", "...")]),
        image_reply(png_bytes, "Here is your image"),   # the file is served under its id
        code_interpreter_reply("print(2+2)", "4\\n"),
        library_reply("The answer is 42.", ["notes.md"]),
        conversation_reply("plain answer"),
        error(503),                                      # any scripts.ErrorReply
    )
    fake.agents.on_conversation(lambda request, agent: ...)   # decide when the queue is empty
    fake.agents.add_file(b"...", "image.png")                 # returns a file id
    fake.agents.agents, .conversations, .libraries, .documents   # what was created
    fake.requests_to("conversations") / ("agents") / ("files") / ("libraries")

With nothing scripted, a conversation whose agent has ``document_library`` answers from the
uploaded documents (the one sharing most words with the input is cited); anything else answers
500 "fake server: no reply scripted", so a test that forgot to script fails loudly.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fake_mistral.agent_scripts import (
    ConversationScript,
    PendingFile,
    code_interpreter_reply,
    conversation_reply,
    image_reply,
    library_reply,
    new_id,
    now_iso,
    web_search_reply,
)
from tests.fake_mistral.scripts import ErrorReply, error

__all__ = [
    "AgentsAPI",
    "ConversationScript",
    "PendingFile",
    "code_interpreter_reply",
    "conversation_reply",
    "image_reply",
    "library_reply",
    "parse_multipart_file",
    "web_search_reply",
]

NO_CONVERSATION_SCRIPTED = "fake server: no reply scripted"

Answer = tuple[int, bytes, str, dict[str, str]]
ConversationHandler = Callable[
    [Any, "dict[str, Any] | None"], "ConversationScript | ErrorReply | None"
]


class AgentsAPI:
    """State and handlers for the connector endpoints of one fake server."""

    def __init__(self, default_model: str = "mistral-medium-latest") -> None:
        self.default_model = default_model
        self.agents: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.files: dict[str, PendingFile] = {}
        self.libraries: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, dict[str, Any]]] = {}
        self._texts: dict[str, str] = {}
        self._queue: deque[ConversationScript | ErrorReply] = deque()
        self._handler: ConversationHandler | None = None
        self._failures: dict[str, deque[ErrorReply]] = {}
        self._lock = threading.Lock()

    # -- scripting ------------------------------------------------------------------------------

    def queue(self, *scripts: ConversationScript | ErrorReply | str) -> AgentsAPI:
        with self._lock:
            self._queue.extend(conversation_reply(s) if isinstance(s, str) else s for s in scripts)
        return self

    def on_conversation(self, handler: ConversationHandler) -> AgentsAPI:
        self._handler = handler
        return self

    def fail_next(self, endpoint: str, *errors: ErrorReply) -> AgentsAPI:
        """Answer the next requests to ``agents``, ``files`` or ``libraries`` with ``errors``."""
        with self._lock:
            self._failures.setdefault(endpoint, deque()).extend(errors)
        return self

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def add_file(
        self, content: bytes, name: str = "file.bin", mime: str = "application/octet-stream"
    ) -> str:
        item = PendingFile(content, name, mime)
        with self._lock:
            self.files[item.id] = item
        return item.id

    # -- serving --------------------------------------------------------------------------------

    def answer(self, request: Any) -> Answer | None:
        """The reply for a request on one of these endpoints, or None if the path is not ours."""
        for method, pattern, endpoint, handler in self._routes():
            match = re.fullmatch(pattern, request.path)
            if match and request.method == method:
                request.endpoint = endpoint
                with self._lock:
                    failures = self._failures.get(endpoint)
                    failure = failures.popleft() if failures else None
                if failure is not None:
                    return _error(failure)
                return handler(request, *match.groups())
        return None

    def _routes(self) -> list[tuple[str, str, str, Callable[..., Answer]]]:
        return [
            ("POST", r"/v1/agents", "agents", self._create_agent),
            ("GET", r"/v1/agents/([^/]+)", "agents", self._get_agent),
            ("POST", r"/v1/conversations", "conversations", self._converse),
            ("POST", r"/v1/conversations/([^/]+)", "conversations", self._converse),
            ("GET", r"/v1/files/([^/]+)/content", "files", self._download),
            ("POST", r"/v1/libraries", "libraries", self._create_library),
            ("GET", r"/v1/libraries", "libraries", self._list_libraries),
            ("GET", r"/v1/libraries/([^/]+)", "libraries", self._get_library),
            ("DELETE", r"/v1/libraries/([^/]+)", "libraries", self._delete_library),
            ("POST", r"/v1/libraries/([^/]+)/documents", "libraries", self._upload_document),
            ("GET", r"/v1/libraries/([^/]+)/documents", "libraries", self._list_documents),
            ("GET", r"/v1/libraries/([^/]+)/documents/([^/]+)", "libraries", self._get_document),
        ]

    def _create_agent(self, request: Any) -> Answer:
        body = request.json or {}
        if not body.get("model") or not body.get("name"):
            return _error(error(422, "model and name are required"))
        agent = {
            "object": "agent",
            "id": new_id("ag"),
            "version": 0,
            "versions": [0],
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "deployment_chat": False,
            "source": "api",
            "model": body["model"],
            "name": body["name"],
            "description": body.get("description"),
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "completion_args": body.get("completion_args") or {},
            "handoffs": None,
        }
        with self._lock:
            self.agents[agent["id"]] = agent
        return _json(200, agent)

    def _get_agent(self, request: Any, agent_id: str) -> Answer:
        agent = self.agents.get(agent_id)
        return _json(200, agent) if agent else _error(error(404, f"agent {agent_id} not found"))

    def _converse(self, request: Any, conversation_id: str | None = None) -> Answer:
        body = request.json or {}
        if conversation_id is not None:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                return _error(error(404, f"conversation {conversation_id} not found"))
            agent = self.agents.get(conversation.get("agent_id") or "")
        else:
            agent = self.agents.get(body.get("agent_id") or "")
            if body.get("agent_id") and agent is None:
                return _error(error(404, f"agent {body['agent_id']} not found"))
            conversation = {
                "id": new_id("conv"),
                "agent_id": body.get("agent_id"),
                "model": body.get("model"),
                "tools": body.get("tools"),
                "entries": [],
            }
        script = self._next_script(request, agent)
        if script is None:
            script = self._default_library_answer(body, agent, conversation)
        if isinstance(script, ErrorReply):
            return _error(script)
        if script is None:
            return _error(error(500, NO_CONVERSATION_SCRIPTED))
        with self._lock:
            for item in script.files:
                self.files[item.id] = item
            self.conversations[conversation["id"]] = conversation
        model = (agent or {}).get("model") or body.get("model") or self.default_model
        outputs = script.outputs((agent or {}).get("id"), model)
        conversation["entries"].append({"inputs": body.get("inputs"), "outputs": outputs})
        connectors = {name: 1 for name, _args, _info in script.executions}
        return _json(
            200,
            {
                "object": "conversation.response",
                "conversation_id": conversation["id"],
                "outputs": outputs,
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": 10,
                    "total_tokens": 30,
                    "connector_tokens": 5 * len(connectors),
                    "connectors": connectors,
                },
            },
        )

    def _next_script(
        self, request: Any, agent: dict[str, Any] | None
    ) -> ConversationScript | ErrorReply | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._handler is not None:
            return self._handler(request, agent)
        return None

    def _default_library_answer(
        self, body: dict[str, Any], agent: dict[str, Any] | None, conversation: dict[str, Any]
    ) -> ConversationScript | None:
        tools = (agent or {}).get("tools") or conversation.get("tools") or []
        library_ids = [
            lid
            for tool in tools
            if tool.get("type") == "document_library"
            for lid in tool.get("library_ids", [])
        ]
        if not library_ids:
            return None
        question = set(re.findall(r"\w+", json.dumps(body.get("inputs")).lower()))
        best, best_score = None, 0
        for library_id in library_ids:
            for document in self.documents.get(library_id, {}).values():
                words = set(re.findall(r"\w+", self._texts.get(document["id"], "").lower()))
                if len(question & words) > best_score:
                    best, best_score = document, len(question & words)
        if best is None:
            return library_reply("The library holds nothing about that.", [])
        text = self._texts.get(best["id"], "")
        return library_reply(f"From {best['name']}: {text[:200]}", [best["name"]])

    def _download(self, request: Any, file_id: str) -> Answer:
        item = self.files.get(file_id)
        if item is None:
            return _error(error(404, f"file {file_id} not found"))
        return (
            200,
            item.content,
            "application/octet-stream",
            {"Content-Disposition": f'attachment; filename="{item.name}"'},
        )

    def _library_json(self, library: dict[str, Any]) -> dict[str, Any]:
        documents = self.documents.get(library["id"], {})
        return {
            **library,
            "nb_documents": len(documents),
            "total_size": sum(doc["size"] or 0 for doc in documents.values()),
        }

    def _create_library(self, request: Any) -> Answer:
        body = request.json or {}
        if not body.get("name"):
            return _error(error(422, "name is required"))
        library = {
            "id": new_id("lib"),
            "name": body["name"],
            "description": body.get("description"),
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "owner_id": "owner_fake",
            "owner_type": "User",
            "total_size": 0,
            "nb_documents": 0,
            "chunk_size": None,
        }
        with self._lock:
            self.libraries[library["id"]] = library
            self.documents[library["id"]] = {}
        return _json(201, self._library_json(library))

    def _list_libraries(self, request: Any) -> Answer:
        return _json(200, {"data": [self._library_json(lib) for lib in self.libraries.values()]})

    def _get_library(self, request: Any, library_id: str) -> Answer:
        library = self.libraries.get(library_id)
        if library is None:
            return _error(error(404, f"library {library_id} not found"))
        return _json(200, self._library_json(library))

    def _delete_library(self, request: Any, library_id: str) -> Answer:
        with self._lock:
            library = self.libraries.pop(library_id, None)
            self.documents.pop(library_id, None)
        if library is None:
            return _error(error(404, f"library {library_id} not found"))
        return _json(200, self._library_json(library))

    def _upload_document(self, request: Any, library_id: str) -> Answer:
        if library_id not in self.libraries:
            return _error(error(404, f"library {library_id} not found"))
        upload = parse_multipart_file(request.headers.get("content-type", ""), request.body)
        if upload is None:
            return _error(error(422, "a multipart 'file' field is required"))
        name, content = upload
        document = {
            "id": new_id("doc"),
            "library_id": library_id,
            "hash": None,
            "name": name,
            "mime_type": _mime(name),
            "extension": name.rsplit(".", 1)[-1] if "." in name else None,
            "size": len(content),
            "created_at": now_iso(),
            "process_status": "done",
            "processing_status": "done",
            "uploaded_by_id": "owner_fake",
            "uploaded_by_type": "User",
            "tokens_processing_total": max(1, len(content) // 4),
        }
        with self._lock:
            self.documents[library_id][document["id"]] = document
            self._texts[document["id"]] = content.decode("utf-8", errors="replace")
        return _json(200, document)

    def _list_documents(self, request: Any, library_id: str) -> Answer:
        documents = list(self.documents.get(library_id, {}).values())
        return _json(
            200,
            {
                "pagination": {
                    "total_items": len(documents),
                    "total_pages": 1,
                    "current_page": 0,
                    "page_size": 100,
                    "has_more": False,
                },
                "data": documents,
            },
        )

    def _get_document(self, request: Any, library_id: str, document_id: str) -> Answer:
        document = self.documents.get(library_id, {}).get(document_id)
        if document is None:
            return _error(error(404, f"document {document_id} not found"))
        return _json(200, document)


def parse_multipart_file(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    """The ``file`` field of a multipart/form-data body: ``(filename, content)``."""
    if "multipart/form-data" not in content_type:
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_filename() or "upload", part.get_payload(decode=True) or b""
    return None


def _mime(name: str) -> str:
    return {"pdf": "application/pdf", "md": "text/markdown", "txt": "text/plain"}.get(
        name.rsplit(".", 1)[-1].lower(), "application/octet-stream"
    )


def _json(status: int, payload: Any) -> Answer:
    return status, json.dumps(payload).encode(), "application/json", {}


def _error(script: ErrorReply) -> Answer:
    headers = {"Retry-After": f"{script.retry_after:g}"} if script.retry_after is not None else {}
    return script.status, json.dumps(script.body()).encode(), "application/json", headers
