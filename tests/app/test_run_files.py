"""``mistral-executor run`` with data files: --file in, --output-dir out, the task from a file
or stdin (restricted backend, fake Mistral server)."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.executor.executor_script import last_user_text, scripted

runner = CliRunner()
SALES = b"region,sales,units\nnorth,10.5,3\nsouth,7,2\neast,1.5,1\n"
SUMMARY = (
    "import numpy as np\n"
    "data = np.genfromtxt('sales.csv', delimiter=',', names=True, dtype=None, encoding='utf-8')\n"
    "np.savetxt('summary.csv', [[data['sales'].sum(), data['units'].sum()]], delimiter=',', "
    "fmt='%g', header='sales,units', comments='')\n"
    "print('total', data['sales'].sum())\n"
)


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MISTRAL_MAX_RETRIES", "0")


@pytest.fixture
def sales(tmp_path):
    path = tmp_path / "in" / "sales.csv"
    path.parent.mkdir()
    path.write_bytes(SALES)
    return path


def run(*args: str, **options):
    return runner.invoke(cli, list(args), **options)


def test_a_file_goes_in_and_the_summary_comes_out_in_the_output_dir(fake_mistral, sales, tmp_path):
    model = scripted(fake_mistral, SUMMARY)
    out = tmp_path / "out"
    result = run(
        "run",
        "summarise",
        "--sandbox",
        "restricted",
        "--file",
        str(sales),
        "--output-dir",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "total 19.0\n"
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv"]  # the input is not echoed
    assert (out / "summary.csv").read_bytes() == b"sales,units\n19,6\n"
    assert "1 output file(s)" in result.stderr and "summary.csv" in result.stderr
    assert "'sales.csv'" in last_user_text(model.seen["plan"][0])


def test_json_carries_the_outputs_base64_unless_an_output_dir_is_given(
    fake_mistral, sales, tmp_path
):
    scripted(fake_mistral, SUMMARY, SUMMARY)
    result = run("run", "summarise", "-s", "restricted", "--file", str(sales), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert base64.b64decode(data["artifacts"]["summary.csv"]) == b"sales,units\n19,6\n"

    out = tmp_path / "out"
    result = run(
        "run", "summarise", "-s", "restricted", "--file", str(sales), "--json",
        "--output-dir", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["artifacts"] == ["summary.csv"]
    assert all(isinstance(a["files"], list) for a in data["iterations"])
    assert (out / "summary.csv").read_bytes() == b"sales,units\n19,6\n"


def test_output_names_are_sanitised_and_a_planted_symlink_is_not_followed(tmp_path):
    from executor.datafiles import safe_output_name, write_outputs

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.txt").symlink_to(victim)
    written = write_outputs(
        {"../../evil.txt": b"1", "/abs/x.csv": b"2", "report.txt": b"3", "a\0b": b"4"}, out
    )
    assert [p.name for p in written] == ["evil.txt", "abs_x.csv", "report.txt", "a_b"]
    assert all(p.parent == out for p in written)
    assert victim.read_text() == "keep"
    assert not (out / "report.txt").is_symlink() and (out / "report.txt").read_bytes() == b"3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim.txt"]
    assert safe_output_name(".hidden") == "hidden" and safe_output_name("..") == "output"
    assert len(safe_output_name("x" * 400 + ".csv").encode()) <= 200


def test_the_task_can_come_from_a_file_or_stdin(fake_mistral, tmp_path):
    model = scripted(fake_mistral, "print('a')", "print('b')")
    long_task = "Print a. " + "Padding words. " * 70_000  # ~1 MB: more than argv can take
    task_file = tmp_path / "task.txt"
    task_file.write_text(long_task, encoding="utf-8")
    result = run("run", "--task-file", str(task_file), "-s", "restricted", "--no-validate")
    assert result.exit_code == 0, result.stderr
    assert "Padding words." in last_user_text(model.seen["plan"][0])
    assert len(long_task.encode()) > 1_000_000

    result = run("run", "-", "-s", "restricted", "--no-validate", input="print b from stdin")
    assert result.exit_code == 0, result.stderr
    assert "print b from stdin" in last_user_text(model.seen["plan"][1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing the task"),
        (["task", "--task-file", "x.txt"], "not both"),
        (["--task-file", "/nonexistent/task.txt"], "no such task file"),
    ],
)
def test_task_misuse_is_a_clear_error(fake_mistral, args, message):
    result = run("run", *args, "-s", "restricted")
    assert result.exit_code == 2 and message in result.stderr
    assert fake_mistral.chat_requests == []


def test_bad_files_are_refused_before_any_model_call(fake_mistral, sales, tmp_path):
    (tmp_path / "dir.csv").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(sales)
    too_many = []
    for i in range(21):
        path = tmp_path / f"f{i}.csv"
        path.write_bytes(b"a\n1\n")
        too_many += ["--file", str(path)]
    cases = [
        (["--file", str(tmp_path / "dir.csv")], "is a directory"),
        (["--file", str(link)], "is a symlink"),
        (["--file", str(tmp_path / "nope.csv")], "no such file"),
        (["--file", str(sales), "--file", str(sales)], "two input files are named 'sales.csv'"),
        (too_many, "21 files given, more than the limit of 20"),
    ]
    for extra, message in cases:
        result = run("run", "task", "-s", "restricted", *extra)
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr
    assert fake_mistral.chat_requests == []
