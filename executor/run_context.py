"""What every phase of one run shares: metered model calls, sandbox runs, events, cancellation.

The phases stay plain classes that know nothing about threads, timing or the store; they call
``ctx.chat`` and ``ctx.run_code`` and ``ctx.emit``. Blocking calls run on a helper thread so a
cancel from another thread (the UI's stop button) or the run's deadline returns at once instead
of after the model or the program finishes; the program itself is killed through the sandbox's
``cancel`` event, and an abandoned model call or tool call is left to end on its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from executor.cancel import CANCELLED, RUN_DEADLINE, Cancelled, CancelToken
from executor.events import PARTIAL, Phase, Status, Step, check_event
from executor.mistral import MalformedReplyError, ServerUnreachableError
from executor.mistral.chat import ChatReply
from executor.mistral.schema import parse_json_text
from executor.prompts import SandboxRules, json_retry
from executor.results import RunUsage, TraceEvent
from executor.sandbox_access import SandboxStart, accepts_cancel, accepts_on_output, sandbox_rules
from sandbox import ErrorInfo, RunResult, Sandbox

log = logging.getLogger(__name__)

__all__ = [
    "CANCELLED",
    "RUN_DEADLINE",
    "CancelToken",
    "Cancelled",
    "JsonReply",
    "RunContext",
    "Timings",
    "salvage_json",
]


@dataclass
class Timings:
    model_ms: float = 0.0
    sandbox_ms: float = 0.0
    preflight_ms: float = 0.0
    store_ms: float = 0.0
    sandbox_start_ms: float = 0.0  # waiting for the sandbox started in the background
    tools_ms: float = 0.0


@dataclass
class RunContext:
    run_id: str
    client: Any  # executor.mistral.MistralClient
    sandbox_start: SandboxStart | None
    token: CancelToken
    emit_event: Callable[[TraceEvent], None]
    deadline: float | None = None  # time.monotonic() when the run must stop
    usage: RunUsage = field(default_factory=RunUsage)
    timings: Timings = field(default_factory=Timings)
    notes: list[str] = field(default_factory=list)
    tool_images: list[bytes] = field(default_factory=list)  # PNGs tools returned
    # Whether anyone watches the run live: the Mechanic then streams its reply and emits
    # "partial" events with the code so far (see ``chat_stream``).
    live: bool = False
    # The user's files (executor.datafiles): in the work dir of every run and session.
    input_files: dict[str, bytes] = field(default_factory=dict)
    input_profiles: list[dict[str, Any]] = field(default_factory=list)
    _file_sessions: set[str] = field(default_factory=set)
    _seq: int = 0
    _rules: SandboxRules | None = None
    # Partial events come from the thread reading a model stream: emitting is serialised, and
    # nothing partial is emitted once the run is cancelled (its closing events come after).
    _emit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sandbox(self) -> Sandbox:
        """The run's sandbox; waits for its background start (a cancel or the deadline ends
        the wait), re-raising a failed start's ``SandboxError``."""
        start = self.sandbox_start
        if start is None:
            raise RuntimeError("this run has no sandbox")
        if not start.done():
            started = time.perf_counter()
            try:
                self.token.call(start.result)
            finally:
                self.timings.sandbox_start_ms += (time.perf_counter() - started) * 1000
        return start.result()

    @property
    def rules(self) -> SandboxRules:
        """What the Mechanic is told about the sandbox, read off the live backend once."""
        if self._rules is None:
            self._rules = sandbox_rules(self.sandbox)
        return self._rules

    def remaining_s(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def emit(
        self,
        phase: Phase,
        step: Step,
        status: Status,
        *,
        attempt: int = 0,
        duration_ms: float = 0.0,
        tokens: int = 0,
        payload: dict[str, Any] | None = None,
        message: str = "",
    ) -> TraceEvent:
        check_event(phase, step, status)  # every event is one executor/events.py defines
        with self._emit_lock:
            self._seq += 1
            event = TraceEvent(
                phase=phase,
                step=step,
                status=status,
                attempt=attempt,
                duration_ms=round(duration_ms, 3),
                tokens=tokens,
                payload=payload or {},
                message=message,
                run_id=self.run_id,
                seq=self._seq,
            )
            self.emit_event(event)
        return event

    def emit_partial(
        self, phase: Phase, step: Step, *, attempt: int, payload: dict[str, Any], message: str = ""
    ) -> bool:
        """A transient "partial" event (output so far of a running step; ``seq`` 0, never
        stored). Returns False, emitting nothing, once the run is cancelled."""
        check_event(phase, step, PARTIAL)
        with self._emit_lock:
            if self.token.cancelled:
                return False
            event = TraceEvent(
                phase=phase,
                step=step,
                status=PARTIAL,
                attempt=attempt,
                payload=payload,
                message=message,
                run_id=self.run_id,
                seq=0,
            )
            self.emit_event(event)
        return True

    def chat(self, phase: str, messages: list[dict[str, Any]], **options: Any) -> tuple[Any, int]:
        """One model call; returns the reply and its token count (already added to the usage)."""
        remaining = self.remaining_s()
        configured = getattr(getattr(self.client, "config", None), "timeout_s", None)
        if remaining is not None and configured is not None and remaining + 1 < configured:
            # The deadline abandons the call anyway; a matching timeout lets its thread end too.
            options.setdefault("timeout_s", max(remaining, 0) + 1)
        started = time.perf_counter()
        try:
            reply = self.token.call(lambda: self.client.chat(messages, **options))
        except MalformedReplyError as exc:
            if getattr(exc, "reply", None) is not None:  # tokens were spent all the same
                self.usage.add(getattr(exc.reply, "usage", None), phase)
            raise
        finally:
            self.timings.model_ms += (time.perf_counter() - started) * 1000
        tokens = self.usage.add(getattr(reply, "usage", None), phase)
        return reply, tokens

    def chat_stream(
        self,
        phase: str,
        messages: list[dict[str, Any]],
        on_text: Callable[[str], None],
        **options: Any,
    ) -> tuple[Any, int]:
        """``chat``, streamed: ``on_text(text_so_far)`` is called (on the reading thread) as the
        reply grows. A stream cut off mid-reply is asked again once, whole, when the client
        retries at all (the text already shown is then replaced by the complete reply)."""
        stream = getattr(self.client, "stream", None)
        if stream is None:  # a client without streaming (a test double, a plugin's client)
            return self.chat(phase, messages, **options)
        remaining = self.remaining_s()
        configured = getattr(getattr(self.client, "config", None), "timeout_s", None)
        if remaining is not None and configured is not None and remaining + 1 < configured:
            options.setdefault("timeout_s", max(remaining, 0) + 1)

        def consume() -> Any:
            parts: list[str] = []
            final = None
            items = stream(messages, **options)
            try:
                for item in items:
                    if self.token.cancelled:
                        return None  # abandoned: closing the stream stops the model's work
                    if isinstance(item, ChatReply):
                        final = item
                    elif getattr(item, "text", ""):
                        parts.append(item.text)
                        on_text("".join(parts))
            finally:
                items.close()
            return final

        started = time.perf_counter()
        try:
            try:
                reply = self.token.call(consume)
            except ServerUnreachableError:
                retries = getattr(getattr(self.client, "config", None), "max_retries", 0)
                if not retries:
                    raise
                log.info("the %s stream was cut off; asking again without streaming", phase)
                reply = self.token.call(lambda: self.client.chat(messages, **options))
            if reply is None:  # the reader saw the cancel before this thread did
                self.token.raise_if_cancelled()
                raise ServerUnreachableError(f"the {phase} stream ended without a reply")
        except MalformedReplyError as exc:
            if getattr(exc, "reply", None) is not None:
                self.usage.add(getattr(exc.reply, "usage", None), phase)
            raise
        finally:
            self.timings.model_ms += (time.perf_counter() - started) * 1000
        tokens = self.usage.add(getattr(reply, "usage", None), phase)
        return reply, tokens

    def chat_json(
        self,
        phase: str,
        messages: list[dict[str, Any]],
        *,
        schema: dict[str, Any],
        schema_name: str,
        field_types: dict[str, type | tuple[type, ...]],
        role: str,
        on_malformed: Callable[[str, int], None] | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> JsonReply:
        """A JSON-schema call that tolerates one malformed reply: a reply that is JSON but breaks
        the schema is salvaged (its correctly typed fields kept), otherwise the model is told
        what was wrong and asked once more. ``value`` is None when both tries failed.

        With ``tools`` the model may call them instead of answering: the reply then comes back
        with ``tool_calls`` (and its assistant ``reply``) for the caller to run and ask again."""
        error = ""
        offered: dict[str, Any] = {}
        if tools:
            offered = {"tools": tools, "tool_choice": tool_choice or "auto"}
        for try_number in (1, 2):
            try:
                reply, tokens = self.chat(
                    phase,
                    messages,
                    role=role,
                    response_schema=schema,
                    schema_name=schema_name,
                    **offered,
                )
            except MalformedReplyError as exc:
                called = list(getattr(getattr(exc, "reply", None), "tool_calls", None) or [])
                if called:
                    usage = getattr(exc.reply, "usage", None)
                    spent = getattr(usage, "total_tokens", 0) or 0
                    return JsonReply(None, tokens=spent, tool_calls=called, reply=exc.reply)
                error = str(exc)
                salvaged = salvage_json(exc, field_types)
                if salvaged is not None:
                    return JsonReply(salvaged, salvaged=True, error=error)
                if on_malformed is not None:
                    on_malformed(error, try_number)
                retry = {"role": "user", "content": json_retry(error)}
                messages = [*messages, retry]
                continue
            if reply.tool_calls:
                return JsonReply(
                    None, tokens=tokens, tool_calls=list(reply.tool_calls), reply=reply
                )
            parsed = reply.parsed if isinstance(reply.parsed, dict) else {}
            return JsonReply(parsed, tokens=tokens, model=reply.model)
        return JsonReply(None, error=error)

    def run_code(
        self,
        code: str,
        *,
        session_id: str | None = None,
        files: dict[str, bytes] | None = None,
        on_output: Callable[[str, str], None] | None = None,
    ) -> RunResult:
        """Run ``code``; a cancel or the deadline kills the program (backends that take
        ``cancel=``) and raises ``Cancelled`` at once. The input files go with every run
        outside a session and with a session's first run (its work dir keeps them).
        ``on_output`` gets what the program prints while it runs (backends that take it)."""
        sandbox = self.sandbox
        options: dict[str, Any] = {"session_id": session_id}
        if files is None and self.input_files and session_id not in self._file_sessions:
            files = self.input_files
            if session_id is not None:
                self._file_sessions.add(session_id)
        if files:
            options["files"] = files
        if accepts_cancel(sandbox):
            options["cancel"] = self.token.event
        if on_output is not None and accepts_on_output(sandbox):
            options["on_output"] = on_output
        started = time.perf_counter()
        try:
            result = self.token.call(
                lambda: sandbox.run(code, **options),
                on_cancel=(lambda: self.close_session(session_id)),
            )
        finally:
            self.timings.sandbox_ms += (time.perf_counter() - started) * 1000
        # A program killed by the cancel comes back as a failed run: the run is over all the same.
        self.token.raise_if_cancelled()
        return result

    def call_tools(self, provider: Any, calls: list[Any]) -> list[Any]:
        """Run one reply's tool calls; a cancel or the deadline abandons them (their threads
        end on their own: the tools' own timeouts bound them)."""
        started = time.perf_counter()
        try:
            return self.token.call(lambda: list(provider.call_many(calls)))
        finally:
            self.timings.tools_ms += (time.perf_counter() - started) * 1000

    def close_session(self, session_id: str | None) -> None:
        """Forget a session; after a cancel, in the background (a backend may wait for the
        abandoned run to stop before it can close the session)."""
        if not session_id:
            return
        if self.token.cancelled:
            threading.Thread(
                target=self._close_session_quietly,
                args=(session_id,),
                name="executor-close-session",
                daemon=True,
            ).start()
            return
        started = time.perf_counter()
        try:
            self._close_session_quietly(session_id)
        finally:
            self.timings.sandbox_ms += (time.perf_counter() - started) * 1000

    def _close_session_quietly(self, session_id: str) -> None:
        sandbox = self.sandbox_start.if_ready() if self.sandbox_start else None
        if sandbox is None:  # never started: no session to forget
            return
        try:
            sandbox.close_session(session_id)
        except Exception:  # best effort: a closed sandbox has no sessions left anyway
            log.debug("closing sandbox session %s failed", session_id, exc_info=True)

    def preflight(self, code: str) -> ErrorInfo | None:
        sandbox = self.sandbox
        started = time.perf_counter()
        try:
            return sandbox.preflight(code)
        finally:
            self.timings.preflight_ms += (time.perf_counter() - started) * 1000


@dataclass
class JsonReply:
    value: dict[str, Any] | None
    salvaged: bool = False
    tokens: int = 0
    model: str = ""
    error: str = ""  # the last malformed reply's problem
    tool_calls: list[Any] = field(default_factory=list)  # the model called tools instead
    reply: Any = None  # the reply that called them


def salvage_json(
    exc: MalformedReplyError, types: dict[str, type | tuple[type, ...]]
) -> dict[str, Any] | None:
    """The usable part of a structured reply that failed validation: a JSON object with at least
    one expected field of the right type (wrongly typed fields are dropped)."""
    reply = getattr(exc, "reply", None)
    try:
        data = parse_json_text(getattr(reply, "content", "") or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kept = {k: v for k, v in data.items() if k not in types or isinstance(v, types[k])}
    return kept if any(k in kept for k in types) else None
