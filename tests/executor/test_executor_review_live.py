"""Live Mechanic code: ``stream(partial=True)`` streams the reply and yields the code so far.

The fake server's stream is held half-way (its per-event pause is replaced by a gate), so the
test sees the partial code *before* the Mechanic's step completes by order, not by a clock.
"""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest

from executor import ReviewDecision, TraceStore
from executor.mechanic import LiveCode
from tests.executor.executor_script import code_reply, kind_of, new_executor, plan
from tests.fake_mistral import reply

GENEROUS_S = 60.0
HOLD = 0.0421  # the event gap that marks the reply whose stream is held
PROGRAM = "\n".join(f"x{i} = {i}" for i in range(12)) + "\nprint(x11)"


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def held_stream(fake, after_events: int) -> threading.Event:
    """Make the fake server stop after ``after_events`` events of a HOLD reply until released."""
    gate = threading.Event()
    sent = {"n": 0}
    original = fake._sleep

    def sleep(seconds: float) -> None:
        if seconds != HOLD:
            original(seconds)
            return
        sent["n"] += 1
        if sent["n"] == after_events:
            gate.wait(GENEROUS_S)

    fake._sleep = sleep
    return gate


def model(request):
    if kind_of(request) == "plan":
        return reply(json=plan())
    if kind_of(request) == "verdict":
        return reply(json={"complete": True, "reason": "ok"})
    return reply(code_reply(PROGRAM), event_gap_s=HOLD)


def test_the_code_arrives_while_the_mechanic_still_writes_it(fake_mistral):
    fake_mistral.on_chat(model)
    gate = held_stream(fake_mistral, after_events=20)
    seen = []
    with new_executor() as ex:
        stream = ex.stream("assign twelve names", partial=True)
        for event in stream:
            seen.append(event)
            code = event.payload.get("code", "") if event.status == "partial" else ""
            if "x1 = 1" in code and not gate.is_set():
                # The stream is held: the Mechanic has not finished, yet its code is here.
                assert "print(x11)" not in code
                assert not [e for e in seen if e.phase == "mechanic" and e.status == "ok"]
                gate.set()
        result = stream.result
    assert gate.is_set(), "no partial code arrived while the stream was held"
    assert result.success and result.final_output == "11\n"
    # (the program's output streams too, as the Inspector's partial events)
    partial = [e for e in seen if e.status == "partial" and e.phase == "mechanic"]
    assert partial and all(e.step == "code" for e in partial)
    assert all(e.seq == 0 and e.attempt == 1 for e in partial)
    done = next(e for e in seen if e.phase == "mechanic" and e.status == "ok")
    assert seen.index(partial[0]) < seen.index(done)
    assert fake_mistral.chat_requests[1].stream  # the Mechanic's request was streamed
    # Transient: not in the result's trace, not stored; the stored events stay numbered 1..n.
    assert not [e for e in result.trace if e.status == "partial"]
    with TraceStore() as store:
        stored = store.get_run(result.run_id).events
    assert not [e for e in stored if e.status == "partial"]
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))


def test_partial_events_are_throttled(fake_mistral):
    fake_mistral.on_chat(model)
    with new_executor() as ex:
        stream = ex.stream("assign twelve names", partial=True)
        events = list(stream)
    partial = [e for e in events if e.status == "partial" and e.phase == "mechanic"]
    # ~60 words streamed (one delta each), 42 ms apart: fewer partial events than deltas.
    assert 1 <= len(partial) < len(code_reply(PROGRAM).split())
    codes = [e.payload["code"] for e in partial]
    assert all(later.startswith(earlier.rstrip("\n")) for earlier, later in pairwise(codes))


def test_without_partial_the_mechanic_is_not_streamed(fake_mistral):
    fake_mistral.on_chat(model)
    with new_executor() as ex:
        events = list(ex.stream("assign twelve names"))
    assert not [e for e in events if e.status == "partial"]
    assert not any(request.stream for request in fake_mistral.chat_requests)


def test_live_code_then_review_then_run(fake_mistral):
    """Both features together: the code streams in, then the run pauses for the reviewer."""
    fake_mistral.on_chat(model)
    order = []

    def reviewer(request):
        order.append("review")
        return ReviewDecision.run()

    with new_executor(review=reviewer) as ex:
        stream = ex.stream("assign twelve names", partial=True)
        for event in stream:
            if event.status == "partial" and "partial" not in order:
                order.append("partial")
        result = stream.result
    assert result.success and order == ["partial", "review"]


class Recorder:
    """A stand-in RunContext that records the partial events a LiveCode sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def emit_partial(self, phase, step, *, attempt, payload, message=""):
        self.sent.append(payload["code"])
        return True


def test_live_code_sends_one_update_per_interval_and_the_latest_after_it():
    ctx = Recorder()
    live = LiveCode(ctx, 1, interval_s=3600)  # nothing is due again within the test
    text = "Here it is.\n\n```python\n"
    live.update(text)  # prose and an empty block: no code yet, nothing sent
    for i in range(100):
        text += f"x{i} = {i}\n"
        live.update(text)
    live.close()
    assert ctx.sent == ["x0 = 0\n"]  # the first, then everything within the interval held back

    ctx = Recorder()
    live = LiveCode(ctx, 1, interval_s=0.05)
    live.update("```python\na = 1\n")
    live.update("```python\na = 1\nb = 2\n")  # too soon: sent when the interval is over
    deadline = threading.Event()
    for _ in range(600):
        if len(ctx.sent) == 2:
            break
        deadline.wait(0.1)
    live.close()
    assert ctx.sent == ["a = 1\n", "a = 1\nb = 2\n"]


def test_a_stream_cut_off_mid_reply_is_asked_again_whole(fake_mistral):
    answers = {"code": 0}

    def cut_once(request):
        if kind_of(request) == "plan":
            return reply(json=plan())
        if kind_of(request) == "verdict":
            return reply(json={"complete": True, "reason": "ok"})
        answers["code"] += 1
        if answers["code"] == 1:
            return reply(code_reply(PROGRAM), drop_after_events=10)
        return reply(code_reply(PROGRAM))

    fake_mistral.on_chat(cut_once)
    with new_executor(max_retries=1) as ex:
        stream = ex.stream("assign twelve names", partial=True)
        list(stream)
        result = stream.result
    assert result.success and result.final_output == "11\n"
    code_requests = fake_mistral.chat_requests[1:3]
    assert [r.stream for r in code_requests] == [True, False]  # streamed, then asked whole
