# The notebook-style display helper, defined in each program's sandbox session before it runs.
# display(obj) sends a pandas DataFrame/Series back as a table (capped, with the totals) and
# prints anything else; mx_show_last(value) is what the program's last expression turns into.
import json

MX_TABLE_MARK = "@@mistral-executor-table@@"
MX_MAX_ROWS = 50
MX_MAX_COLS = 30


def mx_table_cell(value):
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) else value[:200]
    if isinstance(value, float):
        return None if value != value else value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return mx_table_cell(item())
        except (TypeError, ValueError):
            pass
    text = str(value)
    return None if text in ("NaT", "nan", "<NA>") else text[:200]


def mx_records_table(obj):
    # A list of dicts (csv.DictReader rows, JSON records) or a dict of equal-length lists.
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        lengths = {len(v) for v in obj.values()}
        if len(lengths) != 1:
            return None
        columns = [str(c) for c in obj][:MX_MAX_COLS]
        count = lengths.pop()
        keys = list(obj)[:MX_MAX_COLS]
        rows = [[mx_table_cell(obj[k][i]) for k in keys] for i in range(min(count, MX_MAX_ROWS))]
        return {
            "kind": "records",
            "name": "",
            "columns": columns,
            "rows": rows,
            "index_columns": 0,
            "total_rows": count,
            "total_columns": len(obj),
        }
    if not isinstance(obj, list) or not obj or not all(isinstance(r, dict) for r in obj):
        return None
    keys = []
    for record in obj[:MX_MAX_ROWS]:
        for key in record:
            if key not in keys:
                keys.append(key)
    rows = [[mx_table_cell(r.get(k)) for k in keys[:MX_MAX_COLS]] for r in obj[:MX_MAX_ROWS]]
    return {
        "kind": "records",
        "name": "",
        "columns": [str(k) for k in keys[:MX_MAX_COLS]],
        "rows": rows,
        "index_columns": 0,
        "total_rows": len(obj),
        "total_columns": len(keys),
    }


def mx_as_table(obj):
    kind = type(obj).__name__
    if kind not in ("DataFrame", "Series") or not hasattr(obj, "iloc"):
        return None
    frame = obj.to_frame() if kind == "Series" else obj
    total_rows = int(frame.shape[0])
    total_cols = int(frame.shape[1])
    part = frame.iloc[:MX_MAX_ROWS, :MX_MAX_COLS]
    columns = []
    for col in part.columns:
        columns.append(" / ".join(str(c) for c in col) if isinstance(col, tuple) else str(col))
    index_names = [str(n) for n in part.index.names if n is not None]
    plain_index = type(part.index).__name__ == "RangeIndex"
    rows = []
    for label, values in zip(part.index.tolist(), part.values.tolist(), strict=False):
        row = [mx_table_cell(v) for v in values]
        if not plain_index:
            if isinstance(label, tuple):
                row = [mx_table_cell(v) for v in label] + row
            else:
                row = [mx_table_cell(label)] + row
        rows.append(row)
    if not plain_index:
        levels = int(part.index.nlevels)
        names = index_names if len(index_names) == levels else ["" for n in range(levels)]
        columns = names + columns
    return {
        "kind": kind,
        "name": str(getattr(obj, "name", "") or "") if kind == "Series" else "",
        "columns": columns,
        "rows": rows,
        "index_columns": 0 if plain_index else int(part.index.nlevels),
        "total_rows": total_rows,
        "total_columns": total_cols,
    }


def display(*objs):
    for obj in objs:
        table = mx_as_table(obj) or mx_records_table(obj)
        if table is None:
            print(repr(obj))
        else:
            print(MX_TABLE_MARK + json.dumps(table, default=str))


def mx_show_last(value):
    if mx_as_table(value) is not None:
        display(value)
    return value
