"""Rich results: the display helper, the last expression, tables back from printed output."""

from __future__ import annotations

import subprocess
import sys

import pytest

from executor import tables
from executor.sandboxside import source
from tests.executor.executor_script import new_executor, scripted
from tests.requirements import unavailable


def test_the_last_expression_is_wrapped_in_place():
    code = "x = 1\nif x:\n    pass\ndf.groupby(\n    'a'\n).sum()  # total\n"
    wrapped = tables.show_last_expression(code)
    assert wrapped.splitlines()[:3] == code.splitlines()[:3]
    assert wrapped.splitlines()[3] == "mx_show_last(df.groupby("
    assert wrapped.splitlines()[5] == ").sum())  # total"
    assert len(wrapped.splitlines()) == len(code.splitlines())  # line numbers unchanged
    assert tables.show_last_expression("print(1)\nx = 2\n") == "print(1)\nx = 2\n"
    assert tables.show_last_expression("'docstring'") == "'docstring'"
    assert tables.show_last_expression("é = 1; é") == "é = 1; mx_show_last(é)"
    assert tables.show_last_expression("def (") == "def ("


def test_the_helper_is_needed_only_for_display_or_a_pandas_last_expression():
    assert tables.needs_helper("display(x)")
    assert tables.needs_helper("import pandas as pd\ndf = pd.DataFrame()\ndf")
    assert not tables.needs_helper("import pandas as pd\nprint(1)")
    assert not tables.needs_helper("print(1)\nx")


def test_table_markers_become_aligned_text_and_tables():
    mark = tables.TABLE_MARK
    table = (
        '{"kind": "DataFrame", "columns": ["name", "n"], "rows": [["a", 1], ["bb", 20]],'
        ' "index_columns": 0, "total_rows": 70, "total_columns": 2}'
    )
    out, found = tables.take_tables(f"before\n{mark}{table}\n{mark}not json\nafter\n")
    assert found[0]["columns"] == ["name", "n"] and found[0]["total_rows"] == 70
    assert len(found) == 1
    assert out.splitlines() == [
        "before",
        "name   n",
        "a      1",
        "bb    20",
        "[70 rows x 2 columns; showing 2 x 2]",
        f"{mark}not json",
        "after",
    ]
    html = tables.table_html({**found[0], "rows": [["<b>", 1]]})
    assert "&lt;b&gt;" in html and "<b>" not in html.replace("<caption>", "")


def run_with_pandas(program: str) -> str:
    try:
        import pandas  # noqa: F401
    except ImportError:
        unavailable("pandas in the test environment")
    code = source("display") + "\n" + tables.show_last_expression(program)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout


def test_the_display_helper_caps_tables_and_keeps_the_totals():
    stdout = run_with_pandas(
        "import numpy as np\nimport pandas as pd\n"
        "df = pd.DataFrame(np.arange(10000).reshape(100, 100))\n"
        "df.iloc[0, 0] = np.nan\n"
        "display(df)\n"
        "pd.Series([1.5, 2.5], index=['x', 'y'], name='v')\n"
    )
    text, found = tables.take_tables(stdout)
    big, series = found
    assert (big["total_rows"], big["total_columns"]) == (100, 100)
    assert len(big["rows"]) == 50 and len(big["columns"]) == 30
    assert big["rows"][0][0] is None  # NaN comes back as a missing value
    assert series["kind"] == "Series" and series["columns"] == ["", "v"]
    assert series["rows"] == [["x", 1.5], ["y", 2.5]]
    assert "[100 rows x 100 columns; showing 50 x 30]" in text


@pytest.mark.parametrize("backend", ["restricted"])
def test_display_on_a_backend_without_pandas_prints_the_value(
    fake_mistral, backend, monkeypatch, tmp_path
):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path))
    scripted(fake_mistral, "import numpy as np\ndisplay(np.arange(3))\nprint('ok')")
    with new_executor() as ex:
        result = ex.execute("show", validate_output=False)
    assert result.success, result.errors
    assert result.final_output == "array([0, 1, 2])\nok\n" and result.tables == []
