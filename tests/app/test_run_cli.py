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


class _RecordingExecutor:
    """Stands in for Executor to see what `run` passes it (then stops the command)."""

    seen: dict = {}

    def __init__(self, **kwargs):
        type(self).seen = kwargs
        raise ValueError("recorded")


@pytest.fixture
def recording_executor(monkeypatch):
    import executor

    monkeypatch.setattr(executor, "Executor", _RecordingExecutor)
    monkeypatch.setattr("executor.assembly.Executor", _RecordingExecutor)
    _RecordingExecutor.seen = {}
    return _RecordingExecutor


def test_run_timeout_is_passed_to_the_executor_as_its_run_deadline(recording_executor):
    result = run("run", "anything", "--run-timeout", "7.5")
    assert result.exit_code == 2 and "recorded" in result.stderr
    assert recording_executor.seen["run_timeout_s"] == 7.5


def test_without_run_timeout_the_executors_default_deadline_applies(recording_executor):
    run("run", "anything")
    assert recording_executor.seen.get("run_timeout_s") is None  # the executor's default


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf"])
def test_run_timeout_must_be_positive(recording_executor, value):
    result = run("run", "anything", "--run-timeout", value)
    assert result.exit_code == 2 and "--run-timeout must be a positive" in result.stderr
    assert recording_executor.seen == {}


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


def test_progress_shows_messages_as_text_not_markup():
    import io

    from rich.console import Console

    from app.commands.run_cmd import Progress
    from executor import TraceEvent

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with Progress(console) as progress:
        for status in ("started", "ok"):
            progress.show(
                TraceEvent(phase="scout", step="plan", status=status, message="[/x] [bold]plan")
            )
    assert "[/x] [bold]plan" in out.getvalue()


@pytest.mark.timeout(120)
def test_run_takes_a_120_kb_task(fake_mistral):
    scripted(fake_mistral, "print('done')")
    result = run("run", "a" * 120_000, "--sandbox", "restricted")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "done\n"


# ---------------------------------------------------------------- undecodable bytes on the command line


def test_a_task_that_is_not_utf8_is_refused_with_exit_2(fake_mistral):
    result = run("run", "\udcff\udcfe", "--sandbox", "restricted")
    assert result.exit_code == 2
    assert "the task holds something that is not UTF-8 text (byte 0xff at character 0)" in (
        result.stderr
    )
    assert fake_mistral.chat_requests == []


def test_a_context_that_is_not_utf8_is_refused_with_exit_2(fake_mistral):
    result = run("run", "fine", "--context", "ok \udce9", "--sandbox", "restricted")
    assert result.exit_code == 2 and "--context holds" in result.stderr


def test_real_argv_bytes_never_give_a_traceback(fake_mistral, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MISTRAL_EXECUTOR_HOME": str(tmp_path / "home")}
    launch = [sys.executable, "-c", "from app.cli import main; main()"]
    cases = {
        "task": [b"run", b"\xff\xfe", b"--sandbox", b"restricted"],
        "image": [b"run", b"look", b"--image", os.fsencode(tmp_path) + b"/\xff.png"],
        "show": [b"traces", b"show", b"\xff"],
        "import": [b"traces", b"import", os.fsencode(tmp_path) + b"/\xff.json"],
    }
    for name, args in cases.items():
        done = subprocess.run([*launch, *args], env=env, capture_output=True, timeout=120)
        stderr = done.stderr.decode("utf-8", "replace")
        assert done.returncode in (1, 2), (name, stderr)
        assert "Traceback" not in stderr and stderr.startswith("error: "), (name, stderr)
    assert fake_mistral.chat_requests == []


def test_an_image_whose_name_is_not_utf8_is_read_and_sent(fake_mistral, tmp_path):
    import os

    from PIL import Image

    image = os.fsdecode(os.fsencode(tmp_path) + b"/chart-\xff.png")
    Image.new("RGB", (8, 8), "white").save(image)
    model = scripted(fake_mistral, "print('ok')")
    result = run("run", "describe", "--image", image, "--sandbox", "restricted", "-q")
    assert result.exit_code == 0, result.stderr
    assert len(model.seen["plan"][0].images()) == 1


# ---------------------------------------------------------------- per-role models


def test_run_model_options_choose_each_roles_model(fake_mistral, monkeypatch):
    monkeypatch.setenv("MISTRAL_MODEL_PLANNER", "mistral-large-latest")
    scripted(fake_mistral, "print('ok')")
    result = run(
        "run", "hi", "--sandbox", "restricted", "-q", "--model-coder", "devstral-small-latest"
    )
    assert result.exit_code == 0, result.stderr
    used = {request["model"] for request in fake_mistral.chat_requests}
    # The option chose the coder; the planner still comes from MISTRAL_MODEL_PLANNER.
    assert used == {"devstral-small-latest", "mistral-large-latest"}


def test_run_model_options_reach_the_executor(recording_executor):
    run("run", "x", "--model-planner", "p", "--model-vision", " v ", "--model-ocr", "o")
    assert recording_executor.seen["models"] == {"planner": "p", "vision": "v", "ocr": "o"}
    run("run", "x")
    assert recording_executor.seen["models"] is None


def test_a_missing_model_is_reported_with_the_option_that_fixes_it(fake_mistral):
    scripted(fake_mistral, "print('never run')")
    result = run("run", "hi", "--sandbox", "restricted", "--model-coder", "no-such-coder")
    assert result.exit_code != 0
    assert "--model-coder NAME" in result.stderr and "MISTRAL_MODEL_CODER" in result.stderr
