"""Live program output: ``stream(partial=True)`` yields what the program prints while it runs.

Against the fake server and a real restricted sandbox. The program prints, sleeps a few
seconds and prints again: the first line must reach the stream's consumer as a "partial"
inspector event before the inspector's step completes (an order, with seconds of margin).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from executor import TraceStore
from executor.inspector import LiveStdout
from executor.sandbox_access import (
    SandboxStart,
    SharedSandboxView,
    StartingSandbox,
    accepts_on_output,
)
from sandbox import Limits, RunResult, Sandbox, create_sandbox
from tests.executor.executor_script import code_reply, kind_of, new_executor, plan
from tests.fake_mistral import reply

PROGRAM = "import time\nprint('first line')\ntime.sleep(3)\nprint('second line')"


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def slow_box() -> Iterator[Sandbox]:
    """Room for the program's pause (the shared test sandbox stops runs after 1 s)."""
    box = create_sandbox("restricted", limits=Limits(timeout_s=20, memory_mb=256), pool_size=1)
    yield box
    box.close()


def model(request):
    if kind_of(request) == "plan":
        return reply(json=plan())
    if kind_of(request) == "verdict":
        return reply(json={"complete": True, "reason": "ok"})
    return reply(code_reply(PROGRAM))


def test_the_output_arrives_while_the_program_runs(fake_mistral, slow_box):
    fake_mistral.on_chat(model)
    seen = []
    with new_executor(sandbox=slow_box) as ex:
        stream = ex.stream("print two lines", partial=True)
        for event in stream:
            seen.append(event)
        result = stream.result
    assert result.success and result.final_output == "first line\nsecond line\n"
    live = [e for e in seen if e.status == "partial" and e.phase == "inspector"]
    assert live, [(e.phase, e.step, e.status) for e in seen]
    assert all(e.step == "run" and e.attempt == 1 and e.seq == 0 for e in live)
    ran = next(e for e in seen if e.phase == "inspector" and e.step == "run" and e.status == "ok")
    first = next(e for e in live if "first line" in e.payload["stdout"])
    assert seen.index(first) < seen.index(ran)
    # Before the pause ends, the program had printed only its first line.
    assert first.payload["stdout"] == "first line\n"
    assert ran.payload["stdout"] == "first line\nsecond line\n"
    # Transient: not in the result's trace, not stored; the stored events stay numbered 1..n.
    assert not [e for e in result.trace if e.status == "partial"]
    with TraceStore() as store:
        stored = store.get_run(result.run_id).events
    assert not [e for e in stored if e.status == "partial"]
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))


def test_without_partial_no_output_is_streamed(fake_mistral, slow_box):
    fake_mistral.on_chat(model)
    calls = []
    original = slow_box.run

    def spy(code, *, on_output=None, **options):
        calls.append(on_output is not None)
        return original(code, on_output=on_output, **options)

    slow_box.run = spy  # type: ignore[method-assign]
    try:
        with new_executor(sandbox=slow_box) as ex:
            events = list(ex.stream("print two lines"))
    finally:
        del slow_box.run
    assert not [e for e in events if e.status == "partial"]
    assert calls and not any(calls)  # the sandbox was not even asked to stream


class Recorder:
    """A stand-in RunContext that records the partial events a LiveStdout sends."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def emit_partial(self, phase, step, *, attempt, payload, message=""):
        assert (phase, step, attempt) == ("inspector", "run", 3)
        self.sent.append(payload)
        return True


def test_live_stdout_sends_the_text_so_far_once_per_interval_and_the_latest_after_it():
    ctx = Recorder()
    live = LiveStdout(ctx, 3, interval_s=3600)  # nothing is due again within the test
    for i in range(50):
        live.on_output("stdout", f"{i}\n")
    live.close()
    assert ctx.sent == [{"stdout": "0\n"}]  # the first, then everything within the interval held

    ctx = Recorder()
    live = LiveStdout(ctx, 3, interval_s=0.05)
    live.on_output("stdout", "a\n")
    live.on_output("stderr", "careful\n")  # too soon: sent when the interval is over
    live.on_output("stdout", "b\n")
    wait = threading.Event()
    for _ in range(600):
        if len(ctx.sent) == 2:
            break
        wait.wait(0.1)
    live.close()
    live.on_output("stdout", "after the end\n")  # closed: never sent
    wait.wait(0.2)
    assert ctx.sent == [{"stdout": "a\n"}, {"stdout": "a\nb\n", "stderr": "careful\n"}]


class LegacyBackend(Sandbox):
    """A plugin backend written before ``on_output`` (and ``cancel``) existed."""

    name = "legacy"

    def __init__(self) -> None:
        super().__init__(Limits())
        self.calls: list[dict] = []

    def run(self, code, *, files=None, session_id=None, limits=None):
        self.calls.append({"code": code})
        return RunResult(ok=True, stdout="legacy\n")

    def close(self) -> None:
        pass


class LiveBackend(LegacyBackend):
    name = "live"

    def run(self, code, *, files=None, session_id=None, limits=None, cancel=None, on_output=None):
        self.calls.append({"code": code, "on_output": on_output})
        if on_output is not None:
            on_output("stdout", "live\n")
        return RunResult(ok=True, stdout="live\n")


def test_the_shared_view_passes_on_output_only_to_backends_that_take_it():
    seen = []
    legacy = LegacyBackend()
    result = SharedSandboxView(legacy, Limits()).run("x", on_output=lambda s, t: seen.append(t))
    assert result.ok and result.stdout == "legacy\n" and seen == []
    live = LiveBackend()
    view = SharedSandboxView(live, Limits())
    assert view.run("x", on_output=lambda s, t: seen.append(t)).ok
    assert seen == ["live\n"]
    starting = StartingSandbox(lambda: SandboxStart(ready=legacy))
    assert starting.run("x", on_output=lambda s, t: seen.append(t)).stdout == "legacy\n"
    assert accepts_on_output(live) and not accepts_on_output(legacy)
