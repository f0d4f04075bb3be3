# Appended to probe_basic on backends with real CPython: pandas, openpyxl, pyarrow and a PDF
# reader when they are installed (each one optional), the basic profile otherwise.
# ruff: noqa: F821 - names come from probe_basic, which precedes this text.
import importlib.util

mx_basic_profile_one = mx_profile_one


def mx_has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def mx_cell(value):
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError, ImportError):
        pass
    if isinstance(value, bool | int | float | str) or value is None:
        return mx_clip(value, 60) if isinstance(value, str) else value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return mx_cell(item())
        except (TypeError, ValueError):
            pass
    return mx_clip(value, 60)


def mx_from_frame(info, frame):
    info["columns"] = [mx_clip(c, 80) for c in list(frame.columns)[:100]]
    info["total_columns"] = int(frame.shape[1])
    info["dtypes"] = [str(t) for t in list(frame.dtypes)[:100]]
    info["head"] = [[mx_cell(v) for v in row[:30]] for row in frame.head(5).values.tolist()]
    return info


def mx_profile_one(name, size):
    info = mx_basic_profile_one(name, size)
    if info.get("problem") or size == 0 or not mx_has("pandas"):
        return mx_rich_pdf(info) if info.get("type") == "pdf" and not info.get("problem") else info
    import pandas as pd

    kind = info["type"]
    try:
        if kind in ("csv", "tsv") and info.get("delimiter"):
            frame = pd.read_csv(name, sep=info["delimiter"], nrows=2000, low_memory=False)
            mx_from_frame(info, frame)
        elif kind == "xlsx":
            info.pop("note", None)
            book = pd.ExcelFile(name)
            info["sheets"] = [mx_clip(s, 80) for s in book.sheet_names[:50]]
            frame = book.parse(book.sheet_names[0], nrows=2000)
            mx_from_frame(info, frame)
            if mx_has("openpyxl"):
                import openpyxl

                sheet = openpyxl.load_workbook(name, read_only=True).worksheets[0]
                info["rows"] = max(int(sheet.max_row or 1) - 1, 0)
            info["note"] = "first sheet " + repr(book.sheet_names[0]) + " profiled"
        elif kind == "parquet":
            info.pop("note", None)
            if mx_has("pyarrow"):
                import pyarrow.parquet as pq

                pfile = pq.ParquetFile(name)
                info["rows"] = int(pfile.metadata.num_rows)
                frame = next(pfile.iter_batches(batch_size=5)).to_pandas()
                mx_from_frame(info, frame)
                info["dtypes"] = [str(f.type) for f in pfile.schema_arrow][:100]
            else:
                frame = pd.read_parquet(name)
                info["rows"] = int(frame.shape[0])
                mx_from_frame(info, frame)
        elif kind == "pdf":
            return mx_rich_pdf(info)
    except Exception as exc:
        info["problem"] = "could not be read: " + type(exc).__name__ + ": " + mx_clip(exc, 200)
    return info


def mx_rich_pdf(info):
    for module in ("pypdf", "PyPDF2"):
        if mx_has(module):
            reader = importlib.import_module(module).PdfReader(info["name"])
            info["pages"] = len(reader.pages)
            text = ""
            for page in reader.pages[:3]:
                text += (page.extract_text() or "") + "\n"
                if len(text) > 1000:
                    break
            info["excerpt"] = mx_clip(text.strip(), 1000)
            info.pop("note", None)
            return info
    if mx_has("fitz"):
        import fitz

        document = fitz.open(info["name"])
        info["pages"] = document.page_count
        info["excerpt"] = mx_clip(
            document[0].get_text().strip() if document.page_count else "", 1000
        )
        info.pop("note", None)
        return info
    info["note"] = "no PDF library in this sandbox (pypdf, PyPDF2 or PyMuPDF): no excerpt"
    return info
