"""The sandbox starts in the background while the Scout talks to the model; a start that fails
is a clear result, and an executor closed mid-start leaves nothing running."""

from __future__ import annotations

import threading
import time

import pytest

from sandbox import BackendSpec, Limits, RunResult, Sandbox, SandboxError, register_backend
from tests.executor.executor_script import kind_of, new_executor, plan, scripted
from tests.fake_mistral import reply

GENEROUS_S = 30.0


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


class SlowStart(Sandbox):
    """A backend whose start waits until it is told to finish (a warm pool coming up)."""

    name = "test-slow-start"
    may_finish = threading.Event()
    made: list[SlowStart] = []
    failing = False

    def __init__(self, limits=None, **options):
        super().__init__(limits)
        if SlowStart.failing:
            raise SandboxError("the test backend cannot start")
        self.overlapped = SlowStart.may_finish.wait(GENEROUS_S)
        self.closed = False
        SlowStart.made.append(self)

    def run(self, code, *, files=None, session_id=None, limits=None, cancel=None):
        return RunResult(ok=True, stdout="ran\n")

    def close(self):
        self.closed = True


@pytest.fixture
def slow_backend():
    SlowStart.may_finish = threading.Event()
    SlowStart.made = []
    SlowStart.failing = False
    register_backend(BackendSpec(SlowStart.name, SlowStart))
    return SlowStart


def test_the_scout_plans_while_the_sandbox_starts(fake_mistral, slow_backend):
    """The plan call reaches the model before the sandbox has started: the start finishes only
    when the fake model is asked for the plan (a start that blocked the run would wait out
    the whole bound and report it)."""

    def model(request):
        if kind_of(request) == "plan":
            slow_backend.may_finish.set()  # the sandbox may finish starting now
            return reply(json=plan())
        return reply("```python\nprint('ran')\n```")

    fake_mistral.on_chat(model)
    with new_executor(sandbox=slow_backend.name, limits=Limits(timeout_s=3)) as ex:
        result = ex.execute("run it", validate_output=False)
        (box,) = slow_backend.made
        assert ex.sandbox is box
    assert result.success and result.final_output == "ran\n"
    assert box.overlapped, "the sandbox start waited for nothing: the plan came after it"
    assert result.backend == slow_backend.name
    assert box.closed  # the executor owned it


def test_a_sandbox_that_cannot_start_is_a_clear_result_and_is_tried_again(
    fake_mistral, slow_backend
):
    slow_backend.may_finish.set()
    slow_backend.failing = True
    scripted(fake_mistral, "print('ran')", "print('ran')")
    with new_executor(sandbox=slow_backend.name) as ex:
        failed = ex.execute("run it", validate_output=False)
        assert not failed.success and failed.stop_reason == "sandbox error"
        assert "the test backend cannot start" in failed.errors[-1]
        assert failed.trace[-2].step == "sandbox_error"
        slow_backend.failing = False  # e.g. the Docker engine came back
        again = ex.execute("run it", validate_output=False)
    assert again.success and len(slow_backend.made) == 1


def test_closing_an_executor_mid_start_closes_the_sandbox_when_it_arrives(slow_backend):
    ex = new_executor(sandbox=slow_backend.name)
    threading.Timer(0.5, slow_backend.may_finish.set).start()
    ex.close()
    (box,) = slow_backend.made
    assert box.closed


def test_a_plain_question_does_not_wait_for_the_sandbox(fake_mistral, slow_backend):
    scripted(fake_mistral, plan_=plan(needs_code=False, answer="Paris."))
    started = time.monotonic()
    with new_executor(sandbox=slow_backend.name) as ex:
        result = ex.execute("What is the capital of France?")
        answered = time.monotonic() - started
        slow_backend.may_finish.set()
    assert result.success and result.final_output == "Paris."
    assert answered < GENEROUS_S
    # Answered while the sandbox was still starting (it may finish only after the answer).
    assert [box.overlapped for box in slow_backend.made] == [True]


EXIT_MID_START = """
import sys, time
from pathlib import Path
from sandbox import BackendSpec, RunResult, Sandbox, register_backend
from executor import Executor

marker = Path(sys.argv[1])

class Slow(Sandbox):
    name = "test-slow-exit"
    def __init__(self, limits=None, **options):
        super().__init__(limits)
        time.sleep(1.0)
    def run(self, code, **options):
        return RunResult(ok=True)
    def close(self):
        marker.write_text("closed")

register_backend(BackendSpec(Slow.name, Slow))
Executor(sandbox=Slow.name, store=False, share_sandbox=sys.argv[2] == "shared")
sys.exit(0)  # exits while the sandbox is still starting, without closing the executor
"""


@pytest.mark.parametrize("how", ["shared", "owned"])
def test_a_process_that_exits_mid_start_still_closes_the_sandbox(tmp_path, how):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "exit_mid_start.py"
    script.write_text(EXIT_MID_START)
    marker = tmp_path / "closed"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), str(marker), how],
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert marker.read_text() == "closed"
