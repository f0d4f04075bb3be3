"""The client side of one MCP server connection, usable from the tool registry's threads.

The MCP SDK is async; the registry calls tools from plain threads with a timeout. So each server
gets a daemon thread running its own event loop, which holds the SDK's ``ClientSession`` open
for the life of the process; calls are submitted to that loop and waited on. The end of the
server's output is watched, so a crashed server is noticed at once and later calls fail fast.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from plugins.tools import ToolOutput

if TYPE_CHECKING:
    from plugins.mcp_servers import McpServerSpec


class McpConnection:
    """A live session with one MCP server, usable from any thread.

    ``start()`` connects, initializes and lists the tools (raising on failure); ``call()``
    sends one ``tools/call`` and waits at most ``timeout_s``. ``error`` is set once the server
    is gone (crashed, closed), after which calls fail fast.
    """

    def __init__(
        self, spec: McpServerSpec, on_stopped: Callable[[str], None] | None = None
    ) -> None:
        self.spec = spec
        self.on_stopped = on_stopped  # called (on the connection's thread) if the server dies
        self.tools: list[Any] = []  # mcp.types.Tool
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> McpConnection:
        self._thread = threading.Thread(target=self._run, name=f"mcp-{self.spec.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.spec.startup_timeout_s):
            self.error = f"did not start within {self.spec.startup_timeout_s:g}s"
            self.close()
            raise RuntimeError(self.error)
        if self.error is not None:
            raise RuntimeError(self.error)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - recorded; the thread must end quietly
            self._fail(exc)
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        import anyio
        from mcp import ClientSession

        self._stop = asyncio.Event()
        try:
            async with self._transport() as streams:
                # Messages pass through a pump so the end of the server's output (it exited or
                # the connection dropped) is noticed at once, not at the next call's timeout.
                inbox_send, inbox = anyio.create_memory_object_stream(0)
                async with anyio.create_task_group() as group:
                    group.start_soon(self._pump, streams[0], inbox_send)
                    async with ClientSession(inbox, streams[1]) as session:
                        await session.initialize()
                        listed = await session.list_tools()
                        self.tools = list(listed.tools)
                        self._session = session
                        self._ready.set()
                        await self._stop.wait()
                    group.cancel_scope.cancel()
        finally:
            self._session = None
            if self.error is None and not self._stop.is_set():
                self.error = "the server closed the connection"

    async def _pump(self, source: Any, sink: Any) -> None:
        import anyio

        try:
            async with sink:
                async for message in source:
                    await sink.send(message)
                if not self._stop.is_set():
                    self._session = None
                    self.error = self.error or "the server exited or closed the connection"
                    if self.on_stopped is not None and self._ready.is_set():
                        self.on_stopped(self.error)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            self._stop.set()

    def _transport(self) -> Any:
        spec = self.spec
        if spec.command:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            params = StdioServerParameters(
                command=spec.command, args=spec.args, env=spec.env or None, cwd=spec.cwd
            )
            return stdio_client(params)
        import httpx
        from mcp.client.streamable_http import streamable_http_client

        client = httpx.AsyncClient(
            headers=spec.headers, timeout=httpx.Timeout(spec.timeout_s), follow_redirects=True
        )
        return _owning(client, streamable_http_client(spec.url, http_client=client))

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = describe_error(exc)

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop ended meanwhile
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._session is not None and self.error is None

    # -- calls --------------------------------------------------------------------------------

    def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> ToolOutput:
        """One ``tools/call``; every failure comes back as a failed ``ToolOutput`` the model
        can read (the server's own ``isError`` results included)."""
        if not self.alive or self._loop is None:
            return self._failed(f"is unavailable: {self.error or 'it is not running'}")
        future = asyncio.run_coroutine_threadsafe(
            self._session.call_tool(
                tool, arguments, read_timeout_seconds=timedelta(seconds=timeout_s)
            ),
            self._loop,
        )
        try:
            result = future.result(timeout_s + 1)
        except Exception as exc:
            future.cancel()
            if not self.alive:
                return self._failed(f"stopped: {self.error or describe_error(exc)}")
            if _is_timeout(exc):
                return self._failed(f"did not answer {tool!r} within {timeout_s:g}s")
            return self._failed(f"failed to call {tool!r}: {describe_error(exc)}")
        return tool_output(result, self.spec.name)

    def _failed(self, problem: str) -> ToolOutput:
        text = f"MCP server {self.spec.name!r} {problem}"
        return ToolOutput(
            f"Error: {text}", ok=False, served_by=f"mcp:{self.spec.name}", reason=text
        )


def _is_timeout(exc: BaseException) -> bool:
    from mcp.shared.exceptions import McpError

    if isinstance(exc, TimeoutError):
        return True
    # The SDK reports its read timeout as an McpError with HTTP's 408.
    return isinstance(exc, McpError) and exc.error.code == 408


class _owning:
    """Enter a transport and close the httpx client we made for it on the way out."""

    def __init__(self, client: Any, transport: Any) -> None:
        self.client, self.transport = client, transport

    async def __aenter__(self) -> Any:
        return await self.transport.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.transport.__aexit__(*exc_info)
        finally:
            await self.client.aclose()


def describe_error(exc: BaseException) -> str:
    """The first real error inside exception groups (anyio task groups wrap them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


def tool_output(result: Any, server: str) -> ToolOutput:
    """A ``CallToolResult`` as a ``ToolOutput``: text parts joined, images decoded, embedded
    blobs kept as files, structured content as data; ``isError`` marks it failed."""
    texts, images, files = [], [], {}
    for index, block in enumerate(result.content or []):
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind == "image":
            try:
                images.append(base64.b64decode(block.data))
            except ValueError:
                texts.append("[an image that could not be decoded]")
        elif kind == "resource":
            resource = block.resource
            name = str(resource.uri).rstrip("/").rsplit("/", 1)[-1] or f"resource-{index}"
            if getattr(resource, "text", None) is not None:
                texts.append(f"[{resource.uri}]\n{resource.text}")
            elif getattr(resource, "blob", None) is not None:
                files[name] = base64.b64decode(resource.blob)
        elif kind == "resource_link":
            texts.append(f"[resource: {block.uri}]")
    structured = getattr(result, "structuredContent", None)
    if not texts and structured is not None:
        texts.append(json.dumps(structured, ensure_ascii=False))
    if images and not texts:
        texts.append(f"[{len(images)} image(s)]")
    return ToolOutput(
        "\n".join(texts),
        ok=not result.isError,
        served_by=f"mcp:{server}",
        images=images,
        files=files,
        data={"structured": structured} if structured is not None else {},
    )
