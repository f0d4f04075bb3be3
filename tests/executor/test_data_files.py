"""The user's files through the whole loop (restricted backend: numpy and json only).

The fake Mistral server plays the model; the files are really placed in the sandbox's work dir,
profiled there, and what the program writes comes back as artifacts.
"""

from __future__ import annotations

import pytest

from executor import autonomous_execute
from executor.datafiles import DataFileError
from tests.executor.executor_script import last_user_text, new_executor, plan, scripted

SALES = b"region,sales,units\nnorth,10.5,3\nsouth,7,2\neast,1.5,1\n"


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def columns_program(column: str) -> str:
    return (
        "import numpy as np\n"
        "data = np.genfromtxt('sales.csv', delimiter=',', names=True, dtype=None, "
        "encoding='utf-8')\n"
        "columns = {name: data[name] for name in data.dtype.names}\n"
        f"print(float(columns[{column!r}].sum()))\n"
    )


def profile_events(result):
    return [e for e in result.trace if e.phase == "scout" and e.step == "profile"]


def test_the_profile_reaches_the_plan_and_the_code_prompts_and_the_trace(fake_mistral):
    model = scripted(fake_mistral, columns_program("sales"))
    with new_executor() as ex:
        result = ex.execute("total sales", files={"sales.csv": SALES})

    assert result.success and result.final_output == "19.0\n"
    for kind in ("plan", "code"):
        prompt = last_user_text(model.seen[kind][0])
        assert "'sales.csv'" in prompt
        assert "region (str), sales (float), units (int)" in prompt
        assert "rows: 3" in prompt and "north | 10.5 | 3" in prompt
    started, done = profile_events(result)
    assert started.status == "started" and done.status == "ok"
    (profile,) = done.payload["files"]
    assert profile["columns"] == ["region", "sales", "units"] and profile["rows"] == 3
    # Profiling happens before planning.
    steps = [(e.phase, e.step) for e in result.trace]
    assert steps.index(("scout", "profile")) < steps.index(("scout", "plan"))
    assert result.artifacts == {}  # the input is not echoed back as an output


def test_a_wrong_column_name_heals_with_the_real_columns_in_the_repair_prompt(fake_mistral):
    model = scripted(fake_mistral, columns_program("revenue"), columns_program("sales"))
    with new_executor() as ex:
        result = ex.execute("total revenue", files={"sales.csv": SALES})

    assert result.success and result.final_output == "19.0\n"
    first = result.iterations[0]
    assert first.failure.kind == "runtime" and "KeyError" in first.failure.message
    repair = last_user_text(model.seen["code"][1])
    assert "KeyError" in repair and "'revenue'" in repair
    assert "actual columns" in repair
    assert "sales.csv: 'region', 'sales', 'units'" in repair
    (heal,) = [e for e in result.trace if e.phase == "iterate"]
    assert "sales.csv: 'region', 'sales', 'units'" in heal.payload["repair_prompt"]


def test_a_written_summary_comes_back_as_an_artifact(fake_mistral, tmp_path):
    source = tmp_path / "sales.csv"
    source.write_bytes(SALES)
    program = (
        "import numpy as np\n"
        "data = np.genfromtxt('sales.csv', delimiter=',', names=True, dtype=None, "
        "encoding='utf-8')\n"
        "np.savetxt('summary.csv', [[data['sales'].sum(), data['units'].sum()]], "
        "delimiter=',', fmt='%g', header='sales,units', comments='')\n"
        "print('written')\n"
    )
    scripted(fake_mistral, program)
    result = autonomous_execute(
        "summarise", files=[source], sandbox=new_executor_sandbox(), max_retries=0
    )

    assert result.success
    assert result.artifacts == {"summary.csv": b"sales,units\n19,6\n"}
    assert result.to_dict(include_binary=False)["artifacts"] == ["summary.csv"]
    assert source.read_bytes() == SALES


def new_executor_sandbox():
    from tests.executor.executor_script import shared_sandbox

    return shared_sandbox()


def test_every_attempt_and_every_check_sees_the_files(fake_mistral):
    checks = ["import numpy as np\nassert np.fromfile('sales.csv', dtype=np.uint8).size == 53"]
    model = scripted(
        fake_mistral,
        "print(undefined_name)",
        columns_program("units"),
        plan_=plan(checks=checks, cover=False),
    )
    with new_executor() as ex:
        result = ex.execute("total units", files={"sales.csv": SALES})

    assert result.success, result.errors
    assert result.iterations[1].checks and all(c.passed for c in result.iterations[1].checks)
    assert len(model.seen["code"]) == 2


def test_a_conversation_turn_uses_the_file_of_an_earlier_turn(fake_mistral):
    model = scripted(fake_mistral, columns_program("sales"), columns_program("units"))
    with new_executor() as ex:
        conversation = ex.new_conversation()
        first = ex.execute("total sales", conversation=conversation, files={"sales.csv": SALES})
        second = ex.execute("now the units", conversation=conversation)

    assert first.success and second.success
    assert second.final_output == "6.0\n"
    prompt = last_user_text(model.seen["code"][1])
    assert "'sales.csv'" in prompt and "units (int)" in prompt
    assert conversation.to_dict()["file_names"] == ["sales.csv"]
    assert "files" not in conversation.to_dict()


def test_an_unreadable_file_is_reported_and_the_run_goes_on(fake_mistral):
    model = scripted(fake_mistral, columns_program("sales"))
    files = {
        "sales.csv": SALES,
        "broken.csv": b"\x00\x01\x02\xff" * 50,
        "empty.csv": b"",
        "report.pdf": b"%PDF-1.4 a report",
        "table.xlsx": b"name,value\n",
    }
    with new_executor() as ex:
        result = ex.execute("total sales", files=files)

    assert result.success
    done = profile_events(result)[-1]
    problems = {p["name"]: p.get("problem", "") for p in done.payload["files"]}
    assert "binary content" in problems["broken.csv"]
    assert "empty file" in problems["empty.csv"]
    assert problems["sales.csv"] == ""
    assert "not a valid XLSX" in problems["table.xlsx"]
    (pdf,) = [p for p in done.payload["files"] if p["name"] == "report.pdf"]
    assert "no PDF library in this sandbox" in pdf["note"]  # restricted: said, not guessed
    assert "broken.csv" in done.message and "empty.csv" in done.message
    prompt = last_user_text(model.seen["plan"][0])
    assert "UNREADABLE: binary content" in prompt


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"../../x.csv": b"a"}, "path parts"),
        ({"/etc/passwd": b"a"}, "path parts"),
        ({"a\0b.csv": b"a"}, "NUL"),
        ({"x" * 300 + ".csv": b"a"}, "longer than 255 bytes"),
        ({"a\nb.csv": b"a"}, "control characters"),
        ({"": b"a"}, "empty"),
        ({"a.csv": "text"}, "must be given as bytes"),
        ({f"f{i}.csv": b"a" for i in range(21)}, "more than the limit of 20"),
        ("data.csv", "list of paths"),
    ],
)
def test_bad_input_files_are_refused_before_the_run(fake_mistral, files, message):
    with new_executor() as ex, pytest.raises(DataFileError, match=message):
        ex.execute("anything", files=files)
    assert fake_mistral.chat_requests == []


def test_bad_input_paths_are_refused(fake_mistral, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.csv").write_bytes(b"1")
    (tmp_path / "b" / "x.csv").write_bytes(b"2")
    (tmp_path / "link.csv").symlink_to(tmp_path / "a" / "x.csv")
    big = tmp_path / "big.csv"
    big.write_bytes(b"0" * (2 * 1024 * 1024))
    cases = [
        ([tmp_path / "a" / "x.csv", tmp_path / "b" / "x.csv"], "two input files are named"),
        ([tmp_path / "a"], "is a directory"),
        ([tmp_path / "link.csv"], "is a symlink"),
        ([tmp_path / "missing.csv"], "no such file"),
    ]
    with new_executor() as ex:
        for files, message in cases:
            with pytest.raises(DataFileError, match=message):
                ex.execute("anything", files=files)
        monkeypatch.setenv("MISTRAL_EXECUTOR_MAX_FILE_MB", "1")
        with pytest.raises(DataFileError, match=r"big.csv.*over the 1.0 MB per-file limit"):
            ex.execute("anything", files=[big])
        with pytest.raises(DataFileError, match="over the 1.0 MB"):
            ex.stream("anything", files={"big.csv": big.read_bytes()})
    assert fake_mistral.chat_requests == []


def test_unicode_names_and_an_empty_file_are_accepted(fake_mistral):
    scripted(fake_mistral, "print('ok')")
    with new_executor() as ex:
        result = ex.execute("look", files={"données été.csv": SALES, "vide.csv": b""})
    assert result.success
    names = [p["name"] for p in profile_events(result)[-1].payload["files"]]
    assert names == ["données été.csv", "vide.csv"]


def test_a_conversation_cannot_pile_up_files_past_the_caps(fake_mistral, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_MAX_FILES", "2")
    monkeypatch.setenv("MISTRAL_EXECUTOR_MAX_FILE_MB", "1")
    scripted(fake_mistral, "print('a')", "print('b')")
    megabyte = b"x" * (1024 * 1024)
    with new_executor() as ex:
        conversation = ex.new_conversation()
        assert ex.execute("a", conversation=conversation, files={"a.txt": megabyte}).success
        assert ex.execute("b", conversation=conversation, files={"b.txt": megabyte}).success
        with pytest.raises(DataFileError, match="would hold 3 files"):
            ex.execute("c", conversation=conversation, files={"c.txt": b"1"})
        monkeypatch.setenv("MISTRAL_EXECUTOR_MAX_FILES", "3")
        with pytest.raises(DataFileError, match=r"over 2\.0 MB in all"):
            ex.stream("c", conversation=conversation, files={"c.txt": b"1"})
    assert sorted(conversation.files) == ["a.txt", "b.txt"]
