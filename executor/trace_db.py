"""The trace store's SQLite file: its tables, their upgrades, and the text that may go in.

Kept apart from ``trace_store`` (the store's API) so the on-disk layout can be read at a glance.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REDACTED = "[REDACTED]"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    conversation_id TEXT,
    total_duration_ms REAL,
    total_tokens INTEGER,
    meta TEXT NOT NULL DEFAULT '{}',
    result TEXT
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    phase TEXT NOT NULL,
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    tokens INTEGER NOT NULL,
    message TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    updated_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
"""
#: Columns added after the first release: (name, SQL type). Older files get them on opening.
_ADDED_RUN_COLUMNS = (
    ("owner_pid", "INTEGER"),
    ("owner_start", "TEXT"),
    ("owner_host", "TEXT"),
    ("interrupted_at", "REAL"),
)


def connect(path: Path) -> sqlite3.Connection:
    """The connection the store uses: WAL (readers alongside the writing loop), the tables
    created, and the columns later versions added brought to a file an older version made."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(_SCHEMA)
    present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for name, kind in _ADDED_RUN_COLUMNS:
        if name not in present:
            try:
                db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError:  # another process added it meanwhile
                pass
    return db


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text SQLite can store: lone surrogates (undecodable bytes from argv or a file name, which
    no UTF-8 encoder accepts) become U+FFFD, the replacement character."""
    return _SURROGATE.sub("\ufffd", text)


def clean_value(value: Any) -> Any:
    """``clean_text`` for strings; anything else as it is."""
    return clean_text(value) if isinstance(value, str) else value


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text
