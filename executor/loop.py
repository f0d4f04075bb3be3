"""The Executor: Scout -> (Mechanic -> Inspector -> Iterate)* -> result, with a live trace.

``Executor`` is what a caller holds: the arguments checked up front, and what lasts across runs
-- the client, the sandbox (``executor.sandbox_owner``), the trace store, the plugins, the runs
under way (so ``cancel()`` and ``close()`` reach them). Each run's lifecycle -- trace events to
the store and observers as they happen, cancellation and the run's deadline, the model and
sandbox errors that end a run -- is ``executor.run_lifecycle``; ``executor.phases`` sequences
the phases and each phase module owns its own judgement. Every failure mode ends in an
``ExecutionResult`` (never an exception) except a bug of ours, which is re-raised after the run
is marked as errored in the store.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from executor.conversation import Conversation
from executor.datafiles import FileInputs, FileLimits, collect_inputs, merge_inputs
from executor.inspector import Inspector
from executor.mechanic import Mechanic
from executor.mistral import MistralClient, image_chunk
from executor.plugin_tools import build_tool_registry, resolve_plugins
from executor.results import ExecutionResult, TraceEvent
from executor.review import Reviewer, resolve_review_timeout
from executor.run_context import CancelToken
from executor.run_lifecycle import run_task
from executor.sandbox_access import release
from executor.sandbox_owner import SandboxOwner
from executor.scout import Scout
from executor.stops import ConfigurationError, resolve_run_timeout
from executor.stream import RunStream
from executor.trace_store import TraceStore
from mistral_executor.settings import get_settings
from plugins.tools import ToolProvider
from sandbox import Limits, Sandbox

Observer = Callable[[TraceEvent], None]
ImageInput = bytes | str | Path


class Executor(SandboxOwner):
    """Plans, writes, runs, checks and heals code for a task.

    ``sandbox`` is a backend name (``"auto"``, ``"restricted"``, ``"docker"``, a plugin's) or a
    ready ``Sandbox``; a named one starts in the background as soon as the executor is made (a
    run waits for it only when it first runs or checks code), is reused across runs, and is
    closed by ``close()``. ``store`` is a ``TraceStore``, a path, True for the default store under
    ``MISTRAL_EXECUTOR_HOME``, or False for no persistence. ``share_sandbox`` takes a named
    backend from a process-wide cache (see ``shared_sandbox``) instead of starting a new one.
    ``plugins=True`` offers the loaded plugins' tools to the Scout and their trace observers the
    events (a ``plugins.Plugins`` object selects a specific set); off by default, so a library
    call makes exactly the model calls it asks for.

    ``timeout_s`` and ``max_retries`` apply to each model call; left at None they come from
    ``MISTRAL_TIMEOUT_S`` / ``MISTRAL_MAX_RETRIES`` (else 60 s and 3). ``run_timeout_s`` bounds
    a whole run (default ``MISTRAL_EXECUTOR_RUN_TIMEOUT_S``, else 600 s): past it the run stops
    with ``stop_reason`` "run deadline", its pending model call and tool calls abandoned and its
    program killed, keeping the best attempt so far.

    ``review`` (a callable taking a ``ReviewRequest`` and returning a ``ReviewDecision``) pauses
    each run after the Mechanic writes code, until the reviewer runs, edits or rejects it (see
    ``executor.review``); ``review_timeout_s`` bounds each pause (default
    ``MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S``, else 300 s; past it the run stops with
    ``stop_reason`` "review timeout"). The run's deadline and cancel work while it is paused.

    ``stream(..., partial=True)`` also streams the Mechanic's reply: "partial" events carry the
    code written so far, to that stream's consumer only (see ``TraceEvent``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        server_url: str | None = None,
        sandbox: str | Sandbox = "auto",
        max_iterations: int = 3,
        use_self_healing: bool = True,
        *,
        limits: Limits | None = None,
        models: dict[str, str] | None = None,
        tool_provider: ToolProvider | None = None,
        store: TraceStore | str | Path | bool = True,
        observers: Iterable[Observer] = (),
        timeout_s: float | None = None,
        max_retries: int | None = None,
        client: MistralClient | None = None,
        share_sandbox: bool = False,
        plugins: Any = False,
        run_timeout_s: float | None = None,
        review: Reviewer | None = None,
        review_timeout_s: float | None = None,
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
        if review is not None and not callable(review):
            raise ValueError(f"review must be a callable taking a ReviewRequest, not {review!r}")
        self.run_timeout_s = resolve_run_timeout(run_timeout_s)
        self.review_timeout_s = resolve_review_timeout(review_timeout_s)
        # Read at the start of each run, so a host may set it on an executor it has built.
        self.review: Reviewer | None = review
        self.max_iterations = max_iterations
        self.use_self_healing = use_self_healing
        self.limits = limits
        self.observers: list[Observer] = list(observers)
        self._api_key = api_key
        self._server_url = server_url
        self._models = models
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._client = client
        self._init_sandbox(sandbox, share_sandbox)
        self._store_spec = store
        self._store: TraceStore | None = store if isinstance(store, TraceStore) else None
        self._owned: list[Any] = []
        self._lock = threading.Lock()
        self._active: set[CancelToken] = set()
        self.scout = Scout(tool_provider)
        self.mechanic = Mechanic()
        self.inspector = Inspector()
        self._finalizer = weakref.finalize(self, release, self._owned, self._starts)
        # A named backend starts now, in the background: its warm pool takes about a second,
        # which then overlaps with loading the plugins and the first model calls.
        self._sandbox_start()
        try:
            self._plugins = resolve_plugins(plugins)
        except BaseException:
            self.close()
            raise
        if self._plugins is not None:
            self.observers.append(self._plugins.emit)

    # ------------------------------------------------------------------ public API

    def execute(
        self,
        task: str,
        context: str = "",
        language: str = "python",
        validate_output: bool = True,
        *,
        images: Sequence[ImageInput] = (),
        conversation: Conversation | None = None,
        cancel: CancelToken | None = None,
        files: FileInputs = None,
    ) -> ExecutionResult:
        """Run the whole loop for ``task`` and return its result (failures included).

        ``files`` (a list of paths or a ``{name: bytes}`` mapping) are in the work dir of every
        attempt and check under their own names; a bad one raises ``DataFileError`` (a
        ``ValueError``) before the run starts. In a ``conversation`` they stay for later turns."""
        chunks = self._prepare(task, language, images)
        inputs = collect_inputs(files)
        if conversation is not None:
            merge_inputs(conversation.files, inputs, FileLimits.from_env())
        return run_task(
            self, task, context, validate_output, chunks, conversation, cancel, None, inputs
        )

    def stream(
        self,
        task: str,
        context: str = "",
        language: str = "python",
        validate_output: bool = True,
        *,
        images: Sequence[ImageInput] = (),
        conversation: Conversation | None = None,
        cancel: CancelToken | None = None,
        files: FileInputs = None,
        partial: bool = False,
    ) -> RunStream:
        """Iterate over the run's trace events as they happen; ``.result`` once it is over
        (``files`` as for ``execute``).

        ``partial=True`` also yields transient "partial" events: the Mechanic's reply is then
        streamed and the code written so far arrives as it grows (``payload["code"]``, about
        ten a second at most; ``seq`` 0, never stored). Off by default, so every event a
        stream yields is a stored one, numbered 1..n."""
        chunks = self._prepare(task, language, images)
        inputs = collect_inputs(files)
        if conversation is not None:
            merge_inputs(conversation.files, inputs, FileLimits.from_env())
        token = cancel or CancelToken()

        def start(on_event: Observer) -> ExecutionResult:
            return run_task(
                self,
                task,
                context,
                validate_output,
                chunks,
                conversation,
                token,
                on_event,
                inputs,
                partial,
            )

        return RunStream(start, token)

    def cancel(self) -> None:
        """Cancel every run of this executor that is under way (safe from any thread)."""
        with self._lock:
            tokens = list(self._active)
        for token in tokens:
            token.cancel()

    def new_conversation(self, title: str = "") -> Conversation:
        conversation = Conversation(title=title)
        store = self.store
        if store is not None:
            store.save_conversation(conversation)
        return conversation

    def load_conversation(self, conversation_id: str) -> Conversation:
        store = self.store
        if store is None:
            raise KeyError("this executor has no trace store")
        return store.load_conversation(conversation_id)

    @property
    def store(self) -> TraceStore | None:
        with self._lock:
            if self._store is None and self._store_spec is not False:
                path = None if self._store_spec is True else self._store_spec
                self._store = TraceStore(path)  # type: ignore[arg-type]
                self._owned.append(self._store)
            if self._store is not None:
                self._store.add_secret(self._effective_key())
            return self._store

    @property
    def client(self) -> MistralClient:
        with self._lock:
            if self._client is None:
                self._client = MistralClient(
                    api_key=self._api_key,
                    server_url=self._server_url,
                    timeout_s=self._timeout_s,
                    max_retries=self._max_retries,
                    models=self._models,
                )
                self._owned.append(self._client)
            return self._client

    def adopt(self, resource: Any) -> None:
        """Close ``resource`` with this executor (``executor.assembly`` hands over the client
        and a sandbox it made for this executor alone)."""
        with self._lock:
            self._owned.append(resource)

    def close(self) -> None:
        """Cancel what runs, then close what this executor owns (a sandbox still starting is
        waited for and closed too)."""
        self.cancel()
        self._finalizer()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the run

    def _connect(self) -> MistralClient:
        """The client for a run, with the plugins' tools bound to it (and to this executor's
        sandbox) on the first run; a client that cannot be set up is a configuration error."""
        try:
            client = self.client
        except (ValueError, TypeError) as exc:  # a bad server URL, models mapping...
            raise ConfigurationError(f"the Mistral client cannot be set up: {exc}") from exc
        if self._plugins is not None and self.scout.tool_provider is None:
            self.scout.tool_provider = build_tool_registry(
                self._plugins, client, self._lent_sandbox(), self._effective_key()
            )
        return client

    def _effective_key(self) -> str | None:
        return self._api_key or get_settings().api_key or None

    def _prepare(self, task: str, language: str, images: Sequence[ImageInput]) -> list[dict]:
        """Reject what can never run before a run starts (bad arguments are the caller's bug)."""
        if not task or not task.strip():
            raise ValueError("the task is empty")
        if language.lower() not in ("python", "py"):
            raise ValueError(f"only Python is supported, not {language!r}")
        return [image_chunk(image) for image in images]


def autonomous_execute(task: str, **options: Any) -> ExecutionResult:
    """One-shot: build an Executor from ``options``, run ``task``, release everything."""
    run_keys = (
        "context",
        "language",
        "validate_output",
        "images",
        "conversation",
        "cancel",
        "files",
    )
    run_options = {key: options.pop(key) for key in run_keys if key in options}
    with Executor(**options) as executor:
        return executor.execute(task, **run_options)
