"""The Executor: Scout -> (Mechanic -> Inspector -> Iterate)* -> result, with a live trace.

The loop owns the run's lifecycle -- trace events to the store and observers as they happen,
cancellation, the model and sandbox errors that end a run -- while each phase module owns its
own judgement. Every failure mode ends in an ``ExecutionResult`` (never an exception) except a
bug of ours, which is re-raised after the run is marked as errored in the store.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from executor import iterate
from executor.conversation import Conversation
from executor.final import finish
from executor.inspector import Inspector
from executor.mechanic import Mechanic, MechanicBrief
from executor.mistral import MistralClient, MistralError, image_chunk
from executor.plugin_tools import build_tool_registry, resolve_plugins
from executor.prompts import repair_prompt
from executor.results import Attempt, ExecutionResult, TraceEvent
from executor.run_context import Cancelled, CancelToken, RunContext
from executor.sandbox_access import close_quietly, sandbox_rules, shared_sandbox
from executor.scout import Scout
from executor.stream import RunStream
from executor.tools_seam import ToolProvider
from executor.trace_store import TraceStore
from sandbox import Limits, Sandbox, SandboxError, create_sandbox

log = logging.getLogger(__name__)

Observer = Callable[[TraceEvent], None]
ImageInput = bytes | str | Path


class ConfigurationError(Exception):
    """The executor's settings cannot work (reported in the result, not raised)."""


class Executor:
    """Plans, writes, runs, checks and heals code for a task.

    ``sandbox`` is a backend name (``"auto"``, ``"restricted"``, ``"docker"``, a plugin's) or a
    ready ``Sandbox``; a named one is created on first use, reused across runs, and closed by
    ``close()``. ``store`` is a ``TraceStore``, a path, True for the default store under
    ``MISTRAL_EXECUTOR_HOME``, or False for no persistence. ``share_sandbox`` takes a named
    backend from a process-wide cache (see ``shared_sandbox``) instead of starting a new one.
    ``plugins=True`` offers the loaded plugins' tools to the Scout and their trace observers the
    events (a ``plugins.Plugins`` object selects a specific set); off by default, so a library
    call makes exactly the model calls it asks for.
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
        timeout_s: float = 60.0,
        max_retries: int = 3,
        client: MistralClient | None = None,
        share_sandbox: bool = False,
        plugins: Any = False,
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
        self.max_iterations = max_iterations
        self.use_self_healing = use_self_healing
        self.limits = limits
        self.observers: list[Observer] = list(observers)
        self._plugins = resolve_plugins(plugins)
        if self._plugins is not None:
            self.observers.append(self._plugins.emit)
        self._api_key = api_key
        self._server_url = server_url
        self._models = models
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._client = client
        self._sandbox_spec = sandbox
        self._share_sandbox = share_sandbox
        self._sandbox: Sandbox | None = sandbox if isinstance(sandbox, Sandbox) else None
        self._store_spec = store
        self._store: TraceStore | None = store if isinstance(store, TraceStore) else None
        self._owned: list[Any] = []
        self._lock = threading.Lock()
        self._active: set[CancelToken] = set()
        self.scout = Scout(tool_provider)
        self.mechanic = Mechanic()
        self.inspector = Inspector()
        self._finalizer = weakref.finalize(self, close_quietly, self._owned)

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
    ) -> ExecutionResult:
        """Run the whole loop for ``task`` and return its result (failures included)."""
        chunks = self._prepare(task, language, images)
        return self._run(task, context, validate_output, chunks, conversation, cancel, None)

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
    ) -> RunStream:
        """Iterate over the run's trace events as they happen; ``.result`` once it is over."""
        chunks = self._prepare(task, language, images)
        token = cancel or CancelToken()

        def start(on_event: Observer) -> ExecutionResult:
            return self._run(task, context, validate_output, chunks, conversation, token, on_event)

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

    @property
    def sandbox(self) -> Sandbox:
        with self._lock:
            if self._sandbox is None:
                name = str(self._sandbox_spec)
                if self._share_sandbox:
                    self._sandbox = shared_sandbox(name, self.limits)
                else:
                    self._sandbox = create_sandbox(name, limits=self.limits)
                    self._owned.append(self._sandbox)
            return self._sandbox

    def close(self) -> None:
        self.cancel()
        self._finalizer()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the run

    def _offer_plugin_tools(self) -> None:
        """Bind the plugins' tools to this executor's client and sandbox, once, on first run."""
        if self._plugins is None or self.scout.tool_provider is not None:
            return
        try:
            sandbox = self.sandbox
        except SandboxError:
            return  # the run itself reports the sandbox failure
        self.scout.tool_provider = build_tool_registry(
            self._plugins, self.client, sandbox, self._effective_key()
        )

    def _effective_key(self) -> str | None:
        return self._api_key or os.environ.get("MISTRAL_API_KEY") or None

    def _prepare(self, task: str, language: str, images: Sequence[ImageInput]) -> list[dict]:
        """Reject what can never run before a run starts (bad arguments are the caller's bug)."""
        if not task or not task.strip():
            raise ValueError("the task is empty")
        if language.lower() not in ("python", "py"):
            raise ValueError(f"only Python is supported, not {language!r}")
        return [image_chunk(image) for image in images]

    def _run(
        self,
        task: str,
        context: str,
        validate_output: bool,
        image_chunks: list[dict],
        conversation: Conversation | None,
        token: CancelToken | None,
        on_event: Observer | None,
    ) -> ExecutionResult:
        started = time.perf_counter()
        token = token or CancelToken()
        run_id = uuid.uuid4().hex
        self._offer_plugin_tools()
        store = self.store
        observers = [*self.observers, *([on_event] if on_event else [])]
        events: list[TraceEvent] = []
        ctx = RunContext(
            run_id=run_id,
            client=None,
            sandbox=None,  # type: ignore[arg-type]
            rules=None,  # type: ignore[arg-type]
            token=token,
            emit_event=lambda event: self._dispatch(event, events, store, observers, ctx),
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
                    "max_iterations": self.max_iterations,
                    "use_self_healing": self.use_self_healing,
                    "validate_output": validate_output,
                    "images": len(image_chunks),
                    "sandbox": str(getattr(self._sandbox_spec, "name", self._sandbox_spec)),
                },
            )
        with self._lock:
            self._active.add(token)
        attempts: list[Attempt] = []
        phase = "scout"
        try:
            try:
                ctx.client = self.client
            except (ValueError, TypeError) as exc:  # a bad server URL, models mapping...
                raise ConfigurationError(f"the Mistral client cannot be set up: {exc}") from exc
            ctx.sandbox = self.sandbox
            ctx.rules = sandbox_rules(ctx.sandbox)
            result.backend = ctx.sandbox.name
            history = conversation.history_text() if conversation else ""
            for phase in self._phases(  # noqa: B007 - read by the except clauses below
                ctx, result, attempts, task, context, history, image_chunks, validate_output
            ):
                pass
        except Cancelled:
            result.cancelled = True
            result.stop_reason = "cancelled"
            result.errors.append("the run was cancelled")
            ctx.emit(phase, "cancelled", "cancelled", attempt=len(attempts), message="cancelled")
        except MistralError as exc:
            result.stop_reason = "model error"
            result.errors.append(f"model error during {phase}: {exc}")
            ctx.emit(
                phase,
                "model_error",
                "error",
                attempt=len(attempts),
                payload={"error": str(exc), "type": type(exc).__name__},
                message=str(exc),
            )
        except ConfigurationError as exc:
            result.stop_reason = "configuration error"
            result.errors.append(str(exc))
            ctx.emit(phase, "config_error", "error", payload={"error": str(exc)}, message=str(exc))
        except SandboxError as exc:
            result.stop_reason = "sandbox error"
            result.errors.append(f"sandbox error: {exc}")
            ctx.emit(phase, "sandbox_error", "error", payload={"error": str(exc)}, message=str(exc))
        except BaseException:
            if store is not None:
                store.mark_run(run_id, "error")
            raise
        finally:
            with self._lock:
                self._active.discard(token)
        finish(ctx, result, attempts, started)
        result.trace = events
        if store is not None:
            store.finish_run(result)
        if conversation is not None and not result.cancelled:
            conversation.add_turn(task, result)
            if store is not None:
                store.save_conversation(conversation)
        return result

    def _phases(
        self,
        ctx: RunContext,
        result: ExecutionResult,
        attempts: list[Attempt],
        task: str,
        context: str,
        history: str,
        image_chunks: list[dict],
        validate_output: bool,
    ):
        """The loop proper; yields the name of the phase it enters (for error attribution)."""
        yield "scout"
        ctx.emit("scout", "plan", "started", message="planning")
        report = self.scout.run(
            ctx, task, context=context, history=history, image_chunks=image_chunks
        )
        plan = result.plan = report.plan
        if not plan.needs_code:
            result.success = True
            result.final_output = plan.answer
            result.stop_reason = "answered without code"
            return
        brief = MechanicBrief(
            task=task,
            plan=plan,
            context=context,
            history=history,
            tool_context=report.tool_context,
        )
        budget = self.max_iterations if self.use_self_healing else 1
        previous: Attempt | None = None
        for number in range(1, budget + 1):
            yield "mechanic"
            attempt_started = time.perf_counter()
            earlier = [iterate.failure_line(a) for a in attempts[:-1] if a.failure]
            attempt = self.mechanic.write(ctx, brief, number, previous, earlier)
            attempts.append(attempt)
            duplicate = iterate.repeated_code(attempts[:-1], attempt.code) if attempt.code else None
            if duplicate is not None:
                _copy_outcome(duplicate, attempt)
                ctx.emit(
                    "inspector",
                    "run",
                    "skipped",
                    attempt=number,
                    message=f"same code as attempt {duplicate.number}; not run again",
                )
            elif attempt.code and attempt.preflight_error is None:
                yield "inspector"
                self.inspector.inspect(
                    ctx, attempt, task=task, plan=plan, validate_output=validate_output
                )
            attempt.failure = duplicate.failure if duplicate else iterate.classify(attempt)
            attempt.duration_ms = (time.perf_counter() - attempt_started) * 1000
            failure = attempt.failure
            ctx.emit(
                "inspector",
                "result",
                "passed" if failure is None else "failed",
                attempt=number,
                duration_ms=attempt.duration_ms,
                payload={"failure": vars(failure) if failure else None},
                message="accepted" if failure is None else f"{failure.kind}: {failure.message}",
            )
            if failure is None:
                result.success = True
                result.stop_reason = "accepted"
                return
            yield "iterate"
            decision = iterate.decide(attempts, budget)
            if duplicate is not None:
                decision = iterate.Decision(False, "the model returned the same code again")
            payload: dict[str, Any] = {"failure": vars(failure), "reason": decision.reason}
            if decision.retry:
                payload["repair_prompt"] = repair_prompt(
                    attempt, ctx.rules, [iterate.failure_line(a) for a in attempts[:-1]]
                )
            ctx.emit(
                "iterate",
                "heal",
                "retry" if decision.retry else "stop",
                attempt=number,
                payload=payload,
                message=decision.reason,
            )
            if not decision.retry:
                result.stop_reason = decision.reason
                return
            previous = attempt

    def _dispatch(
        self,
        event: TraceEvent,
        events: list[TraceEvent],
        store: TraceStore | None,
        observers: list[Observer],
        ctx: RunContext,
    ) -> None:
        events.append(event)
        if store is not None:
            started = time.perf_counter()
            store.add_event(event)
            ctx.timings.store_ms += (time.perf_counter() - started) * 1000
        for observer in observers:
            try:
                observer(event)
            except Exception:  # an observer (a plugin, the UI) must never break the run
                log.exception("trace observer %r failed", observer)


def _copy_outcome(source: Attempt, target: Attempt) -> None:
    for name in ("stdout", "stderr", "error", "limit_hit", "checks", "verdict", "images", "files"):
        setattr(target, name, getattr(source, name))


def autonomous_execute(task: str, **options: Any) -> ExecutionResult:
    """One-shot: build an Executor from ``options``, run ``task``, release everything."""
    run_keys = ("context", "language", "validate_output", "images", "conversation", "cancel")
    run_options = {key: options.pop(key) for key in run_keys if key in options}
    with Executor(**options) as executor:
        return executor.execute(task, **run_options)
