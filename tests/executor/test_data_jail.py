"""Data analysis on a backend with the data stack (jail: real CPython, pandas, openpyxl, pyarrow):
profiles of CSV/XLSX/Parquet, a pandas KeyError healed against the real columns, and the last
expression coming back as a table. The fake Mistral server plays the model."""

from __future__ import annotations

import io
from typing import Any

import pytest

from sandbox.factory import backend_specs
from tests.executor.executor_script import last_user_text, new_executor, scripted
from tests.requirements import unavailable

SALES = b"region,sales,units\nnorth,10.5,3\nsouth,7,2\nnorth,1.5,1\n"
_BOX: list[Any] = []


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def jail():
    reason = backend_specs()["jail"].unavailable_reason()
    if reason is not None:
        unavailable(f"the jail backend, which is unavailable: {reason}")
    from sandbox import Limits, create_sandbox

    with create_sandbox("jail", limits=Limits(timeout_s=30)) as box:
        yield box


def pandas_program(column: str) -> str:
    return (
        "import pandas as pd\n"
        "df = pd.read_csv('sales.csv')\n"
        f"totals = df.groupby('region')[{column!r}].sum()\n"
        "print('regions:', len(totals))\n"
        "totals\n"
    )


def test_a_pandas_key_error_heals_and_the_last_expression_is_a_table(fake_mistral, jail):
    model = scripted(fake_mistral, pandas_program("revenue"), pandas_program("sales"))
    with new_executor(sandbox=jail) as ex:
        result = ex.execute("sales per region", files={"sales.csv": SALES})

    assert result.success, result.errors
    first = result.iterations[0]
    assert "KeyError" in first.failure.message
    repair = last_user_text(model.seen["code"][1])
    assert "sales.csv: 'region', 'sales', 'units'" in repair
    plan_prompt = last_user_text(model.seen["plan"][0])
    assert "region (object)" in plan_prompt or "region (str)" in plan_prompt
    (table,) = result.tables
    assert table["kind"] == "Series" and table["columns"] == ["region", "sales"]
    assert table["rows"] == [["north", 12.0], ["south", 7.0]] and table["total_rows"] == 2
    assert result.final_output == "regions: 2\nregion  sales\nnorth      12\nsouth       7\n"
    assert result.to_dict()["tables"] == result.tables


def test_xlsx_and_parquet_are_profiled_with_their_libraries(fake_mistral, jail):
    import pandas as pd

    frame = pd.DataFrame({"city": ["Lyon", "Nice"], "population": [522000, 342000]})
    xlsx, parquet = io.BytesIO(), io.BytesIO()
    frame.to_excel(xlsx, index=False, sheet_name="cities")
    frame.to_parquet(parquet)
    files = {
        "cities.xlsx": xlsx.getvalue(),
        "cities.parquet": parquet.getvalue(),
        "fake.xlsx": b"PK\x03\x04 not really a workbook",
    }
    scripted(fake_mistral, "print('ok')")
    with new_executor(sandbox=jail) as ex:
        result = ex.execute("look at the cities", files=files)

    assert result.success
    (done,) = [e for e in result.trace if e.step == "profile" and e.status != "started"]
    profiles = {p["name"]: p for p in done.payload["files"]}
    for name in ("cities.xlsx", "cities.parquet"):
        assert profiles[name]["columns"] == ["city", "population"], profiles[name]
        assert profiles[name]["rows"] == 2 and profiles[name]["head"][0] == ["Lyon", 522000]
    assert profiles["cities.xlsx"]["sheets"] == ["cities"]
    assert "could not be read" in profiles["fake.xlsx"]["problem"]


def test_a_pdf_gives_an_excerpt_where_a_pdf_library_is_installed(fake_mistral, jail):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure()
    figure.text(0.1, 0.5, "Quarterly report: revenue grew")
    pdf = io.BytesIO()
    figure.savefig(pdf, format="pdf")
    plt.close(figure)
    model = scripted(fake_mistral, "print('ok')")
    with new_executor(sandbox=jail) as ex:
        result = ex.execute("summarise the report", files={"report.pdf": pdf.getvalue()})
    assert result.success
    (done,) = [e for e in result.trace if e.step == "profile" and e.status != "started"]
    (profile,) = done.payload["files"]
    assert profile["pages"] == 1 and "Quarterly report" in profile["excerpt"]
    assert "Quarterly report: revenue grew" in last_user_text(model.seen["plan"][0])
