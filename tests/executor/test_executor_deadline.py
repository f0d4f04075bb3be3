"""Bounded time: model settings from the environment, a deadline per run, and a cancel or a
deadline that ends everything the run started (model call, tool calls, the program)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from executor import CancelToken, FunctionTool, SimpleToolProvider, TraceStore
from executor.sandbox_access import accepts_cancel
from executor.stops import DEFAULT_RUN_TIMEOUT_S, RUN_TIMEOUT_ENV, resolve_run_timeout
from sandbox import ErrorInfo, Limits, RunResult, Sandbox, create_sandbox
from tests.executor.executor_script import code_reply, kind_of, new_executor, plan, scripted
from tests.fake_mistral import reply, tool_call

GENEROUS_S = 30.0  # bounds for "ended at once" on a loaded machine; the deadlines are ~1-2 s
SPIN = "while True:\n    pass"


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(RUN_TIMEOUT_ENV, raising=False)


class KillableSandbox(Sandbox):
    """A backend that takes ``cancel=``: its program "runs" until the event is set, then it is
    killed and the run comes back as the contract says."""

    name = "test-killable"

    def __init__(self) -> None:
        super().__init__(Limits(timeout_s=60))
        self.started = threading.Event()
        self.killed = threading.Event()
        self.cancel_events: list[Any] = []

    def run(self, code, *, files=None, session_id=None, limits=None, cancel=None):
        self.cancel_events.append(cancel)
        if "while True" not in code:
            return RunResult(ok=True, stdout="done\n")
        self.started.set()
        if cancel is not None and cancel.wait(GENEROUS_S):
            self.killed.set()
            return RunResult(
                ok=False,
                error=ErrorInfo(
                    type="Cancelled", message="the run was cancelled", kind="cancelled"
                ),
            )
        return RunResult(ok=False, limit_hit="timeout")

    def close(self) -> None:
        pass


class LegacySandbox(Sandbox):
    """A plugin backend written before ``cancel=``: passing it would be a TypeError."""

    name = "test-legacy"

    def __init__(self) -> None:
        super().__init__(Limits(timeout_s=60))
        self.calls = 0
        self.release = threading.Event()

    def run(self, code, *, files=None, session_id=None, limits=None):
        self.calls += 1
        if "while True" in code:  # runs on to its own limit: nothing can stop it earlier
            self.release.wait(GENEROUS_S)
            return RunResult(ok=False, limit_hit="timeout")
        return RunResult(ok=True, stdout="legacy\n")

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- settings from the environment


def test_model_timeout_and_retries_come_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    monkeypatch.setenv("MISTRAL_TIMEOUT_S", "7.5")
    monkeypatch.setenv("MISTRAL_MAX_RETRIES", "1")
    with new_executor(max_retries=None, store=False) as ex:
        assert (ex.client.config.timeout_s, ex.client.config.max_retries) == (7.5, 1)
    with new_executor(timeout_s=3.0, max_retries=0, store=False) as ex:
        assert (ex.client.config.timeout_s, ex.client.config.max_retries) == (3.0, 0)


def test_the_run_timeout_has_a_default_an_environment_variable_and_checks(monkeypatch):
    assert resolve_run_timeout(None, {}) == DEFAULT_RUN_TIMEOUT_S == 600.0
    assert resolve_run_timeout(None, {RUN_TIMEOUT_ENV: " 45 "}) == 45.0
    assert resolve_run_timeout(12, {RUN_TIMEOUT_ENV: "45"}) == 12.0  # the argument wins
    with pytest.raises(ValueError, match=RUN_TIMEOUT_ENV):
        resolve_run_timeout(None, {RUN_TIMEOUT_ENV: "soon"})
    for bad in (0, -1, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ValueError, match="run_timeout_s"):
            resolve_run_timeout(bad, {})  # type: ignore[arg-type]
    monkeypatch.setenv(RUN_TIMEOUT_ENV, "90")
    with new_executor(store=False) as ex:
        assert ex.run_timeout_s == 90.0
    with pytest.raises(ValueError, match="positive"):
        new_executor(run_timeout_s=0)


# ------------------------------------------------------------------------------ the deadline


def test_a_silent_model_server_ends_the_run_at_its_deadline(fake_mistral):
    """The model never answers: the run stops at its deadline, not after minutes of retries."""
    fake_mistral.on_chat(lambda request: reply(json=plan(), delay_s=GENEROUS_S * 2))
    started = time.monotonic()
    with new_executor(run_timeout_s=1.0, timeout_s=60.0) as ex:
        result = ex.execute("anything")
    elapsed = time.monotonic() - started

    assert elapsed < GENEROUS_S
    assert not result.success and not result.cancelled
    assert result.stop_reason == "run deadline"
    assert "the run passed its deadline of 1 s" in result.errors
    deadline = [e for e in result.trace if e.step == "deadline"]
    assert [e.phase for e in deadline] == ["scout"] and deadline[0].status == "error"
    assert result.trace[-1].phase == "final" and result.trace[-1].payload["stop_reason"] == (
        "run deadline"
    )
    with TraceStore() as store:
        assert store.get_run(result.run_id).summary.status == "failed"
    # The abandoned call was given a timeout to match: its thread ends too, long before the
    # 60 s the client would otherwise wait (times its retries).
    limit = time.monotonic() + GENEROUS_S
    while any(t.name == "executor-call" for t in threading.enumerate()):
        assert time.monotonic() < limit, "the abandoned model call is still running"
        time.sleep(0.1)


def test_the_deadline_kills_the_program_and_keeps_the_attempt(fake_mistral):
    box = KillableSandbox()
    scripted(fake_mistral, SPIN)
    started = time.monotonic()
    with new_executor(sandbox=box, run_timeout_s=1.5) as ex:
        result = ex.execute("spin")
    assert time.monotonic() - started < GENEROUS_S
    assert result.stop_reason == "run deadline" and not result.cancelled
    assert box.killed.wait(GENEROUS_S), "the program was not killed"
    assert isinstance(box.cancel_events[0], threading.Event)
    assert result.total_attempts == 1 and "while True" in result.code
    assert [e.phase for e in result.trace if e.step == "deadline"] == ["inspector"]


def test_cancel_kills_the_program_through_the_sandbox(fake_mistral):
    """Issue 10 point 7, the executor's side: Executor.cancel() reaches the sandbox run."""
    box = KillableSandbox()
    scripted(fake_mistral, SPIN)
    ex = new_executor(sandbox=box)
    threading.Thread(target=lambda: box.started.wait(GENEROUS_S) and ex.cancel()).start()
    with ex:
        result = ex.execute("spin")
    assert result.cancelled and result.stop_reason == "cancelled"
    assert box.killed.wait(GENEROUS_S)


def test_a_stream_cancel_kills_the_program_and_the_sandbox_runs_again(fake_mistral):
    box = KillableSandbox()
    scripted(fake_mistral, SPIN, "print('done')")
    token = CancelToken()
    with new_executor(sandbox=box) as ex:
        stream = ex.stream("spin", cancel=token)
        for event in stream:
            if event.phase == "inspector" and event.step == "run" and event.status == "started":
                stream.cancel()
        assert stream.result.cancelled and box.killed.wait(GENEROUS_S)
        again = ex.execute("print done", validate_output=False)
    assert again.success and again.final_output == "done\n"
    assert token.cancelled  # the caller's token says so too


def test_a_backend_without_cancel_still_runs_and_still_stops_at_the_deadline(fake_mistral):
    legacy = LegacySandbox()
    assert not accepts_cancel(legacy) and accepts_cancel(KillableSandbox())
    scripted(fake_mistral, "print('legacy')", SPIN)
    try:
        with new_executor(sandbox=legacy, run_timeout_s=1.5) as ex:
            result = ex.execute("print legacy", validate_output=False)
            assert result.success and result.final_output == "legacy\n" and legacy.calls == 1
            started = time.monotonic()
            stuck = ex.execute("spin", validate_output=False)
            assert time.monotonic() - started < GENEROUS_S
    finally:
        legacy.release.set()
    assert stuck.stop_reason == "run deadline" and legacy.calls == 2


def test_the_deadline_abandons_a_tool_call_that_hangs(fake_mistral):
    release = threading.Event()

    def slow_lookup() -> str:
        release.wait(GENEROUS_S)
        return "late"

    provider = SimpleToolProvider(
        [FunctionTool("lookup", "Look it up.", {"type": "object", "properties": {}}, slow_lookup)]
    )
    model = scripted(fake_mistral, "print(1)")
    model.tools.append(reply(tool_calls=[tool_call("lookup", {})]))
    started = time.monotonic()
    try:
        with new_executor(tool_provider=provider, run_timeout_s=1.0) as ex:
            result = ex.execute("look it up")
    finally:
        release.set()
    assert time.monotonic() - started < GENEROUS_S
    assert result.stop_reason == "run deadline"
    assert model.seen["code"] == []  # nothing was asked after the deadline


def test_the_real_restricted_backend_stops_a_program_that_never_ends(fake_mistral):
    """The restricted backend with a program that never ends, stopped by the run deadline.

    With a backend that takes ``cancel=`` (the sandbox contract of issue 10), the program is
    killed at once and its run comes back cancelled; a backend without it lets the program run
    to its own wall limit. Either way the run ends at its deadline and the sandbox then runs
    the next program normally."""
    fake_mistral.on_chat(
        lambda request: (
            reply(json=plan()) if kind_of(request) == "plan" else reply(code_reply(SPIN))
        )
    )
    with create_sandbox("restricted", limits=Limits(timeout_s=8)) as inner:
        seen: list[tuple[RunResult, float]] = []

        class Recording(Sandbox):
            """Passes ``cancel`` through when the backend takes it; records what came back."""

            name = "restricted"
            allowed_imports = getattr(inner, "allowed_imports", None)

            def run(self, code, *, files=None, session_id=None, limits=None, cancel=None):
                extra = {"cancel": cancel} if accepts_cancel(inner) and cancel else {}
                result = inner.run(code, files=files, session_id=session_id, **extra)
                seen.append((result, time.monotonic()))
                return result

            def preflight(self, code):
                return inner.preflight(code)

            def close_session(self, session_id):
                inner.close_session(session_id)

            def close(self):
                pass

        started = time.monotonic()
        with new_executor(sandbox=Recording(inner.limits), run_timeout_s=2.0) as ex:
            result = ex.execute("spin")
            stopped = time.monotonic()
            assert result.stop_reason == "run deadline"
            assert stopped - started < GENEROUS_S
            limit = time.monotonic() + GENEROUS_S
            while not seen:
                assert time.monotonic() < limit, "the program's run never came back"
                time.sleep(0.1)
            killed, came_back = seen[0]
            if accepts_cancel(inner):
                assert killed.error is not None and killed.error.kind == "cancelled", killed
                assert came_back - stopped < 8  # well before the program's own 8 s wall limit
            else:
                assert killed.limit_hit == "timeout"  # it ran on to its own wall limit
            after = inner.run("print(6 * 7)")
        assert after.ok and after.stdout == "42\n"
