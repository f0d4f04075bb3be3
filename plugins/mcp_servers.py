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
offers a tool that cannot be used, or crashes later is reported (``Plugins.failures``) and left out; a call
to a crashed server returns an error the model can read. Arguments are validated against the
server's own input schema (jsonschema) by the registry before a call is sent.

A stdio server inherits only the SDK's safe environment (PATH, HOME, ...) plus its own ``env``:
the host's API keys are never passed to third-party servers.
"""

from __future__ import annotations

import atexit
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugins.mcp_client import McpConnection, describe_error
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
        self, declared: list[McpServerSpec], on_failure: Callable[[McpServerSpec, str], None]
    ) -> None:
        self.specs: list[McpServerSpec] = []
        self.connections: dict[str, McpConnection] = {}
        self.tools: dict[str, list[Tool]] = {}
        self.errors: dict[str, str] = {}
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._started = False
        for spec in declared:  # a name declared twice: the first declaration wins
            first = next((s for s in self.specs if s.name == spec.name), None)
            if first is None:
                self.specs.append(spec)
            else:
                message = f"an MCP server named {spec.name!r} is already declared by {first.source}"
                on_failure(spec, message)

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
            self._record(spec, f"failed to start: {connection.error or describe_error(exc)}")
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
