"""What every phase of one run shares: metered model calls, sandbox runs, events, cancellation.

The phases stay plain classes that know nothing about threads, timing or the store; they call
``ctx.chat`` and ``ctx.run_code`` and ``ctx.emit``. Blocking calls run on a helper thread so a
cancel from another thread (the UI's stop button) returns at once instead of after the model or
the program finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from executor.mistral import MalformedReplyError
from executor.mistral.schema import parse_json_text
from executor.prompts import SandboxRules, json_retry
from executor.results import RunUsage, TraceEvent
from sandbox import ErrorInfo, RunResult, Sandbox

T = TypeVar("T")
log = logging.getLogger(__name__)


class Cancelled(Exception):
    """The run was cancelled; raised inside the loop, turned into a cancelled result."""


class CancelToken:
    """Set from any thread; wakes every call waiting in ``call``."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[threading.Event] = set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def call(self, fn: Callable[[], T], on_cancel: Callable[[], None] | None = None) -> T:
        """Run ``fn`` on a helper thread; return its value, or raise Cancelled as soon as cancelled.

        A cancelled call's thread is abandoned (daemon); ``on_cancel`` may stop its work early.
        """
        self.raise_if_cancelled()
        wake = threading.Event()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = fn()
            except BaseException as exc:  # re-raised in the caller's thread
                outcome["error"] = exc
            finally:
                wake.set()

        with self._lock:
            self._waiters.add(wake)
        try:
            threading.Thread(target=target, name="executor-call", daemon=True).start()
            wake.wait()
        finally:
            with self._lock:
                self._waiters.discard(wake)
        if "error" in outcome:
            raise outcome["error"]
        if "value" in outcome:
            return outcome["value"]
        if on_cancel is not None:
            on_cancel()
        raise Cancelled()


@dataclass
class Timings:
    model_ms: float = 0.0
    sandbox_ms: float = 0.0
    preflight_ms: float = 0.0
    store_ms: float = 0.0


@dataclass
class RunContext:
    run_id: str
    client: Any  # executor.mistral.MistralClient
    sandbox: Sandbox
    rules: SandboxRules
    token: CancelToken
    emit_event: Callable[[TraceEvent], None]
    usage: RunUsage = field(default_factory=RunUsage)
    timings: Timings = field(default_factory=Timings)
    notes: list[str] = field(default_factory=list)
    tool_images: list[bytes] = field(default_factory=list)  # PNGs tools returned
    _seq: int = 0

    def emit(
        self,
        phase: str,
        step: str,
        status: str,
        *,
        attempt: int = 0,
        duration_ms: float = 0.0,
        tokens: int = 0,
        payload: dict[str, Any] | None = None,
        message: str = "",
    ) -> TraceEvent:
        self._seq += 1
        event = TraceEvent(
            phase=phase,  # type: ignore[arg-type]
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

    def chat(self, phase: str, messages: list[dict[str, Any]], **options: Any) -> tuple[Any, int]:
        """One model call; returns the reply and its token count (already added to the usage)."""
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
    ) -> JsonReply:
        """A JSON-schema call that tolerates one malformed reply: a reply that is JSON but breaks
        the schema is salvaged (its correctly typed fields kept), otherwise the model is told
        what was wrong and asked once more. ``value`` is None when both tries failed."""
        error = ""
        for try_number in (1, 2):
            try:
                reply, tokens = self.chat(
                    phase, messages, role=role, response_schema=schema, schema_name=schema_name
                )
            except MalformedReplyError as exc:
                error = str(exc)
                salvaged = salvage_json(exc, field_types)
                if salvaged is not None:
                    return JsonReply(salvaged, salvaged=True, error=error)
                if on_malformed is not None:
                    on_malformed(error, try_number)
                retry = {"role": "user", "content": json_retry(error)}
                messages = [*messages, retry]
                continue
            parsed = reply.parsed if isinstance(reply.parsed, dict) else {}
            return JsonReply(parsed, tokens=tokens, model=reply.model)
        return JsonReply(None, error=error)

    def run_code(self, code: str, *, session_id: str | None = None) -> RunResult:
        started = time.perf_counter()
        try:
            return self.token.call(
                lambda: self.sandbox.run(code, session_id=session_id),
                on_cancel=(lambda: self.close_session(session_id)),
            )
        finally:
            self.timings.sandbox_ms += (time.perf_counter() - started) * 1000

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
        try:
            self.sandbox.close_session(session_id)
        except Exception:  # best effort: a closed sandbox has no sessions left anyway
            log.debug("closing sandbox session %s failed", session_id, exc_info=True)

    def preflight(self, code: str) -> ErrorInfo | None:
        started = time.perf_counter()
        try:
            return self.sandbox.preflight(code)
        finally:
            self.timings.preflight_ms += (time.perf_counter() - started) * 1000


@dataclass
class JsonReply:
    value: dict[str, Any] | None
    salvaged: bool = False
    tokens: int = 0
    model: str = ""
    error: str = ""  # the last malformed reply's problem


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
