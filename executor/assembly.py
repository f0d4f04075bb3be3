"""Building an executor with its client, sandbox, plugins and store: the one place that does it.

Every entry point -- ``mistral-executor run``, the web app's chat (``app.ui.services``), its
public API (``app.ui.api``) and the MCP server (``app.mcp``) -- makes its executors here, so a
choice such as "a plugin backend needs the plugins loaded even without their tools" or "the
connectors get the run's client" is made once. ``Executor(...)`` stays the library's
constructor; this module is how the applications configure one from the process's settings
(``mistral_executor.settings``) and a caller's choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from executor.loop import Executor
from executor.mistral import MistralClient
from executor.plugin_tools import connector_context, resolve_plugins
from executor.sandbox_access import close_quietly
from executor.trace_store import TraceStore
from mistral_executor.settings import Settings, get_settings
from plugins.sandboxes import available_backends, choose_backend
from sandbox import Limits, Sandbox, create_sandbox
from sandbox.shared import shared_sandbox

__all__ = ["available_backends", "build_executor", "choose_backend"]


def build_executor(
    settings: Settings | None = None,
    *,
    api_key: str | None = None,
    server_url: str | None = None,
    sandbox: str | Sandbox | None = None,
    limits: Limits | None = None,
    models: dict[str, str] | None = None,
    max_iterations: int = 3,
    use_self_healing: bool = True,
    plugins: Any = True,
    documents_home: Path | None = None,
    store: TraceStore | str | Path | bool = True,
    share_sandbox: bool = True,
    start_sandbox: bool = False,
    observers: Iterable[Callable[[Any], None]] = (),
    run_timeout_s: float | None = None,
    **executor_options: Any,
) -> Executor:
    """An executor configured from ``settings`` (default: the process's) and the caller's choices.

    - ``api_key``/``server_url``: None takes the settings' (``MISTRAL_API_KEY``,
      ``MISTRAL_SERVER_URL``); ``api_key=""`` means "no key" (a web visitor without one never
      borrows the host's).
    - ``sandbox``: a backend name (blank: ``MISTRAL_EXECUTOR_SANDBOX``; a plugin's name loads the
      plugins, see ``choose_backend``) or a ready ``Sandbox``. ``share_sandbox`` takes the
      process's warm one (``sandbox.shared``); ``start_sandbox`` starts it now, so a backend that
      cannot start raises ``SandboxError`` here rather than in the run (the web app and MCP want
      that), else it starts in the background while the Scout talks to the model (the CLI).
    - ``plugins``: True for the process's plugins, a ``plugins.Plugins``, or False for no tools
      and no observers (a backend a plugin registers is found either way).
    - ``documents_home``: the connectors' document library (a web session's own in private mode).
    - ``store``: a ``TraceStore``, a path, True for the default store, False for none.
    - ``executor_options``: any other ``Executor`` keyword, passed through.

    The executor owns what is made here (client, a non-shared sandbox): ``close()`` releases it.
    """
    settings = settings or get_settings()
    key = settings.api_key if api_key is None else api_key
    url = server_url or settings.server_url
    offered = resolve_plugins(plugins)
    box: str | Sandbox
    owned_box: Sandbox | None = None
    if isinstance(sandbox, Sandbox):
        box = sandbox
    else:
        box = choose_backend(sandbox).backend
        if start_sandbox or documents_home is not None:
            if share_sandbox:
                box = shared_sandbox(box, limits)
            else:
                box = owned_box = create_sandbox(box, limits=limits)
    made: list[Any] = [owned_box] if owned_box is not None else []
    try:
        client = MistralClient(api_key=key or "", server_url=url, models=models or None)
        made.append(client)
        tools = None
        if offered is not None and isinstance(box, Sandbox):
            # Bound now, to the run's client and sandbox and this caller's document library;
            # with a sandbox still to start, the executor binds them on its first run instead.
            ctx = connector_context(
                api_key=key, server_url=url, client=client, sandbox=box, home=documents_home
            )
            tools = offered.tool_registry(ctx)
        executor = Executor(
            api_key=key,
            server_url=url,
            sandbox=box,
            max_iterations=max_iterations,
            use_self_healing=use_self_healing,
            limits=limits,
            models=models or None,
            tool_provider=tools,
            store=store,
            observers=observers,
            client=client,
            share_sandbox=share_sandbox,
            plugins=offered if offered is not None else False,
            run_timeout_s=run_timeout_s,
            **executor_options,
        )
    except BaseException:
        close_quietly(made)
        raise
    for resource in made:
        executor.adopt(resource)
    return executor
