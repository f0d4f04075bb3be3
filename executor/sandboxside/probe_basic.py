# Profiles the run's input files inside the sandbox with numpy and json only (restricted-safe).
# The host appends: print(MX_MARK + json.dumps(mx_profile_all(MX_FILES)))
import json

import numpy as np

MX_MARK = "@@mistral-executor-profile@@"
MX_HEAD_BYTES = 65536
MX_CHUNK = 8 * 1024 * 1024
MX_TEXT_KINDS = ("csv", "tsv", "json", "jsonl", "text")
MX_MAGIC = {"xlsx": b"PK\x03\x04", "parquet": b"PAR1", "pdf": b"%PDF"}
MX_KINDS = {
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "parquet": "parquet",
    "pq": "parquet",
    "pdf": "pdf",
    "txt": "text",
    "md": "text",
    "log": "text",
    "py": "text",
    "xml": "text",
    "html": "text",
    "yaml": "text",
    "yml": "text",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "gif": "image",
    "webp": "image",
    "bmp": "image",
}


def mx_kind(name):
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return MX_KINDS.get(ext, "other")


def mx_read_head(name, count):
    return np.fromfile(name, dtype=np.uint8, count=count).tobytes()


def mx_count_lines(name, size):
    lines = 0
    offset = 0
    while offset < size:
        chunk = np.fromfile(name, dtype=np.uint8, count=MX_CHUNK, offset=offset)
        if chunk.size == 0:
            break
        lines += int(np.count_nonzero(chunk == 10))
        offset += int(chunk.size)
    return lines


def mx_split_row(line, delim):
    cells = []
    cell = ""
    quoted = False
    i = 0
    while i < len(line):
        ch = line[i]
        if quoted:
            if ch == '"' and i + 1 < len(line) and line[i + 1] == '"':
                cell += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cell += ch
        elif ch == '"' and cell == "":
            quoted = True
        elif ch == delim:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
        i += 1
    cells.append(cell)
    return cells


def mx_guess_type(values):
    seen = [v.strip() for v in values if v.strip() != ""]
    if not seen:
        return "empty"
    kind = "int"
    for v in seen:
        try:
            int(v)
            continue
        except ValueError:
            pass
        try:
            float(v)
            kind = "float"
        except ValueError:
            return "str"
    return kind


def mx_clip(value, limit):
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mx_delimiter(first_line, kind):
    if kind == "tsv":
        return "\t"
    best = ","
    best_count = first_line.count(",")
    for cand in (";", "\t", "|"):
        if first_line.count(cand) > best_count:
            best = cand
            best_count = first_line.count(cand)
    return best


def mx_is_binary(head):
    if b"\x00" in head[:8192]:
        return True
    sample = head[:8192]
    try:
        sample.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is not binary.
        return exc.start < len(sample) - 4


def mx_profile_delimited(info, head, size, kind):
    text = head.decode("utf-8", "replace")
    lines = text.splitlines()
    if size > len(head) and lines:
        lines = lines[:-1]  # the last line of a partial head may be cut
    lines = [ln for ln in lines if ln.strip() != ""]
    if not lines:
        info["problem"] = "no rows: the file holds only blank lines"
        return info
    delim = mx_delimiter(lines[0], kind)
    header = [c.strip() for c in mx_split_row(lines[0], delim)]
    rows = [mx_split_row(ln, delim) for ln in lines[1:201]]
    info["delimiter"] = delim
    info["columns"] = [mx_clip(c, 80) for c in header[:100]]
    info["total_columns"] = len(header)
    dtypes = []
    for index in range(min(len(header), 100)):
        dtypes.append(mx_guess_type([r[index] if index < len(r) else "" for r in rows]))
    info["dtypes"] = dtypes
    info["head"] = [[mx_clip(c, 60) for c in r[:30]] for r in rows[:5]]
    newlines = mx_count_lines(info["name"], size)
    ends_with_newline = np.fromfile(info["name"], dtype=np.uint8, offset=size - 1).tobytes()
    total_lines = newlines + (0 if ends_with_newline == b"\n" else 1)
    info["rows"] = max(total_lines - 1, 0)
    info["rows_note"] = "counted as lines after the header (quoted line breaks would add some)"
    if len(header) == 1 and kind == "csv" and not rows:
        info["note"] = "one column and no data rows"
    return info


def mx_profile_json(info, size, kind):
    if size > 50 * 1024 * 1024:
        info["note"] = "large JSON file: not parsed while profiling"
        info["excerpt"] = mx_clip(mx_read_head(info["name"], 2000).decode("utf-8", "replace"), 1000)
        return info
    text = mx_read_head(info["name"], size).decode("utf-8", "replace")
    try:
        if kind == "jsonl":
            data = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
        else:
            data = json.loads(text)
    except ValueError as exc:
        if kind == "json":
            try:
                data = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
                info["note"] = "JSON lines (one object per line)"
            except ValueError:
                info["problem"] = "not valid JSON: " + mx_clip(str(exc), 200)
                return info
        else:
            info["problem"] = "not valid JSON lines: " + mx_clip(str(exc), 200)
            return info
    if isinstance(data, list):
        info["rows"] = len(data)
        records = [r for r in data[:200] if isinstance(r, dict)]
        if records:
            columns = []
            for record in records:
                for key in record:
                    if key not in columns:
                        columns.append(key)
            info["columns"] = [mx_clip(c, 80) for c in columns[:100]]
            info["total_columns"] = len(columns)
            dtypes = []
            for col in columns[:100]:
                kinds = sorted({type(r.get(col)).__name__ for r in records if col in r})
                dtypes.append("/".join(kinds))
            info["dtypes"] = dtypes
            info["head"] = [
                [mx_clip(json.dumps(r.get(c)), 60) for c in columns[:30]] for r in records[:5]
            ]
        else:
            info["excerpt"] = mx_clip(json.dumps(data[:5]), 1000)
    elif isinstance(data, dict):
        info["keys"] = [mx_clip(k, 80) for k in list(data)[:100]]
        info["excerpt"] = mx_clip(json.dumps(data), 1000)
    else:
        info["excerpt"] = mx_clip(json.dumps(data), 1000)
    return info


def mx_profile_one(name, size):
    kind = mx_kind(name)
    info = {"name": name, "size": size, "type": kind}
    if size == 0:
        info["problem"] = "empty file (0 bytes)"
        return info
    head = mx_read_head(name, MX_HEAD_BYTES)
    if kind in MX_MAGIC:
        if not head.startswith(MX_MAGIC[kind]):
            info["problem"] = "not a valid " + kind.upper() + " file (its first bytes do not match)"
            return info
        info["note"] = "no " + kind.upper() + " library in this sandbox: contents not profiled"
        return info
    if kind == "image":
        return info
    if mx_is_binary(head):
        if kind in MX_TEXT_KINDS:
            info["problem"] = "binary content: not a " + kind.upper() + " text file"
        else:
            info["type"] = "binary"
        return info
    if kind in ("csv", "tsv"):
        return mx_profile_delimited(info, head, size, kind)
    if kind in ("json", "jsonl"):
        return mx_profile_json(info, size, kind)
    info["type"] = "text"
    info["excerpt"] = mx_clip(head.decode("utf-8", "replace"), 1000)
    info["lines"] = mx_count_lines(name, size)
    return info


def mx_profile_safe(name, size):
    try:
        return mx_profile_one(name, size)
    except Exception as exc:
        return {
            "name": name,
            "size": size,
            "type": mx_kind(name),
            "problem": "could not be read: " + type(exc).__name__ + ": " + mx_clip(str(exc), 200),
        }


def mx_profile_all(files):
    return [mx_profile_safe(name, size) for name, size in files]
