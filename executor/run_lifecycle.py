"""One run of an ``Executor``, from its first trace event to its stored result.

``executor.loop`` holds what lasts across runs (the client, the sandbox, the store, the plugins,
the runs under way); this module is what happens to each run, in order: the run's own cancel
token wired to the caller's cancel and to the deadline, the phases run (``executor.phases``), a
stop turned into the result (``executor.stops``) or a bug of ours marked in the store and
re-raised, then the result assembled (``executor.final``), stored and added to the conversation.
Every trace event is fanned out as it is emitted (``TraceFanOut``).

A run reads its executor through ``RunHost`` -- its settings, its phase objects, its store and
observers, and the hooks for what a run asks for only as it goes: the sandbox's start (first, so
the sandbox comes up while the Scout plans), the client (one that cannot be set up ends the run
as a configuration error, in its result) and the backend that ran the code (known once the
sandbox has started). It reads each when the run needs it, so a host may change an executor's
settings (``review``...) between runs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from executor.conversation import Conversation
from executor.datafiles import merge_inputs
from executor.final import finish
from executor.inspector import Inspector
from executor.mechanic import Mechanic
from executor.mistral import MistralClient
from executor.phases import Crew, RunRequest, run_phases
from executor.results import Attempt, ExecutionResult, TraceEvent
from executor.review import Reviewer
from executor.run_context import RUN_DEADLINE, CancelToken, RunContext
from executor.sandbox_access import SandboxStart
from executor.scout import Scout
from executor.stops import STOPS, record_stop
from executor.trace_store import TraceStore

# The logger the run's messages always came from (before the split from executor/loop.py),
# so a host's logging configuration for it still applies.
log = logging.getLogger("executor.loop")

Observer = Callable[[TraceEvent], None]


class RunHost(Protocol):
    """What a run uses of its executor (``executor.loop.Executor``, whose private members these
    are: this module is the run half of that class)."""

    observers: list[Observer]
    run_timeout_s: float
    max_iterations: int
    use_self_healing: bool
    review: Reviewer | None
    review_timeout_s: float
    scout: Scout
    mechanic: Mechanic
    inspector: Inspector
    # The executor's runs under way (guarded by ``_lock``): how ``Executor.cancel`` reaches them.
    _active: set[CancelToken]
    _lock: threading.Lock

    @property
    def store(self) -> TraceStore | None: ...

    @property
    def _sandbox_label(self) -> str: ...

    def _sandbox_start(self) -> SandboxStart: ...

    def _connect(self) -> MistralClient: ...

    def _backend(self, start: SandboxStart | None) -> tuple[str, str]: ...


class TraceFanOut:
    """Where each of a run's trace events goes, as it is emitted: the result's trace, the store
    (committed one by one, so a crashed run keeps its trace), then every observer. A transient
    "partial" event goes to the stream's consumer only."""

    def __init__(
        self, store: TraceStore | None, observers: list[Observer], consumer: Observer | None
    ) -> None:
        self.events: list[TraceEvent] = []
        self._store = store
        self._observers = observers
        self._consumer = consumer

    def dispatch(self, event: TraceEvent, ctx: RunContext) -> None:
        if event.status == "partial":  # transient: for the stream's consumer only
            if self._consumer is not None:
                self._consumer(event)
            return
        self.events.append(event)
        if self._store is not None:
            started = time.perf_counter()
            self._store.add_event(event)
            ctx.timings.store_ms += (time.perf_counter() - started) * 1000
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # an observer (a plugin, the UI) must never break the run
                log.exception("trace observer %r failed", observer)


def run_task(
    host: RunHost,
    task: str,
    context: str,
    validate_output: bool,
    image_chunks: list[dict],
    conversation: Conversation | None,
    token: CancelToken | None,
    on_event: Observer | None,
    inputs: dict[str, bytes] | None = None,
    partial: bool = False,
) -> ExecutionResult:
    """Run ``task`` with ``host`` to its result (a stop included); only a bug of ours raises.

    ``inputs`` are this turn's files (a conversation's earlier ones are added here);
    ``on_event`` is a stream's consumer, which also gets the "partial" events when
    ``partial``."""
    started = time.perf_counter()
    inputs = inputs or {}
    if conversation is not None:
        inputs = merge_inputs(conversation.files, inputs)
    run_id = uuid.uuid4().hex
    store = host.store
    observers = [*host.observers, *([on_event] if on_event else [])]
    fan_out = TraceFanOut(store, observers, on_event if partial else None)
    # The run's own token: the caller's cancel and the deadline both set it.
    run_token = CancelToken()
    ctx = RunContext(
        run_id=run_id,
        client=None,
        sandbox_start=None,
        token=run_token,
        emit_event=lambda event: fan_out.dispatch(event, ctx),
        deadline=time.monotonic() + host.run_timeout_s,
        live=partial and on_event is not None,
        input_files=inputs,
    )
    result = ExecutionResult(
        success=False,
        run_id=run_id,
        task=task,
        conversation_id=conversation.id if conversation else None,
    )
    if store is not None:
        store.start_run(
            run_id,
            task,
            conversation_id=result.conversation_id,
            meta={
                "max_iterations": host.max_iterations,
                "use_self_healing": host.use_self_healing,
                "validate_output": validate_output,
                "images": len(image_chunks),
                "files": {name: len(data) for name, data in inputs.items()},
                "sandbox": host._sandbox_label,
                "run_timeout_s": host.run_timeout_s,
                "review": host.review is not None,
            },
        )
    unlink = (token or CancelToken()).subscribe(run_token.cancel)
    deadline = threading.Timer(host.run_timeout_s, run_token.cancel, args=(RUN_DEADLINE,))
    deadline.daemon = True
    with host._lock:
        host._active.add(run_token)
    deadline.start()
    attempts: list[Attempt] = []
    phase = "scout"
    try:
        # Started first: the sandbox comes up while the Scout talks to the model.
        ctx.sandbox_start = host._sandbox_start()
        ctx.client = host._connect()
        request = RunRequest(
            task=task,
            context=context,
            history=conversation.history_text() if conversation else "",
            image_chunks=image_chunks,
            validate_output=validate_output,
        )
        crew = Crew(
            host.scout,
            host.mechanic,
            host.inspector,
            host.max_iterations if host.use_self_healing else 1,
            reviewer=host.review,
            review_timeout_s=host.review_timeout_s,
        )
        for phase in run_phases(ctx, result, attempts, request, crew):  # noqa: B007
            pass  # ``phase`` is read by the except clauses below
    except STOPS as exc:
        record_stop(ctx, result, exc, phase, len(attempts), host.run_timeout_s)
    except BaseException:
        if store is not None:
            store.mark_run(run_id, "error")
        raise
    finally:
        deadline.cancel()
        unlink()
        with host._lock:
            host._active.discard(run_token)
    result.backend, result.backend_reason = host._backend(ctx.sandbox_start)
    finish(ctx, result, attempts, started)
    result.trace = fan_out.events
    if store is not None:
        store.finish_run(result)
    if conversation is not None:
        conversation.files.update(inputs)  # the turn's files stay for later turns
    if conversation is not None and not result.cancelled:
        conversation.add_turn(task, result)
        if store is not None:
            store.save_conversation(conversation)
    return result
