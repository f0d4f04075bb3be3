"""Follow-up turns see earlier tasks, code and results; branches see only their own past."""

from __future__ import annotations

import pytest

from executor import TraceStore
from tests.executor.executor_script import last_user_text, new_executor, scripted


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def test_a_follow_up_sees_the_earlier_task_code_and_output(fake_mistral):
    model = scripted(
        fake_mistral,
        "primes = [2, 3, 5, 7]\nprint(primes)",
        "primes = [2, 3, 5, 7]\nprint(sum(primes))",
    )
    with new_executor() as ex:
        conversation = ex.new_conversation()
        first = ex.execute("list the primes below 10", conversation=conversation)
        second = ex.execute("now add them up", conversation=conversation)

    assert first.success and second.success and second.final_output == "17\n"
    assert len(conversation.turns) == 2
    assert [t.run_id for t in conversation.turns] == [first.run_id, second.run_id]
    for kind in ("plan", "code"):
        follow_up = last_user_text(model.seen[kind][1])
        assert "list the primes below 10" in follow_up
        assert "primes = [2, 3, 5, 7]" in follow_up
        assert "[2, 3, 5, 7]" in follow_up.split("Output:")[1]
        assert "now add them up" in follow_up
    assert "Conversation so far" not in last_user_text(model.seen["plan"][0])
    assert second.conversation_id == conversation.id


def test_conversations_persist_and_branch_from_an_earlier_turn(fake_mistral):
    model = scripted(fake_mistral, "print('a')", "print('b')", "print('c')")
    with new_executor() as ex:
        conversation = ex.new_conversation("letters")
        ex.execute("print a", conversation=conversation)
        ex.execute("print b", conversation=conversation)

        loaded = ex.load_conversation(conversation.id)
        assert [t.task for t in loaded.turns] == ["print a", "print b"]
        assert loaded.title == "letters"

        branch = loaded.branch(0)
        assert branch.parent_id == conversation.id and branch.branched_at_turn == 0
        result = ex.execute("print c", conversation=branch)

    assert result.success
    prompt = last_user_text(model.seen["code"][2])
    assert "print a" in prompt and "print b" not in prompt
    assert len(conversation.turns) == 2 and len(branch.turns) == 2
    with TraceStore() as store:
        ids = {c[0] for c in store.list_conversations()}
        assert {conversation.id, branch.id} <= ids
        assert [r.id for r in store.list_runs(conversation_id=branch.id)] == [result.run_id]


def test_branching_past_the_end_is_an_error(fake_mistral):
    with new_executor() as ex:
        conversation = ex.new_conversation()
    with pytest.raises(IndexError):
        conversation.branch(0)
