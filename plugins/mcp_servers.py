"""MCP servers as a tool source: their tools become tools the Scout can call.

Servers are declared by the host in ``MISTRAL_EXECUTOR_HOME/mcp.json``, in the shape every MCP
client uses::

    {"mcpServers": {
        "weather": {"command": "uvx", "args": ["weather-mcp"], "env": {"UNITS": "metric"}},
        "search":  {"url": "https://example.org/mcp", "headers": {"Authorization": "Bearer ..."}}
    }}

or by a plugin through ``register_mcp_servers(register)``. Each server runs behind one
:class:`McpConnection`: a daemon thread with its own event loop holds the SDK's ``ClientSession``
open, and the registry's tool threads call into it with a timeout. A server that fails to start,
lists no usable tools, or crashes later is reported (``Plugins.failures``) and left out; a call
to a crashed server returns an error the model can read. Arguments are validated against the
server's own input schema (jsonschema) by the registry before a call is sent.

A stdio server inherits only the SDK's safe environment (PATH, HOME, ...) plus its own ``env``:
the host's API keys are never passed to third-party servers.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from plugins.tools import Tool, ToolOutput

MCP_CONFIG_FILE = "mcp.json"
DEFAULT_CALL_TIMEOUT_S = 60.0
DEFAULT_STARTUP_TIMEOUT_S = 30.0
_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class McpServerSpec:
    """One MCP server: a stdio ``command`` (with ``args``, ``env``, ``cwd``) or a ``url``
    (streamable HTTP, with ``headers``). ``source`` is "mcp.json" or the registering plugin."""

    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_CALL_TIMEOUT_S
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    source: str = MCP_CONFIG_FILE

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("an MCP server needs a name")
        if bool(self.command) == bool(self.url):
            raise ValueError(
                f"MCP server {self.name!r}: give either a stdio 'command' or a 'url', not "
                f"{'both' if self.command else 'neither'}"
            )
        if not isinstance(self.args, list) or not all(isinstance(a, str) for a in self.args):
            raise ValueError(f"MCP server {self.name!r}: 'args' must be a list of strings")
        for what in ("env", "headers"):
            value = getattr(self, what)
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError(f"MCP server {self.name!r}: {what!r} must map strings to strings")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r}: 'url' must be an http(s) URL")
        for what in ("timeout_s", "startup_timeout_s"):
            if not float(getattr(self, what)) > 0:
                raise ValueError(f"MCP server {self.name!r}: {what!r} must be positive")

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def describe(self) -> dict[str, Any]:
        """For reports: never the env or headers (they hold secrets)."""
        where = {"command": self.command, "args": self.args} if self.command else {"url": self.url}
        return {"name": self.name, "source": self.source, "transport": self.transport, **where}

    @classmethod
    def from_config(cls, name: str, entry: Any, source: str = MCP_CONFIG_FILE) -> McpServerSpec:
        """One ``mcpServers`` entry (also accepts ``timeout``/``startupTimeout`` in seconds)."""
        if not isinstance(entry, dict):
            raise ValueError(f"MCP server {name!r}: the entry must be a JSON object")
        known = {"command", "args", "env", "cwd", "url", "headers", "timeout", "startupTimeout",
                 "type", "transport", "disabled"}  # fmt: skip
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"MCP server {name!r}: unknown key(s) {', '.join(unknown)}")
        return cls(
            name=name,
            command=entry.get("command"),
            args=list(entry.get("args") or []),
            env=dict(entry.get("env") or {}),
            cwd=entry.get("cwd"),
            url=entry.get("url"),
            headers=dict(entry.get("headers") or {}),
            timeout_s=float(entry.get("timeout", DEFAULT_CALL_TIMEOUT_S)),
            startup_timeout_s=float(entry.get("startupTimeout", DEFAULT_STARTUP_TIMEOUT_S)),
            source=source,
        )


def as_server_spec(item: Any, entry: Any = None, /, **options: Any) -> McpServerSpec:
    """What ``register_mcp_servers``'s ``register`` accepts: a ``McpServerSpec``, a name and an
    ``mcp.json``-style entry, or a name with keyword options (``command=``, ``url=``, ...)."""
    if isinstance(item, McpServerSpec):
        return item
    if isinstance(item, str) and isinstance(entry, dict):
        return McpServerSpec.from_config(item, entry)
    if isinstance(item, str) and entry is None:
        return McpServerSpec(name=item, **options)
    raise TypeError(
        "register() expects McpServerSpec(...), (name, {mcp.json entry}) or (name, command=...)"
        f", got {item!r}"
    )


def read_config(path: Path) -> tuple[list[McpServerSpec], list[tuple[str, str]]]:
    """The servers ``path`` declares, and (name, error) for each entry that cannot work."""
    if not path.is_file():
        return [], []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [(MCP_CONFIG_FILE, f"{path} is not valid JSON: {exc}")]
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return [], [(MCP_CONFIG_FILE, f'{path} has no "mcpServers" object')]
    specs, problems = [], []
    for name, entry in servers.items():
        if isinstance(entry, dict) and entry.get("disabled"):
            continue
        try:
            specs.append(McpServerSpec.from_config(name, entry))
        except (ValueError, TypeError) as exc:
            problems.append((name, str(exc)))
    return specs, problems


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
            self.error = _describe(exc)

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
                return self._failed(f"stopped: {self.error or _describe(exc)}")
            if _is_timeout(exc):
                return self._failed(f"did not answer {tool!r} within {timeout_s:g}s")
            return self._failed(f"failed to call {tool!r}: {_describe(exc)}")
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


def _describe(exc: BaseException) -> str:
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


def tools_of(connection: McpConnection, plugin: str) -> tuple[list[Tool], list[str]]:
    """The server's tools as registry ``Tool``s, and a sentence for each one left out."""
    tools, skipped = [], []
    for remote in connection.tools:
        schema = dict(remote.inputSchema or {"type": "object"})
        schema.setdefault("type", "object")
        if not _VALID_NAME.match(remote.name):
            skipped.append(f"tool {remote.name!r}: the name is not usable as a function name")
            continue
        if schema.get("type") != "object":
            skipped.append(f"tool {remote.name!r}: its input schema is not an object")
            continue
        tools.append(
            Tool(
                name=remote.name,
                description=(remote.description or remote.title or remote.name).strip(),
                parameters=schema,
                function=_caller(connection, remote.name),
                # The registry's timeout is the backstop; the call itself gives up a bit earlier.
                timeout_s=connection.spec.timeout_s + 2,
                plugin=plugin,
            )
        )
    return tools, skipped


def _caller(connection: McpConnection, name: str) -> Callable[..., ToolOutput]:
    def call(**arguments: Any) -> ToolOutput:
        return connection.call(name, arguments, connection.spec.timeout_s)

    call.__name__ = name
    return call


class McpServers:
    """Every declared server: started together on first use, kept for the process's life."""

    def __init__(
        self, specs: list[McpServerSpec], on_failure: Callable[[McpServerSpec, str], None]
    ):
        self.specs = specs
        self.connections: dict[str, McpConnection] = {}
        self.tools: dict[str, list[Tool]] = {}
        self.errors: dict[str, str] = {}
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        """Connect to every server at once (a slow one delays only itself up to its timeout)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            if self.specs:
                atexit.register(self.close)
            threads = [
                threading.Thread(target=self._start_one, args=(spec,), daemon=True)
                for spec in self.specs
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def _start_one(self, spec: McpServerSpec) -> None:
        connection = McpConnection(
            spec, on_stopped=lambda error: self._record(spec, f"stopped: {error}")
        )
        try:
            connection.start()
        except Exception as exc:
            self._record(spec, f"failed to start: {connection.error or _describe(exc)}")
            return
        tools, skipped = tools_of(connection, spec.source)
        for problem in skipped:
            self._on_failure(spec, problem)
        self.connections[spec.name] = connection
        self.tools[spec.name] = tools

    def _record(self, spec: McpServerSpec, message: str) -> None:
        self.errors[spec.name] = message
        self._on_failure(spec, message)

    def live_tools(self) -> list[tuple[str, Tool]]:
        """(server, tool) for every running server; a server found dead is reported, left out."""
        self.start()
        found = []
        for spec in self.specs:
            connection = self.connections.get(spec.name)
            if connection is None:
                continue
            if not connection.alive:
                if spec.name not in self.errors:
                    self._record(spec, f"stopped: {connection.error or 'connection lost'}")
                continue
            found += [(spec.name, tool) for tool in self.tools.get(spec.name, [])]
        return found

    def report(self) -> list[dict[str, Any]]:
        self.start()
        rows = []
        for spec in self.specs:
            connection = self.connections.get(spec.name)
            alive = connection is not None and connection.alive
            error = self.errors.get(spec.name) or (
                None if alive else f"stopped: {connection.error if connection else 'not started'}"
            )
            rows.append(
                {
                    **spec.describe(),
                    "status": "running" if alive else "failed",
                    "error": error,
                    "tools": [
                        {"name": t.name, "description": t.description}
                        for t in self.tools.get(spec.name, [])
                    ]
                    if alive
                    else [],
                }
            )
        return rows

    def close(self) -> None:
        for connection in list(self.connections.values()):
            connection.close()
