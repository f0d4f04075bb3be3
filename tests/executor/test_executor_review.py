"""Review before running: ``Executor(review=...)`` against the fake Mistral server.

The reviewer is a plain callable; each test scripts its decisions and checks what ran, what
the trace (and the store) kept, and what the Mechanic was told next.
"""

from __future__ import annotations

import threading

import pytest

from executor import CancelToken, ReviewDecision, ReviewRequest, TraceStore
from executor.review import resolve_review_timeout
from tests.executor.executor_script import last_user_text, new_executor, plan, scripted

GENEROUS_S = 60.0


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S", raising=False)


class Reviewer:
    """Answers with the scripted decisions in order, remembering every request."""

    def __init__(self, *decisions: ReviewDecision) -> None:
        self.decisions = list(decisions)
        self.requests: list[ReviewRequest] = []

    def __call__(self, request: ReviewRequest) -> ReviewDecision:
        self.requests.append(request)
        return self.decisions.pop(0)


def review_events(result):
    return [e for e in result.trace if e.phase == "mechanic" and e.step == "review"]


def test_run_as_written_runs_the_models_code(fake_mistral):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '42' in program_output"]))
    reviewer = Reviewer(ReviewDecision.run())
    with new_executor(review=reviewer) as ex:
        result = ex.execute("six times seven")
    assert result.success and result.final_output == "42\n"
    (request,) = reviewer.requests
    assert request.attempt == 1 and "print(6 * 7)" in request.code
    assert request.task == "six times seven" and request.plan is not None
    assert request.previous_failure is None and request.closed.is_set()
    assert [e.status for e in review_events(result)] == ["started", "ok"]
    assert result.iterations[0].reviewed == "run"


def test_an_edit_runs_the_reviewers_code_and_its_diff_is_stored(fake_mistral):
    scripted(fake_mistral, "print(6 * 7)", plan_=plan(checks=["assert '43' in program_output"]))
    reviewer = Reviewer(ReviewDecision.edit("print(6 * 7 + 1)", note="off by one on purpose"))
    with new_executor(review=reviewer) as ex:
        result = ex.execute("forty-three")
    assert result.success and result.final_output == "43\n"
    assert result.code == "print(6 * 7 + 1)\n" and result.iterations[0].reviewed == "edit"
    (edited,) = [e for e in review_events(result) if e.status == "edited"]
    diff = edited.payload["diff"]
    assert "-print(6 * 7)\n" in diff and "+print(6 * 7 + 1)\n" in diff
    assert edited.payload["original"] == "print(6 * 7)\n"
    assert edited.payload["note"] == "off by one on purpose"
    with TraceStore() as store:
        stored = [e for e in store.get_run(result.run_id).events if e.status == "edited"]
    assert len(stored) == 1 and stored[0].payload["diff"] == diff


def test_an_edit_the_sandbox_refuses_is_repaired_by_the_mechanic(fake_mistral):
    model = scripted(fake_mistral, "print(1)", "print(2)")
    reviewer = Reviewer(ReviewDecision.edit("print(1"), ReviewDecision.run())
    with new_executor(review=reviewer, max_iterations=2) as ex:
        result = ex.execute("print something")
    assert result.success and result.final_output == "2\n" and result.total_attempts == 2
    assert result.iterations[0].failure.kind == "syntax"
    repair = last_user_text(model.seen["code"][1])
    assert "A human reviewer edited the program" in repair


def test_a_rejection_note_reaches_the_next_mechanic_prompt(fake_mistral):
    model = scripted(fake_mistral, "print('hello')", "print('HELLO')")
    note = "Print it in capital letters, please."
    reviewer = Reviewer(ReviewDecision.reject(note), ReviewDecision.run())
    with new_executor(review=reviewer, max_iterations=3) as ex:
        result = ex.execute("greet")
    assert result.success and result.final_output == "HELLO\n"
    assert result.total_attempts == 2  # the rejected attempt counts against the budget
    first = result.iterations[0]
    assert first.reviewed == "reject" and first.failure.kind == "rejected"
    assert first.stdout == "" and not first.passed  # it never ran
    repair = last_user_text(model.seen["code"][1])
    assert note in repair and "rejected" in repair
    second = reviewer.requests[1]
    assert second.previous_failure is not None and second.previous_failure.message == note
    runs = [e for e in result.trace if e.phase == "inspector" and e.step == "run"]
    assert {e.attempt for e in runs} == {2}  # nothing of attempt 1 ran
    heal = [e for e in result.trace if e.phase == "iterate"]
    assert heal[0].status == "retry" and note in heal[0].payload["repair_prompt"]


def test_rejecting_every_attempt_spends_the_budget(fake_mistral):
    scripted(fake_mistral, "print(1)", "print(2)")
    reviewer = Reviewer(ReviewDecision.reject("no"), ReviewDecision.reject("no"))
    with new_executor(review=reviewer, max_iterations=2) as ex:
        result = ex.execute("anything")
    assert not result.success and result.total_attempts == 2
    assert result.stop_reason == "the budget of 2 attempt(s) is spent"
    assert result.final_output == ""


def test_no_decision_in_time_stops_the_run_with_review_timeout(fake_mistral):
    scripted(fake_mistral, "print('never')")
    gave_up = threading.Event()

    def silent(request: ReviewRequest) -> ReviewDecision:
        request.closed.wait(GENEROUS_S)  # a reviewer that blocks can see the executor gave up
        gave_up.set()
        raise RuntimeError("too late")

    with new_executor(review=silent, review_timeout_s=0.5) as ex:
        result = ex.execute("print never")
    assert not result.success and not result.cancelled
    assert result.stop_reason == "review timeout"
    assert any("no review decision within 0.5 s" in error for error in result.errors)
    assert gave_up.wait(GENEROUS_S)
    assert result.iterations[0].reviewed == "timeout" and result.iterations[0].stdout == ""
    assert [e.status for e in review_events(result)] == ["started", "error"]
    assert not [e for e in result.trace if e.phase == "inspector" and e.step == "run"]
    with TraceStore() as store:
        assert store.get_run(result.run_id).summary.status == "failed"


def test_the_review_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S", "12.5")
    assert resolve_review_timeout(None) == 12.5
    assert resolve_review_timeout(3) == 3.0
    monkeypatch.setenv("MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S"):  # SettingsError
        resolve_review_timeout(None)
    with pytest.raises(ValueError, match="review_timeout_s"):
        resolve_review_timeout(0)


def test_cancel_while_paused_ends_the_run_at_once(fake_mistral):
    scripted(fake_mistral, "print('never')")
    token = CancelToken()
    waiting = threading.Event()

    def reviewer(request: ReviewRequest) -> ReviewDecision:
        waiting.set()
        request.closed.wait(GENEROUS_S)
        return ReviewDecision.run()

    threading.Thread(target=lambda: waiting.wait(GENEROUS_S) and token.cancel()).start()
    with new_executor(review=reviewer, review_timeout_s=GENEROUS_S * 2) as ex:
        result = ex.execute("print never", cancel=token)
    assert result.cancelled and result.stop_reason == "cancelled"
    assert not [e for e in result.trace if e.phase == "inspector" and e.step == "run"]
    assert result.trace[-1].phase == "final" and result.trace[-1].status == "cancelled"


def test_the_run_deadline_ends_a_pause(fake_mistral):
    scripted(fake_mistral, "print('never')")

    def reviewer(request: ReviewRequest) -> ReviewDecision:
        request.closed.wait(GENEROUS_S)
        return ReviewDecision.run()

    with new_executor(review=reviewer, review_timeout_s=GENEROUS_S * 2, run_timeout_s=2) as ex:
        result = ex.execute("print never")
    assert result.stop_reason == "run deadline" and not result.cancelled


def test_a_reviewer_that_fails_or_answers_nonsense_stops_the_run(fake_mistral):
    scripted(fake_mistral, "print(1)", "print(2)")

    def broken(request: ReviewRequest) -> ReviewDecision:
        raise KeyError("oops")

    with new_executor(review=broken) as ex:
        result = ex.execute("one")
    assert result.stop_reason == "review error" and "KeyError" in result.errors[-1]
    with new_executor(review=lambda request: "run") as ex:
        result = ex.execute("two")
    assert result.stop_reason == "review error"
    assert "not a ReviewDecision" in result.errors[-1]


def test_decisions_are_validated_when_they_are_made():
    with pytest.raises(ValueError, match="note"):
        ReviewDecision.reject("  ")
    with pytest.raises(ValueError, match="code"):
        ReviewDecision.edit("")
    with pytest.raises(ValueError, match="run, edit, reject"):
        ReviewDecision("approve")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="callable"):
        new_executor(review="yes please")


def test_code_refused_by_the_preflight_is_not_shown_to_the_reviewer(fake_mistral):
    scripted(fake_mistral, "print(1", "print(1)")
    reviewer = Reviewer(ReviewDecision.run())
    with new_executor(review=reviewer, max_iterations=2) as ex:
        result = ex.execute("one")
    assert result.success and [r.attempt for r in reviewer.requests] == [2]


def test_without_a_reviewer_nothing_pauses(fake_mistral):
    scripted(fake_mistral, "print(1)")
    with new_executor() as ex:
        result = ex.execute("one")
    assert result.success and not review_events(result)
