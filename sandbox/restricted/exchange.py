"""One run's round trip with a fork-server of the pool, as the restricted (and jail) host sees it.

Apart from the host side's bookkeeping (work dirs, sessions, files) because this is where every
way a run can fail is turned into a ``RunResult``: a fork-server that stays silent past the
deadline, dies before or after taking the request, or sends a frame that does not check out is
replaced, and the run gets a failure naming what happened -- never an exception for the caller.
A run is retried only when its fork-server died before saying ``accepted`` (nothing ran yet).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from sandbox.contract import Limits, OutputCallback, RunResult, SandboxError, cancelled
from sandbox.restricted.pool import ForkServerPool, LeaseCancelled, PoolClosed, WorkerDied
from sandbox.restricted.replies import MalformedReply, failure, max_reply_bytes, result_from_reply
from sandbox.runtime.protocol import FrameTimeout, ProtocolError
from sandbox.runtime.streaming import OutputRelay

BACKSTOP_S = 3.0  # past the run's timeout, the host stops waiting for a silent fork-server


def run_request(
    code: str, run_dir: str, limits: Limits, session_id: str | None, run_id: str
) -> dict[str, Any]:
    """The ``run`` frame of the fork-server protocol (``sandbox.runtime.forkserver``)."""
    return {
        "op": "run",
        "run": run_id,
        "code": code,
        "workdir": run_dir,
        "session": session_id,
        "limits": {
            "timeout_s": limits.timeout_s,
            "memory_mb": limits.memory_mb,
            "max_output_bytes": limits.max_output_bytes,
            "max_file_bytes": limits.max_file_bytes,
        },
    }


def execute(
    pool: ForkServerPool,
    backend: str,
    code: str,
    run_dir: str,
    limits: Limits,
    *,
    session_id: str | None = None,
    slot_index: int | None = None,
    cancel: threading.Event | None = None,
    on_output: OutputCallback | None = None,
) -> tuple[RunResult, bool]:
    """Run ``code`` in ``run_dir`` on a fork-server of ``pool`` (the one at ``slot_index`` for a
    session): the checked result, and whether the server started the session afresh."""
    run_id = secrets.token_hex(16)  # every reply to this request must carry it back
    request = run_request(code, run_dir, limits, session_id, run_id)
    relay = None
    if on_output is not None:
        request["stream"] = True
        relay = OutputRelay(on_output, run_id, limits.max_output_bytes)
    for attempt in range(2):
        try:
            with pool.lease(slot_index, cancel) as slot:
                try:
                    reply = slot.server.request(
                        request,
                        limits.timeout_s + BACKSTOP_S,
                        max_reply_bytes(limits),
                        cancel,
                        relay,
                    )
                    result = result_from_reply(reply, limits, backend)
                    return result, bool(reply.get("session_new"))
                except FrameTimeout:
                    pool.replace(slot)
                    if cancel is not None and cancel.is_set():
                        return cancelled(backend), False
                    message = f"the code ran longer than {limits.timeout_s:g} s and was stopped"
                    return failure(backend, "limit", "TimeoutError", message, "timeout"), False
                except WorkerDied as exc:
                    pool.replace(slot)
                    if not exc.accepted and attempt == 0:
                        continue  # it died before taking the request: nothing ran yet
                    message = f"the sandbox worker died and was replaced: {exc}"
                    return failure(backend, "crash", "WorkerCrash", message), False
                except (ProtocolError, MalformedReply, OSError) as exc:
                    # The fork-server checks its children's replies: a bad frame from the
                    # server itself means the server is not to be trusted any more.
                    pool.replace(slot)
                    message = f"the sandbox worker misbehaved and was replaced: {exc}"
                    return failure(backend, "crash", "WorkerCrash", message), False
        except LeaseCancelled:
            return cancelled(backend), False
        except PoolClosed:
            raise SandboxError("this sandbox was closed during the run") from None
    raise AssertionError("unreachable")
