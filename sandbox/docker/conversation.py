"""One run's request/reply conversation with a container's runner, as the Docker host sees it.

Apart from the backend's pools and sessions because this is where the container's answers are
judged: the run's deadline (which starts only when the runner says ``accepted``, and grows once
while it finishes its warm-up), a ``cancel`` sent on the caller's behalf, live ``output`` frames,
and every way a runner can fail -- silent past the deadline (the host kills the container
itself), gone before it took the request (``NotAccepted``: the run may go to another container),
out of memory, or with a reply that is not this run's or does not check out. A container that
fails once is marked broken and never trusted again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sandbox.contract import Limits, RunResult, cancelled
from sandbox.docker import errors
from sandbox.docker.channel import ChannelClosed, ChannelTimeout
from sandbox.docker.containers import RunnerContainer
from sandbox.docker.replies import failure, limit_result, result_from_reply
from sandbox.runtime.protocol import ProtocolError
from sandbox.runtime.replies import InvalidReply
from sandbox.runtime.streaming import OutputRelay, relay_output
from sandbox.runtime.warmup import BEFORE_ACCEPT_S, WARMUP_ALLOWANCE_S

CANCEL_POLL_S = 0.05  # how often a waiting run looks at its cancel event
CANCEL_GRACE_S = 0.7  # a runner that has not answered a cancel by then loses its container


class NotAccepted(ConnectionError):
    """The container went away before its runner took the request."""


def converse(
    container: RunnerContainer,
    request: dict[str, Any],
    limits: Limits,
    *,
    reply_grace_s: float,
    backend: str,
    cancel: threading.Event | None = None,
    relay: OutputRelay | None = None,
) -> tuple[RunResult, bool]:
    """One request/reply with a container's runner; a container that fails it is marked broken.

    Raises ``NotAccepted`` when the container died before taking the request: the run never
    started, so the caller may give it to a fresh container. Every reply must carry the
    request's nonce (``run``): a reply for another run breaks the container, never passes.
    Also says whether the runner started the session afresh (``session_new``). ``output``
    frames before the result go to ``relay``; a bad one (or one nobody asked for) breaks
    the container like any bad reply.
    """
    # Until the runner takes the request it may be finishing one import of its warm-up
    # (sandbox.runtime.warmup); the run's own clock starts when it says ``accepted``.
    deadline = time.monotonic() + limits.timeout_s + reply_grace_s + BEFORE_ACCEPT_S
    run_id = request["run"]
    accepted = cancel_sent = warming = False
    with container.lock:
        try:
            container.send(request)
            while True:
                step = deadline
                if cancel is not None and not cancel_sent:
                    step = min(deadline, time.monotonic() + CANCEL_POLL_S)
                try:
                    reply = container.receive(step)
                except ChannelTimeout:
                    if time.monotonic() >= deadline or cancel is None or cancel_sent:
                        raise
                    if cancel.is_set():
                        cancel_sent = True
                        container.send({"op": "cancel", "run": run_id})
                        deadline = min(deadline, time.monotonic() + CANCEL_GRACE_S)
                    continue
                if reply.get("run") != run_id:
                    container.broken = True
                    message = (
                        "the sandbox container's reply does not belong to this run (late "
                        "or forged); the container was removed"
                    )
                    if "run" not in reply:
                        message += (
                            f". Its runner may predate replies bound to runs: rebuild the "
                            f"image with `{errors.BUILD_COMMAND}`"
                        )
                    return failure("internal", "InvalidReply", message), False
                if reply.get("op") == "output":
                    problem = relay_output(relay, reply)
                    if problem is None:
                        continue
                    container.broken = True
                    message = (
                        f"the sandbox container sent a bad output frame ({problem}); it was removed"
                    )
                    return failure("internal", "InvalidReply", message), False
                if reply.get("op") == "warming" and accepted and not warming:
                    # The runner finishes importing the data stack this code needs (it
                    # served at once; sandbox.runtime.warmup) before the run's clock starts.
                    warming = True
                    deadline += WARMUP_ALLOWANCE_S
                    continue
                if reply.get("op") != "accepted" or accepted:
                    break
                accepted = True
                if not cancel_sent:
                    deadline = time.monotonic() + limits.timeout_s + reply_grace_s
        except ChannelTimeout:
            container.kill()  # our own wall clock: the runner itself did not stop the run
            if cancel is not None and cancel.is_set():
                return cancelled(backend), False
            return limit_result(
                "timeout",
                "TimeoutError",
                f"the code ran longer than {limits.timeout_s:g} s; its container did not "
                "answer and was killed",
            ), False
        except (ChannelClosed, ProtocolError, OSError) as exc:
            container.broken = True
            if not accepted and isinstance(exc, ChannelClosed | OSError):
                raise NotAccepted(str(exc)) from None
            if container.oom_killed():
                return limit_result(
                    "memory",
                    "MemoryError",
                    f"the container ran out of its {limits.memory_mb} MB of memory",
                ), False
            return failure("crash", "SandboxCrash", f"the sandbox container died: {exc}"), False
    if reply.get("op") != "result" or not isinstance(reply.get("result"), dict):
        container.broken = True  # a runner that misbehaves once is not trusted again
        message = str(reply.get("message") or f"unexpected reply {str(reply)[:200]}")
        return failure("internal", "SandboxError", message), False
    try:
        result = result_from_reply(reply["result"], limits)
        return result, reply.get("session_new") is True
    except InvalidReply as exc:
        container.broken = True
        message = f"the sandbox container sent an invalid reply ({exc}); it was removed"
        return failure("internal", "InvalidReply", message), False
