"""The fake Mistral HTTP server: a real threaded server on loopback that the real SDK talks to."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_mistral import catalog
from tests.fake_mistral.agents import AgentsAPI
from tests.fake_mistral.scripts import (
    DropConnection,
    EmbeddingsReply,
    ErrorReply,
    OcrReply,
    RawReply,
    Reply,
    Script,
    Silent,
    chat_completion_json,
    chat_stream_events,
    error,
    reply,
)

ENDPOINTS = {
    ("POST", "/v1/chat/completions"): "chat",
    ("GET", "/v1/models"): "models",
    ("POST", "/v1/embeddings"): "embeddings",
    ("POST", "/v1/ocr"): "ocr",
}
NO_REPLY_SCRIPTED = "fake server: no reply scripted"


@dataclass
class RecordedRequest:
    """One request as the server received it. ``request["messages"]`` reads the JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    endpoint: str | None = None
    #: ``time.monotonic()`` when the request arrived (to check a client waited for Retry-After).
    received_at: float = 0.0

    def __getitem__(self, key: str) -> Any:
        return (self.json or {})[key]

    def get(self, key: str, default: Any = None) -> Any:
        return (self.json or {}).get(key, default) if isinstance(self.json, dict) else default

    @property
    def stream(self) -> bool:
        return bool(self.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.get("messages") or [])

    def images(self) -> list[str]:
        """Every ``image_url`` in the request's messages (data URLs or links), in order."""
        found = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                for chunk in content:
                    if isinstance(chunk, dict) and chunk.get("type") == "image_url":
                        url = chunk.get("image_url")
                        found.append(url.get("url") if isinstance(url, dict) else url)
        return found


Handler = Callable[[RecordedRequest], "Script | str | None"]


@dataclass
class _State:
    queues: dict[str, deque] = field(
        default_factory=lambda: {name: deque() for name in ENDPOINTS.values()}
    )
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeMistral:
    """A scriptable stand-in for api.mistral.ai. See the package docstring for the scripting API."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        compat: str = "mistral",
        embedding_dim: int = 8,
        default_model: str = "mistral-small-latest",
    ) -> None:
        if compat not in ("mistral", "openai"):
            raise ValueError("compat must be 'mistral' or 'openai'")
        self.api_key = api_key
        self.compat = compat
        self.embedding_dim = embedding_dim
        self.default_model = default_model
        self.models: list[dict[str, Any]] = catalog.default_models()
        if compat == "openai":
            self.models = catalog.openai_style_models([card["id"] for card in self.models])
        #: Agents / Conversations / Files / Libraries endpoints (connectors); see agents.py.
        self.agents = AgentsAPI(default_model="mistral-medium-latest")
        self._state = _State()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeMistral:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-mistral",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeMistral:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """Base URL without ``/v1``, as ``MISTRAL_SERVER_URL`` expects."""
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------ scripting

    def queue(self, *scripts: Script | str) -> FakeMistral:
        """Replies for chat requests, consumed in order (a plain string means ``reply(text)``)."""
        return self.queue_for("chat", *scripts)

    def queue_for(self, endpoint: str, *scripts: Script | str) -> FakeMistral:
        """Replies for ``chat``, ``models``, ``embeddings`` or ``ocr`` requests, consumed in order."""
        if endpoint not in self._state.queues:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(self._state.queues)}")
        with self._state.lock:
            self._state.queues[endpoint].extend(
                reply(s) if isinstance(s, str) else s for s in scripts
            )
        return self

    def on_chat(self, handler: Handler) -> FakeMistral:
        """Decide chat replies from the request when the queue is empty (return None for the default)."""
        return self.on("chat", handler)

    def on(self, endpoint: str, handler: Handler) -> FakeMistral:
        with self._state.lock:
            self._state.handlers[endpoint] = handler
        return self

    def pending(self, endpoint: str = "chat") -> int:
        """How many queued scripts have not been consumed yet."""
        with self._state.lock:
            return len(self._state.queues[endpoint])

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return self.requests_to("chat")

    @property
    def last_chat(self) -> RecordedRequest:
        chats = self.chat_requests
        if not chats:
            raise AssertionError("the fake server received no chat request")
        return chats[-1]

    def reset(self) -> None:
        """Forget queued scripts, handlers and recorded requests."""
        with self._state.lock:
            for pending in self._state.queues.values():
                pending.clear()
            self._state.handlers.clear()
            self._state.requests.clear()

    # ------------------------------------------------------------ serving (called from handler threads)

    def _record(self, request: RecordedRequest) -> None:
        with self._state.lock:
            self._state.requests.append(request)

    def _next_script(self, request: RecordedRequest) -> Script | None:
        endpoint = request.endpoint or ""
        with self._state.lock:
            pending = self._state.queues.get(endpoint)
            if pending:
                return pending.popleft()
            handler = self._state.handlers.get(endpoint)
        if handler is None:
            return None
        scripted = handler(request)
        return reply(scripted) if isinstance(scripted, str) else scripted

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _default_script(self, request: RecordedRequest) -> Script:
        if request.endpoint == "models":
            return RawReply(body=json.dumps({"object": "list", "data": self.models}).encode())
        if request.endpoint == "embeddings":
            inputs = request.get("inputs") or request.get("input") or []
            if isinstance(inputs, str):
                inputs = [inputs]
            return EmbeddingsReply(vectors=[self.embedding_for(text) for text in inputs])
        if request.endpoint == "ocr":
            return OcrReply(pages=["# Fake OCR\n\nPage 1 of the document."])
        return error(500, NO_REPLY_SCRIPTED)

    def embedding_for(self, text: str) -> list[float]:
        """The deterministic default vector for a text (same text, same vector)."""
        digest = hashlib.sha256(str(text).encode()).digest()
        return [round(digest[i % len(digest)] / 127.5 - 1.0, 6) for i in range(self.embedding_dim)]


def _make_handler(fake: FakeMistral) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # small replies otherwise wait ~40 ms for a delayed ACK
        server_version = "FakeMistral/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            request = RecordedRequest(
                method=self.command,
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                json=parsed,
                endpoint=ENDPOINTS.get((self.command, path)),
                received_at=time.monotonic(),
            )
            fake._record(request)
            try:
                self._answer(request)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout test): nothing to do

        def _answer(self, request: RecordedRequest) -> None:
            if (
                fake.api_key is not None
                and request.headers.get("authorization") != f"Bearer {fake.api_key}"
            ):
                self._send_error(error(401))
                return
            if request.endpoint is None:
                answer = fake.agents.answer(request)  # sets request.endpoint when it is one of its
                if answer is None:
                    self._send_json(404, {"detail": "Not Found"})
                else:
                    self._send_bytes(*answer)
                return
            script = fake._next_script(request) or fake._default_script(request)
            fake._sleep(getattr(script, "delay_s", 0.0))
            if isinstance(script, Silent):
                fake._stopping.wait()
                self.close_connection = True
            elif isinstance(script, DropConnection):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif isinstance(script, ErrorReply):
                self._send_error(script, request.headers.get("authorization", ""))
            elif isinstance(script, RawReply):
                body = script.body
                if script.echo_key:
                    authorization = request.headers.get("authorization", "").encode()
                    body = body.replace(b"{authorization}", authorization)
                self._send_bytes(script.status, body, script.content_type, script.headers)
            elif isinstance(script, Reply):
                self._send_chat(script, request)
            elif isinstance(script, EmbeddingsReply):
                self._send_json(200, _embeddings_json(script, request))
            elif isinstance(script, OcrReply):
                self._send_json(200, _ocr_json(script, request))
            else:
                raise TypeError(f"not a fake-server script: {script!r}")

        def _send_chat(self, script: Reply, request: RecordedRequest) -> None:
            request_json = request.json if isinstance(request.json, dict) else {}
            if not request.stream:
                self._send_json(200, chat_completion_json(script, request_json, fake.default_model))
                return
            events = chat_stream_events(
                script, request_json, fake.default_model, openai_tool_deltas=fake.compat == "openai"
            )
            # Chunked transfer like the real API, so a drop mid-stream is a protocol error to httpx
            # (an incomplete chunked body), not a quiet end of stream.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for number, payload in enumerate(events):
                if script.drop_after_events is not None and number >= script.drop_after_events:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                event = f"data: {json.dumps(payload)}\n\n".encode()
                if script.cut_after_events is not None and number >= script.cut_after_events:
                    self._write_chunk(event[: len(event) // 2])
                    self.wfile.write(b"0\r\n\r\n")  # a clean end of the body
                    self.wfile.flush()
                    return
                self._write_chunk(event)
                fake._sleep(script.event_gap_s)
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _send_error(self, script: ErrorReply, authorization: str = "") -> None:
            headers = {}
            if script.retry_after is not None:
                headers["Retry-After"] = f"{script.retry_after:g}"
            body = json.dumps(script.body(authorization)).encode()
            self._send_bytes(script.status, body, "application/json", headers)

        def _send_json(self, status: int, payload: Any) -> None:
            self._send_bytes(status, json.dumps(payload).encode(), "application/json", {})

        def _send_bytes(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str]
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

    return _Handler


def _embeddings_json(script: EmbeddingsReply, request: RecordedRequest) -> dict[str, Any]:
    inputs = request.get("input") or request.get("inputs") or []
    inputs = [inputs] if isinstance(inputs, str) else inputs
    tokens = sum(max(1, len(str(text)) // 4) for text in inputs)
    return {
        "id": "embd-fake",
        "object": "list",
        "model": request.get("model") or "mistral-embed",
        "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
        "data": [
            {"object": "embedding", "embedding": vector, "index": i}
            for i, vector in enumerate(script.vectors)
        ],
    }


def _ocr_json(script: OcrReply, request: RecordedRequest) -> dict[str, Any]:
    pages = [
        {
            "index": i,
            "markdown": markdown,
            "images": [],
            "dimensions": {"dpi": 200, "height": 2200, "width": 1700},
        }
        for i, markdown in enumerate(script.pages)
    ]
    return {
        "pages": pages,
        "model": request.get("model") or "mistral-ocr-latest",
        "usage_info": {"pages_processed": len(pages), "doc_size_bytes": len(request.body)},
    }
