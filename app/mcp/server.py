"""``mistral-executor mcp``: the sandbox and the executor as an MCP server (stdio or HTTP).

Tools: ``run_python`` (the sandbox alone), ``execute_task`` (the whole loop; needs a key in the
server's environment) and ``sandbox_backends`` (what each backend is, whether it runs here, and
the isolation the kernel granted it), the latter also as the ``sandbox://backends`` resource.

The work is blocking (sandbox runs, model calls), so each call runs in a worker thread while the
event loop keeps serving other requests; semaphores bound how many run at once, like the web
app's queue does. Session ids are namespaced per MCP connection: a client can keep variables
between its own calls but never reach another client's session.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import uuid
import weakref
from typing import Any

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import (
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    TextContent,
    ToolAnnotations,
)

from app.mcp import service
from sandbox import SandboxError

SERVER_NAME = "mistral-executor"
# Sandbox runs are CPU-bound on the host; model-driven tasks mostly wait on the network.
RUN_CONCURRENCY = 2
TASK_CONCURRENCY = 4
INSTRUCTIONS = (
    "Run Python safely with run_python (a locked-down sandbox: no network, no host files, "
    "bounded CPU, memory and time; matplotlib figures come back as PNG images). Pass the same "
    "session_id to keep variables between calls. execute_task plans, writes, runs, checks and "
    "repairs a program for a task with Mistral models. sandbox_backends says which backends "
    "run here and how they are isolated."
)


class _ConnectionIds:
    """A random id per MCP connection (weakly keyed: it goes away with the connection)."""

    def __init__(self) -> None:
        self._ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, ctx: Context | None) -> str:
        session = getattr(ctx, "session", None) if ctx is not None else None
        if session is None:
            return "anonymous"
        with self._lock:
            if session not in self._ids:
                self._ids[session] = uuid.uuid4().hex
            return self._ids[session]


def _json_text(data: Any) -> TextContent:
    return TextContent(type="text", text=json.dumps(data, indent=2))


def _image(png: bytes) -> ImageContent:
    return ImageContent(
        type="image", data=base64.b64encode(png).decode("ascii"), mimeType="image/png"
    )


def _file(name: str, content: bytes) -> EmbeddedResource:
    return EmbeddedResource(
        type="resource",
        resource=BlobResourceContents(
            uri=f"sandbox://files/{name}",
            mimeType=service.guess_mime(name),
            blob=base64.b64encode(content).decode("ascii"),
        ),
    )


def run_python_content(result: Any) -> CallToolResult:
    """A RunResult as an MCP tool result: the text part first (JSON: ok, stdout, stderr, error,
    limit, file names and sizes; also the structured content), then each figure as a PNG image,
    then each file as a resource."""
    summary = {
        "ok": result.ok,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "error": None
        if result.error is None
        else {
            "type": result.error.type,
            "message": result.error.message,
            "kind": result.error.kind,
            "lineno": result.error.lineno,
            "traceback": result.error.traceback,
        },
        "limit_hit": result.limit_hit,
        "images": len(result.images),
        "files": {name: len(content) for name, content in result.files.items()},
        "duration_ms": round(result.duration_ms, 1),
        "backend": result.backend,
    }
    content: list[ContentBlock] = [
        _json_text(summary),
        *(_image(png) for png in result.images),
        *(_file(name, content) for name, content in result.files.items()),
    ]
    return CallToolResult(content=content, structuredContent=summary)


def build_server(*, host: str = "127.0.0.1", port: int = 8000) -> FastMCP:
    """The FastMCP server with our tools and resource (``host``/``port`` matter for HTTP only)."""
    # The SDK logs every request at INFO: too much for a client's stderr log.
    mcp = FastMCP(SERVER_NAME, instructions=INSTRUCTIONS, host=host, port=port, log_level="WARNING")
    connections = _ConnectionIds()
    run_slots = anyio.Semaphore(RUN_CONCURRENCY)
    task_slots = anyio.Semaphore(TASK_CONCURRENCY)

    @mcp.tool(
        annotations=ToolAnnotations(
            title="Run Python in the sandbox", readOnlyHint=False, openWorldHint=False
        ),
    )
    async def run_python(
        code: str,
        session_id: str | None = None,
        backend: str | None = None,
        timeout: float = 10.0,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Run Python code in a locked-down sandbox and return what it printed.

        Args:
            code: the Python source to run.
            session_id: any name; calls with the same one share variables (per connection).
            backend: "auto", "restricted", "docker" or a plugin's (default: the host's choice).
            timeout: wall-clock limit in seconds (0.5 to 120).

        Returns a JSON text part (ok, stdout, stderr, error, limit_hit, files), then every
        matplotlib figure left open as a PNG image, then every file the code wrote.
        """
        namespaced = f"mcp-{connections.of(ctx)}-{session_id}" if session_id else None
        async with run_slots:
            try:
                result = await anyio.to_thread.run_sync(
                    lambda: service.run_code(code, backend, timeout, session_id=namespaced)
                )
            except (service.RequestError, SandboxError) as exc:
                raise ToolError(str(exc)) from None
        return run_python_content(result)

    @mcp.tool(
        annotations=ToolAnnotations(title="Solve a task with code", openWorldHint=True),
    )
    async def execute_task(
        task: str,
        context: str = "",
        backend: str | None = None,
        max_attempts: int = 3,
        timeout: float = 10.0,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Plan, write, run, check and repair a Python program for a task (Mistral models).

        Args:
            task: what to do, in plain words.
            context: optional extra information for the planner (data, constraints).
            backend: sandbox backend for the program (default: the host's choice).
            max_attempts: how many programs may be tried (1 to 10).
            timeout: wall-clock limit per program run, in seconds.

        Needs MISTRAL_API_KEY in the server's environment. Returns a JSON text part (success,
        output, code, plan, attempts, run_id, errors), then the program's figures as PNGs.
        """
        settings = service.TaskSettings(
            backend=backend, max_attempts=max_attempts, timeout_s=timeout
        )
        progress = _progress_reporter(ctx)
        async with task_slots:
            try:
                result = await anyio.to_thread.run_sync(
                    lambda: service.execute_task(
                        task, context=context, settings=settings, on_event=progress
                    )
                )
            except (service.RequestError, SandboxError) as exc:
                raise ToolError(str(exc)) from None
        data = service.task_result_json(result)
        images = data.pop("images")
        data["images"] = len(images)
        data["artifacts"] = {name: len(content) for name, content in result.artifacts.items()}
        content: list[ContentBlock] = [
            _json_text(data),
            *(_image(png) for png in result.images),
            *(_file(name, content) for name, content in result.artifacts.items()),
        ]
        return CallToolResult(content=content, structuredContent=data)

    @mcp.tool(annotations=ToolAnnotations(title="Sandbox backends", readOnlyHint=True))
    async def sandbox_backends(probe: bool = False) -> dict[str, Any]:
        """Which sandbox backends exist, whether each can run here (and why not), and the
        isolation each running one was granted (namespaces, Landlock, dropped privileges).

        Args:
            probe: start the available backends that are not running yet, to report their
                isolation (takes a few seconds).
        """
        return await anyio.to_thread.run_sync(lambda: service.backends_report(probe=probe))

    @mcp.resource(
        "sandbox://backends",
        name="sandbox_backends",
        description="The sandbox backends, their availability and isolation (JSON).",
        mime_type="application/json",
    )
    def backends_resource() -> str:
        return json.dumps(service.backends_report(), indent=2)

    return mcp


def _progress_reporter(ctx: Context | None) -> Any:
    """A trace observer (called on the worker thread) that sends MCP progress notifications,
    when the client asked for them with a progress token."""
    if ctx is None or ctx.request_context.meta is None:
        return None
    if getattr(ctx.request_context.meta, "progressToken", None) is None:
        return None
    count = 0

    def on_event(event: Any) -> None:
        nonlocal count
        count += 1
        message = f"{event.phase}: {event.message or event.step}"[:200]
        try:
            anyio.from_thread.run(lambda: ctx.report_progress(count, None, message))
        except Exception:  # a client gone away must not break the run
            pass

    return on_event


class _StdoutGuard:
    """``sys.stdout`` while serving stdio: ``print()`` from any code in the process (a plugin,
    a library) goes to stderr, and only the SDK's transport, which writes to
    ``sys.stdout.buffer``, reaches the protocol pipe. A stray line there would corrupt the
    JSON-RPC stream and cut the client off."""

    def __init__(self, protocol: Any) -> None:
        self.buffer = protocol

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stderr, name)


def _guard_stdout() -> None:
    """Move the protocol pipe off fd 1: child processes and C code writing to fd 1 then land on
    stderr, and Python's ``print`` too (see ``_StdoutGuard``)."""
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = _StdoutGuard(protocol)


def serve(http_port: int | None = None, host: str = "127.0.0.1") -> None:
    """Serve over stdio, or streamable HTTP at ``http://host:port/mcp`` with ``http_port``."""
    if http_port is None:
        _guard_stdout()
        build_server().run("stdio")
    else:
        build_server(host=host, port=http_port).run("streamable-http")
