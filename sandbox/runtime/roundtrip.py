"""One run's round trip on the fork-server: from the host's ``run`` request to its one ``result``.

The run's child is sent a request carrying a nonce of the server's own, its output is pumped to
the host as it comes (when asked), the host may cancel meanwhile, and its reply is awaited and
checked; whatever happens -- a limit, a death, silence past the deadline, a reply that is
malformed, forged or followed by more bytes -- becomes one result frame bound to the host's nonce,
and a child that misbehaved is never used again. Kept apart from the server loop
(``forkserver.py``: requests, children, warm-up) as the part where a run's outcome is decided.

``RoundTrip`` is mixed into ``ForkServer``, whose state it works on; the Docker runner's
subclass catches the result frame by swapping ``reply_fd`` (output frames go straight to the host
through ``output_reply_fd``). Standard library only, like the rest of the runtime.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

from sandbox.runtime.child import MAX_IMAGE_CHARS, read_shared_output, size_shared_output
from sandbox.runtime.output import clear_shared_output
from sandbox.runtime.protocol import FrameReader, ProtocolError, write_frame
from sandbox.runtime.replies import InvalidReply, check_bound, check_result
from sandbox.runtime.serverconfig import ServerConfig
from sandbox.runtime.streaming import STREAM_INTERVAL_S, OutputPump
from sandbox.runtime.supervise import Child, death, failure, invalid_reply
from sandbox.runtime.warmup import Warmup

# A child's reply holds no output (that is in shared memory): capped images, a capped error.
MAX_CHILD_REPLY_BYTES = MAX_IMAGE_CHARS + 8 * 1024 * 1024


class RoundTrip:
    """The ``run`` op of a fork-server; the loop, its children and the warm-up are
    ``ForkServer``'s (which sets every attribute below)."""

    config: ServerConfig
    warmup: Warmup
    requests: FrameReader
    reply_fd: int
    output_reply_fd: int
    sessions: dict[str, Child]
    retired: list[Child]
    pending: list[dict[str, Any]]

    def _take_spare(self) -> Child:
        raise NotImplementedError  # the loop's: a warm child forked ahead

    def _finish_warmup(self) -> None:
        raise NotImplementedError  # the loop's: the warm-up's remaining imports, now

    def _run(self, request: dict[str, Any]) -> None:
        # Tells the host the request arrived: if we die before this, it may safely retry.
        run_id = request.get("run")
        write_frame(self.reply_fd, {"op": "accepted", "run": run_id})
        session = request.get("session")
        session = session if isinstance(session, str) else None
        limits = request["limits"]
        # The child answers with this nonce: a frame it wrote for another run (or before it was
        # asked) can never pass for this run's reply. Never the host's nonce, which the child
        # must not learn.
        nonce = os.urandom(16).hex()
        child_request = {**request, "run": nonce}
        child = self.sessions.get(session) if session else None
        session_new = session is not None and child is None
        if child is None and self.warmup.needed_by(request.get("code")):
            # The code imports what the warm-up imports: a warm child, not a cold one that
            # imports it all itself. The host's deadline allows for the wait.
            write_frame(self.output_reply_fd, {"op": "warming", "run": run_id})
            self._finish_warmup()
        for _attempt in range(2):
            if child is None:
                child = self._take_spare()
                child.session = session
            if self._send(child, child_request):
                break
            child.discard()  # died while idle (killed from outside): use a fresh one
            session_new = session is not None
            child = None
        else:
            result = failure("internal", "WorkerError", "could not start a child process")
            result["stdout"] = result["stderr"] = ""
            self._reply(run_id, result, False)
            return
        if session:
            self.sessions[session] = child
        pump = self._pump(child, run_id, limits) if request.get("stream") is True else None
        result, alive = self._await(child, limits, nonce, run_id, pump)
        if alive and session:
            if not child.pause():
                alive = False
            elif child.has_unread_bytes():
                child.kill()
                alive = False
                result = failure(
                    "internal",
                    "WorkerError",
                    "the run's process wrote more after its reply (a forged or late reply); "
                    "it was stopped and the session's state is lost",
                )
        if pump is not None:
            pump.flush()  # the rest, before the result: the chunks add up to its output
        result = self._with_output(result, child)
        self._reply(run_id, result, session_new)
        if not (alive and session):
            if session:
                self.sessions.pop(session, None)
            if self.config.reap_in_background:
                child.retire()
                self.retired.append(child)
            else:
                child.discard()

    def _reply(self, run_id: Any, result: dict[str, Any], session_new: bool) -> None:
        frame = {"op": "result", "run": run_id, "result": result, "session_new": session_new}
        write_frame(self.reply_fd, frame)

    def _pump(self, child: Child, run_id: Any, limits: dict[str, Any]) -> OutputPump:
        def send(stream: str, data: str) -> None:
            frame = {"op": "output", "run": run_id, "stream": stream, "data": data}
            try:
                write_frame(self.output_reply_fd, frame)
            except OSError:
                pass  # the host went away: the run's end notices

        return OutputPump(child.output_fd, send, int(limits["max_output_bytes"]))

    def _send(self, child: Child, request: dict[str, Any]) -> bool:
        try:
            if not child.output_sized:  # a session keeps its first run's output cap
                size_shared_output(child.output_fd, int(request["limits"]["max_output_bytes"]))
                child.output_sized = True
            elif request.get("stream") is True:  # a stopped session child: its last run's
                clear_shared_output(child.output_fd)  # lengths must not stream as this run's
            write_frame(child.request_fd, request)
        except (BrokenPipeError, OSError):
            return False
        child.resume()
        return True

    def _await(
        self,
        child: Child,
        limits: dict[str, Any],
        nonce: str,
        run_id: Any,
        pump: OutputPump | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """The child's checked result, or what its death, silence, bad reply or cancellation
        means; and whether the child still lives. Meanwhile the host may send ``cancel``, and
        with a ``pump`` what the child prints goes to the host as it comes."""
        timeout = float(limits["timeout_s"])
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(child.reader.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        poller.register(self.requests.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            try:
                frame = child.reader.take(MAX_CHILD_REPLY_BYTES)
            except ProtocolError as exc:
                child.kill()
                return invalid_reply(str(exc)), False
            if frame is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                child.kill()
                message = f"the code ran longer than {timeout:g} s and was stopped"
                return failure("limit", "TimeoutError", message, limit="timeout"), False
            wait = remaining
            if pump is not None:
                pump.tick()
                wait = min(wait, STREAM_INTERVAL_S)
            for fd, _event in poller.poll(int(wait * 1000) + 1):
                if fd == child.reader.fd:
                    if child.reader.feed():
                        continue
                    if child.reader.buffered:
                        child.kill()
                        return invalid_reply("the stream ended inside a frame"), False
                    status, usage = child.reap()
                    return death(status, usage, child, limits), False
                if self._host_cancels(run_id, poller):
                    child.kill()
                    return failure("cancelled", "Cancelled", "the run was cancelled"), False
        try:
            check_bound(frame, nonce)
            result = check_result(frame)
        except InvalidReply as exc:
            child.kill()
            return invalid_reply(str(exc)), False
        return result, True

    def _host_cancels(self, run_id: Any, poller: select.poll) -> bool:
        """Read what the host sent during a run: True for a ``cancel`` of this run. A host that
        went away also ends the run (there is nobody left to answer)."""
        if not self.requests.feed():
            poller.unregister(self.requests.fd)
            return True
        while (frame := self.requests.take()) is not None:
            if frame.get("op") == "cancel":
                if frame.get("run") == run_id:
                    return True
            else:
                self.pending.append(frame)
        return False

    def _with_output(self, result: dict[str, Any], child: Child) -> dict[str, Any]:
        result["stdout"], result["stderr"] = read_shared_output(child.output_fd)
        return result
