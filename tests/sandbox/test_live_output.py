"""Live output: ``Sandbox.run(on_output=...)`` hands the program's output over while it runs.

Every backend. What is promised: chunks arrive before the run returns (a program that prints,
sleeps and prints again gives two separate chunks, the first long before the end); the chunks
add up to the result's output, which is exactly what it is without ``on_output``; the output
cap holds; a callback that raises does not break the run; hostile code that forges frames or
scribbles over the shared output ends at most its own run. Timing assertions are ordering with
wide margins (a 2 s sleep between prints, half of it asked for), never tight bounds.
"""

from __future__ import annotations

import dataclasses
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox import Limits, Sandbox, create_sandbox
from sandbox.restricted import RestrictedSandbox
from sandbox.restricted.pool import ForkServerProcess
from sandbox.runtime.protocol import ProtocolError
from sandbox.runtime.replies import InvalidReply
from sandbox.runtime.streaming import (
    FRAME_DATA_BYTES,
    OutputRelay,
    check_output_frame,
    relay_output,
)
from tests.sandbox.conftest import backend_params, describe, require_backend

STANDIN = "tests.sandbox.standin_policy"
HOSTILE_IMPORTS = ["os", "gc", "json", "struct", "sys", "time"]
LIMITS = Limits(timeout_s=15, memory_mb=256, max_output_bytes=20_000)
PAUSE_S = 2.0  # between the two prints of PRINT_SLEEP_PRINT
EARLY_MARGIN_S = 1.0  # the first chunk comes at least this long before the run returns


@pytest.fixture(scope="module", params=backend_params())
def box(request: pytest.FixtureRequest, host_secret: str) -> Iterator[Sandbox]:
    require_backend(request.param)
    if request.param == "restricted":
        # The stand-in policy compiles plain Python: what a full policy escape would give.
        sandbox: Sandbox = RestrictedSandbox(
            limits=LIMITS, pool_size=1, policy_module=STANDIN, allowed_imports=HOSTILE_IMPORTS
        )
    else:
        sandbox = create_sandbox(request.param, limits=LIMITS, pool_size=1)
    yield sandbox
    sandbox.close()


class Recorder:
    """An ``on_output`` callback that notes when each chunk came."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, str, str]] = []
        self.thread_ids: set[int] = set()

    def __call__(self, stream: str, text: str) -> None:
        self.chunks.append((time.monotonic(), stream, text))
        self.thread_ids.add(threading.get_ident())

    def text(self, stream: str = "stdout") -> str:
        return "".join(text for _, name, text in self.chunks if name == stream)

    def first_with(self, needle: str) -> float:
        for when, _name, text in self.chunks:
            if needle in text:
                return when
        raise AssertionError(f"no chunk held {needle!r}: {self.chunks!r}")


PRINT_SLEEP_PRINT = f"""
import sys, time
print("first line")
print("a warning", file=sys.stderr)
time.sleep({PAUSE_S})
print("second line")
"""


def test_output_arrives_while_the_program_runs(box):
    recorder = Recorder()
    result = box.run(PRINT_SLEEP_PRINT, on_output=recorder)
    returned = time.monotonic()
    assert result.ok, describe(result)
    assert result.stdout == "first line\nsecond line\n", describe(result)
    first, second = recorder.first_with("first line"), recorder.first_with("second line")
    assert first < second, recorder.chunks
    assert returned - first >= EARLY_MARGIN_S, (returned - first, recorder.chunks)
    stdout_chunks = [c for c in recorder.chunks if c[1] == "stdout"]
    assert len(stdout_chunks) >= 2, recorder.chunks
    # The chunks add up to the result's output, and come on the caller's own thread.
    assert recorder.text("stdout") == result.stdout
    assert recorder.text("stderr") == result.stderr == "a warning\n"
    assert recorder.thread_ids == {threading.get_ident()}


def test_the_result_is_the_same_with_or_without_on_output(box):
    code = "import sys\nfor i in range(50):\n    print(i, 'é€', i * i)\nprint('done', file=sys.stderr)\n"
    plain = box.run(code)
    live = box.run(code, on_output=Recorder())
    assert plain.ok and live.ok, (describe(plain), describe(live))
    assert (live.stdout, live.stderr, live.error, live.limit_hit) == (
        plain.stdout,
        plain.stderr,
        plain.error,
        plain.limit_hit,
    )


def test_the_output_cap_holds_with_on_output(box):
    recorder = Recorder()
    small = dataclasses.replace(box.limits, max_output_bytes=1000)
    result = box.run("while True:\n    print('x' * 100)\n", limits=small, on_output=recorder)
    assert result.limit_hit == "output", describe(result)
    assert len(result.stdout.encode()) <= 1000, describe(result)
    streamed = recorder.text("stdout")
    assert len(streamed.encode()) <= 1000
    assert streamed == result.stdout


def test_a_raising_callback_does_not_break_the_run(box):
    calls = []

    def broken(stream: str, text: str) -> None:
        calls.append(text)
        raise RuntimeError("the caller's own bug")

    result = box.run(PRINT_SLEEP_PRINT, on_output=broken)
    assert result.ok and result.stdout == "first line\nsecond line\n", describe(result)
    assert len(calls) == 1, calls  # logged once, then no longer called
    after = box.run("print('next')", on_output=Recorder())
    assert after.ok and after.stdout == "next\n", describe(after)


def test_a_session_run_streams_only_its_own_output(box):
    """A session's process keeps its output memory between runs: the live reader must not
    take the previous run's lengths for this run's output."""
    try:
        first = box.run("print('old ' * 2000)", session_id="live")
        assert first.ok, describe(first)
        recorder = Recorder()
        second = box.run(
            "import time\ntime.sleep(0.5)\nprint('new')\n", session_id="live", on_output=recorder
        )
        assert second.ok and second.stdout == "new\n", describe(second)
        assert recorder.text("stdout") == "new\n", recorder.chunks
    finally:
        box.close_session("live")


def test_output_so_far_arrives_before_a_cancel(box):
    cancel = threading.Event()
    recorder = Recorder()

    def on_output(stream: str, text: str) -> None:
        recorder(stream, text)
        if "started" in recorder.text():
            cancel.set()

    code = "import time\nprint('started')\nwhile True:\n    time.sleep(0.05)\n"
    result = box.run(code, cancel=cancel, on_output=on_output)
    assert result.error is not None and result.error.kind == "cancelled", describe(result)
    assert "started" in recorder.text()


# --------------------------------------------------------------------------- hostile code

FORGED_OUTPUT_FRAME = """
import json, os
payload = json.dumps({"op": "output", "run": "0" * 32, "stream": "stdout",
                      "data": "forged"}).encode()
frame = str(len(payload)).encode() + b"\\n" + payload
for fd in range(3, 64):
    try:
        os.write(fd, frame)
    except OSError:
        pass
print("forged")
"""

SCRIBBLED_LENGTHS = """
import struct, sys, time
shared = sys.stdout.owner  # the shared output's writer (plain CPython, or a policy escape)
struct.pack_into("<QQ", shared.map, 0, 2**64 - 1, 2**63)
time.sleep(0.5)
struct.pack_into("<QQ", shared.map, 0, 3, 0)
time.sleep(0.5)
print("after")
"""


def test_a_forged_output_frame_ends_only_its_own_run(box):
    victim = box.run("secret = 4242", session_id="victim")
    assert victim.ok, describe(victim)
    recorder = Recorder()
    result = box.run(textwrap.dedent(FORGED_OUTPUT_FRAME), on_output=recorder)
    assert not result.ok and result.error is not None, describe(result)
    assert result.error.kind == "internal", describe(result)
    for stream in ("stdout", "stderr"):
        assert len(recorder.text(stream).encode()) <= box.limits.max_output_bytes
    after = box.run("print(secret)", session_id="victim", on_output=Recorder())
    assert after.ok and after.stdout == "4242\n", describe(after)
    box.close_session("victim")


def test_scribbled_output_lengths_stay_within_the_cap(box):
    """Code that writes nonsense lengths into its shared output streams no more than its cap
    and never breaks the sandbox; the result is read from the memory as always."""
    recorder = Recorder()
    small = dataclasses.replace(box.limits, max_output_bytes=4096)
    result = box.run(textwrap.dedent(SCRIBBLED_LENGTHS), limits=small, on_output=recorder)
    assert result.ok, describe(result)
    assert result.stdout == "after\n", describe(result)
    for stream in ("stdout", "stderr"):
        assert len(recorder.text(stream).encode()) <= 4096
    again = box.run("print('fine')", on_output=Recorder())
    assert again.ok and again.stdout == "fine\n", describe(again)


# --------------------------------------------------------------- the host's checks, unit


def test_the_host_checks_every_output_frame():
    good = {"op": "output", "run": "r1", "stream": "stdout", "data": "hi"}
    assert check_output_frame(good, "r1") == ("stdout", "hi")
    for bad in (
        {**good, "run": "r2"},
        {**good, "stream": "stdin"},
        {**good, "data": 5},
        {**good, "data": "x" * (FRAME_DATA_BYTES + 1)},
        {**good, "data": "€" * (FRAME_DATA_BYTES // 3 + 1)},
    ):
        with pytest.raises(InvalidReply):
            check_output_frame(bad, "r1")
    relay = OutputRelay(Recorder(), "r1", max_bytes=10)
    relay.handle({**good, "data": "0123456789"})
    with pytest.raises(InvalidReply, match="output cap"):
        relay.handle({**good, "data": "!"})


FAKE_SERVER = """
import json, os, sys
def send(message):
    data = json.dumps(message).encode()
    os.write(1, str(len(data)).encode() + b"\\n" + data)
send({"op": "ready", "isolation": {}})
header = sys.stdin.buffer.readline()
request = json.loads(sys.stdin.buffer.read(int(header)))
send({"op": "accepted", "run": request["run"]})
send(json.loads(sys.argv[1]) | {"run": request["run"]} if sys.argv[2] == "bound" else
     json.loads(sys.argv[1]))
sys.stdin.buffer.read()
"""


@pytest.mark.parametrize(
    ("frame", "bound", "asked", "cause"),
    [
        ({"op": "output", "stream": "stdout", "data": "x"}, "unbound", True, "belong"),
        ({"op": "output", "stream": "stdout", "data": "x"}, "bound", False, "nobody asked"),
        ({"op": "output", "stream": "secret", "data": "x"}, "bound", True, "unknown stream"),
        ({"op": "output", "stream": "stdout", "data": "x" * 70000}, "bound", True, "more than"),
    ],
    ids=["forged-run", "unasked", "bad-stream", "oversized"],
)
def test_a_fork_server_that_sends_a_bad_output_frame_is_refused(frame, bound, asked, cause):
    """The restricted and jail hosts stop trusting a fork-server that streams a bad frame (the
    backend then replaces it: only that run ends)."""
    import json
    import sys

    server = ForkServerProcess(
        [sys.executable, "-c", FAKE_SERVER, json.dumps(frame), bound], {"PATH": "/usr/bin"}
    )
    try:
        server.wait_ready(30)
        relay = OutputRelay(Recorder(), "run-1", max_bytes=100_000) if asked else None
        request = {"op": "run", "run": "run-1", "stream": asked}
        with pytest.raises(ProtocolError, match=cause):
            server.request(request, 30, 1 << 20, None, relay)
    finally:
        server.kill()


def test_relay_output_names_what_is_wrong_with_a_frame():
    """The check both hosts apply (docker marks the container broken on a problem)."""
    relay = OutputRelay(Recorder(), "run-1", max_bytes=100)
    good = {"op": "output", "run": "run-1", "stream": "stdout", "data": "ok"}
    assert relay_output(relay, good) is None
    assert "unknown stream" in (relay_output(relay, {**good, "stream": "x"}) or "")
    assert "nobody asked" in (relay_output(None, good) or "")


# ------------------------------------------------------------------------------ the CLI


def test_exec_prints_the_output_while_the_program_runs(tmp_path):
    """``mistral-executor exec`` (not --json) echoes each line as it comes: its first line is
    on our pipe while the program still sleeps, and the whole output is there once, in order."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.requirements import unavailable
    from tests.sandbox.conftest import REPO_ROOT

    script = Path(sys.executable).parent / "mistral-executor"
    if not script.exists():
        unavailable(f"the console script at {script} (scripts/bootstrap.sh installs it)")
    program = tmp_path / "slow.py"
    program.write_text("import time\nprint('first line')\ntime.sleep(4)\nprint('second line')\n")
    process = subprocess.Popen(
        [str(script), "exec", str(program), "--backend", "restricted", "--timeout", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        still_running = process.poll() is None
        rest = process.stdout.read()
        process.wait(120)
    finally:
        process.kill()
        process.wait()
    assert first == "first line\n"
    assert still_running, "the first line came only when the program had ended"
    assert rest == "second line\n"
    assert process.returncode == 0
