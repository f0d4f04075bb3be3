"""``mistral-executor run``, ``traces`` and ``bench humaneval`` end to end on the fake server."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from app.cli import cli
from executor.humaneval import load_problems
from tests.executor.executor_script import ScriptedModel, code_reply, last_user_text, plan, scripted

runner = CliRunner()


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MISTRAL_MAX_RETRIES", "0")


def run(*args: str):
    return runner.invoke(cli, list(args))


def test_run_prints_the_program_output_on_stdout_and_progress_on_stderr(fake_mistral):
    scripted(
        fake_mistral, "print(sum(range(11)))", plan_=plan(checks=["assert '55' in program_output"])
    )
    result = run("run", "sum 0..10", "--sandbox", "restricted")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "55\n"
    for phase in ("scout", "mechanic", "inspector", "final"):
        assert phase in result.stderr


def test_run_json_prints_the_whole_result_with_phased_trace(fake_mistral):
    scripted(fake_mistral, "print(1 / 0)", "print(0)")
    result = run("run", "zero", "--sandbox", "restricted", "--json", "--max-iterations", "2")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["success"] and data["final_output"] == "0\n" and data["total_attempts"] == 2
    assert data["sandbox"] == {"backend": "restricted", "reason": "asked for by name"}
    phases = [event["phase"] for event in data["trace"]]
    assert {"scout", "mechanic", "inspector", "iterate", "final"} <= set(phases)
    assert data["iterations"][0]["failure"]["kind"] == "runtime"
    assert data["run_id"]


def test_run_exits_non_zero_when_the_task_fails(fake_mistral):
    scripted(fake_mistral, "print(1 / 0)")
    result = run("run", "divide", "--sandbox", "restricted", "--max-iterations", "1")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in result.stderr


def test_run_with_an_image_sends_it_to_the_vision_model(fake_mistral, tmp_path):
    from PIL import Image

    image = tmp_path / "chart.png"
    Image.new("RGB", (8, 8), "white").save(image)
    model = scripted(fake_mistral, "print('ok')")
    result = run("run", "describe", "--image", str(image), "--sandbox", "restricted", "-q")
    assert result.exit_code == 0, result.stderr
    assert len(model.seen["plan"][0].images()) == 1


def test_run_refuses_a_missing_image(fake_mistral, tmp_path):
    result = run("run", "describe", "--image", str(tmp_path / "missing.png"))
    assert result.exit_code == 2 and "no such image" in result.stderr
    assert fake_mistral.chat_requests == []


def test_traces_list_show_export_import(fake_mistral, tmp_path):
    scripted(fake_mistral, "print('traced')")
    first = run("run", "trace me", "--sandbox", "restricted", "--json", "-q")
    run_id = json.loads(first.stdout)["run_id"]

    listing = run("traces", "list", "--json")
    assert listing.exit_code == 0 and json.loads(listing.stdout)[0]["id"] == run_id

    shown = run("traces", "show", run_id[:10])
    assert shown.exit_code == 0 and "trace me" in shown.stdout and "inspector" in shown.stdout
    shown_json = json.loads(run("traces", "show", run_id, "--json").stdout)
    assert shown_json["events"][-1]["phase"] == "final"

    exported = tmp_path / "run.json"
    assert run("traces", "export", run_id, "-o", str(exported)).exit_code == 0
    other_db = tmp_path / "other.db"
    imported = run("traces", "import", str(exported), "--db", str(other_db))
    assert imported.exit_code == 0 and imported.stdout.strip() == run_id
    again = run("traces", "export", run_id, "--db", str(other_db))
    assert json.loads(again.stdout) == json.loads(exported.read_text())

    assert run("traces", "show", "does-not-exist").exit_code == 1


@pytest.fixture
def humaneval_file(tmp_path):
    problems = load_problems(limit=3)
    path = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for problem in problems:
            out.write(json.dumps(vars(problem)) + "\n")
    return path, problems


def canonical_model(problems, *, broken: bool = False) -> ScriptedModel:
    """A model that answers each problem with its canonical solution (or a wrong one)."""

    def code(request):
        text = last_user_text(request)
        problem = next(p for p in problems if p.prompt in text)
        body = "    return None\n" if broken else problem.canonical_solution
        return code_reply(problem.prompt + body)

    model = ScriptedModel()
    model.codes.extend([code] * 20)
    return model


def test_bench_humaneval_with_and_without_healing(fake_mistral, humaneval_file):
    path, problems = humaneval_file
    canonical_model(problems).install(fake_mistral)
    result = run("bench", "humaneval", "--limit", "2", "--data", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    summaries = {s["mode"]: s for s in report["summaries"]}
    assert set(summaries) == {"heal", "no-heal"}
    for summary in summaries.values():
        assert summary["problems"] == 2 and summary["pass_at_1"] == 1.0
    rows = report["results"]
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1"] * 2
    assert all(r["tokens"] > 0 and r["duration_ms"] > 0 for r in rows)


def test_bench_humaneval_grades_with_the_hidden_tests(fake_mistral, humaneval_file):
    path, problems = humaneval_file
    canonical_model(problems, broken=True).install(fake_mistral)
    result = run("bench", "humaneval", "--limit", "1", "--no-heal", "--data", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [s["mode"] for s in report["summaries"]] == ["no-heal"]
    assert report["summaries"][0]["pass_at_1"] == 0.0
    assert report["results"][0]["error"]
    # The hidden tests never reached the model.
    hidden = problems[0].test.strip().splitlines()[-1]
    assert all(hidden not in r.body.decode() for r in fake_mistral.chat_requests)
