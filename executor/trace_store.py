"""Runs, their trace events and conversations, persisted in SQLite.

Events are committed one by one as the run emits them, so a crash mid-run leaves a readable
partial trace. Each run records its owning process (``executor.run_owner``); opening the store
marks the "running" runs whose process is gone as "interrupted", with the time that was noticed
(``interrupted_at``) and the last sign of life as ``finished_at``. SQLite is the embedded
default because it needs no server and survives concurrent readers (WAL) while the loop writes;
its tables are in ``executor.trace_db``.

Secrets never reach the disk: every text written passes through ``redact`` with the secrets the
store was given (the API key), as a last line of defence behind "never put it there".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor import run_owner, trace_db
from executor.conversation import Conversation
from executor.results import ExecutionResult, TraceEvent
from executor.trace_db import REDACTED, clean_text, clean_value, redact
from executor.trace_export import EXPORT_FORMAT, EXPORT_VERSION, check_export
from mistral_executor.settings import get_settings

__all__ = ["REDACTED", "RunNotFoundError", "RunSummary", "StoredRun", "TraceStore", "redact"]

_SUMMARY_COLUMNS = (
    "id, task, status, created_at, finished_at, conversation_id, total_duration_ms, total_tokens, "
    "interrupted_at"
)
INTERRUPTED = "interrupted"


def executor_home() -> Path:
    """``MISTRAL_EXECUTOR_HOME``, default ``~/.mistral-executor`` (``~`` expanded once, in
    :mod:`mistral_executor.settings`, so traces and documents land in the same place)."""
    return get_settings().home


def default_db_path() -> Path:
    return executor_home() / "traces.db"


class RunNotFoundError(KeyError):
    def __str__(self) -> str:
        return f"no run with id {self.args[0]!r}"


@dataclass
class RunSummary:
    id: str
    task: str
    status: str
    created_at: float
    finished_at: float | None
    conversation_id: str | None
    total_duration_ms: float | None
    total_tokens: int | None
    #: When a later opening of the store found the run's process gone (status "interrupted").
    interrupted_at: float | None = None


@dataclass
class StoredRun:
    summary: RunSummary
    events: list[TraceEvent]
    result: dict[str, Any] | None
    meta: dict[str, Any]


class TraceStore:
    """One SQLite file; safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: str | Path | None = None, *, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._secrets = [s for s in secrets if s]
        self._lock = threading.Lock()
        self._db = trace_db.connect(self.path)
        self._owner = run_owner.current()
        self.mark_interrupted()

    def mark_interrupted(self) -> list[str]:
        """Mark "running" runs whose owning process is gone as "interrupted"; their ids.

        Done on every opening (and listing or reading, for long-lived readers such as the UI),
        so a run killed with its process does not stay "running" forever.
        ``finished_at`` becomes the run's last sign of life (its last event, else its start).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT id, owner_pid, owner_start, owner_host FROM runs "
                "WHERE status = 'running' AND owner_pid IS NOT NULL"
            ).fetchall()
            gone = [row[0] for row in rows if run_owner.is_gone(row[1], row[2], row[3])]
            now = time.time()
            for run_id in gone:
                self._db.execute(
                    "UPDATE runs SET status = ?, interrupted_at = ?, finished_at = COALESCE("
                    "(SELECT MAX(timestamp) FROM events WHERE run_id = runs.id), created_at) "
                    "WHERE id = ? AND status = 'running'",
                    (INTERRUPTED, now, run_id),
                )
        return gone

    def add_secret(self, secret: str | None) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def _json(self, value: Any) -> str:
        # ensure_ascii=False: lone surrogates stay characters (then replaced) instead of
        # becoming \udcff escapes that would decode back into unprintable text.
        return redact(clean_text(json.dumps(value, default=str, ensure_ascii=False)), self._secrets)

    def _text(self, value: str) -> str:
        return redact(clean_text(value), self._secrets)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------------- writing a run

    def start_run(
        self,
        run_id: str,
        task: str,
        *,
        conversation_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        owner = self._owner
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (id, task, status, created_at, conversation_id, meta, "
                "owner_pid, owner_start, owner_host) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    clean_text(run_id),
                    self._text(task),
                    time.time(),
                    clean_value(conversation_id),
                    self._json(meta or {}),
                    owner.pid,
                    owner.start,
                    owner.host,
                ),
            )

    def _event_row(self, event: TraceEvent) -> tuple[Any, ...]:
        return (
            clean_text(event.run_id),
            event.seq,
            event.timestamp,
            clean_value(event.phase),
            clean_value(event.step),
            event.attempt,
            clean_value(event.status),
            event.duration_ms,
            event.tokens,
            self._text(event.message),
            self._json(event.payload),
        )

    def add_event(self, event: TraceEvent) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._event_row(event),
            )

    def finish_run(self, result: ExecutionResult, status: str | None = None) -> None:
        if status is None:
            status = "success" if result.success else "cancelled" if result.cancelled else "failed"
        data = result.to_dict(include_trace=False)
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status=?, finished_at=?, total_duration_ms=?, total_tokens=?, "
                "result=? WHERE id=?",
                (
                    status,
                    time.time(),
                    result.total_duration_ms,
                    result.usage.total_tokens,
                    self._json(data),
                    clean_text(result.run_id),
                ),
            )

    def mark_run(self, run_id: str, status: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE id=?",
                (status, time.time(), clean_text(run_id)),
            )

    # ---------------------------------------------------------------------- reading

    def resolve_id(self, run_id_or_prefix: str) -> str:
        """A full id, or a unique prefix of one (as shown by ``traces list``)."""
        run_id_or_prefix = clean_text(run_id_or_prefix)
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM runs WHERE id = ? OR id LIKE ? LIMIT 2",
                (run_id_or_prefix, run_id_or_prefix.replace("%", "") + "%"),
            ).fetchall()
        exact = [r[0] for r in rows if r[0] == run_id_or_prefix]
        if exact:
            return exact[0]
        if len(rows) != 1:
            raise RunNotFoundError(run_id_or_prefix)
        return rows[0][0]

    def list_runs(self, limit: int = 50, conversation_id: str | None = None) -> list[RunSummary]:
        self.mark_interrupted()  # a long-lived reader (the UI) sees deaths since it opened
        query = f"SELECT {_SUMMARY_COLUMNS} FROM runs"
        params: tuple[Any, ...] = ()
        if conversation_id:
            query += " WHERE conversation_id = ?"
            params = (clean_text(conversation_id),)
        query += " ORDER BY created_at DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [RunSummary(*row) for row in rows]

    def get_run(self, run_id: str) -> StoredRun:
        full_id = self.resolve_id(run_id)
        self.mark_interrupted()
        with self._lock:
            row = self._db.execute(
                f"SELECT {_SUMMARY_COLUMNS}, meta, result FROM runs WHERE id = ?", (full_id,)
            ).fetchone()
            event_rows = self._db.execute(
                "SELECT run_id, seq, timestamp, phase, step, attempt, status, duration_ms, tokens, "
                "message, payload FROM events WHERE run_id = ? ORDER BY seq",
                (full_id,),
            ).fetchall()
        events = [
            TraceEvent(
                run_id=r[0],
                seq=r[1],
                timestamp=r[2],
                phase=r[3],
                step=r[4],
                attempt=r[5],
                status=r[6],
                duration_ms=r[7],
                tokens=r[8],
                message=r[9],
                payload=json.loads(r[10]),
            )
            for r in event_rows
        ]
        return StoredRun(
            summary=RunSummary(*row[:9]),
            events=events,
            result=json.loads(row[10]) if row[10] else None,
            meta=json.loads(row[9] or "{}"),
        )

    # ---------------------------------------------------------------------- export / import

    def export_run(self, run_id: str) -> dict[str, Any]:
        run = self.get_run(run_id)
        summary = run.summary
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "run": {
                "id": summary.id,
                "task": summary.task,
                "status": summary.status,
                "created_at": summary.created_at,
                "finished_at": summary.finished_at,
                "conversation_id": summary.conversation_id,
                "total_duration_ms": summary.total_duration_ms,
                "total_tokens": summary.total_tokens,
                "interrupted_at": summary.interrupted_at,
                "meta": run.meta,
            },
            "result": run.result,
            "events": [event.to_dict() for event in run.events],
        }

    def import_run(self, data: Any, *, replace: bool = False) -> str:
        """Store an exported run under its own id; refuses to overwrite unless ``replace``.

        The whole document is checked first (``trace_export.check_export``: InvalidExportError,
        a ValueError, naming the first problem); on any refusal nothing is stored.
        """
        check_export(data)
        run = data["run"]
        run_id = run["id"]
        with self._lock:
            exists = self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
            if exists and not replace:
                raise ValueError(f"a run with id {run_id!r} already exists (use replace)")
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
                self._db.execute(
                    "INSERT INTO runs (id, task, status, created_at, finished_at, conversation_id,"
                    " total_duration_ms, total_tokens, meta, result, interrupted_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        self._text(run.get("task") or ""),
                        clean_value(run.get("status") or "imported"),
                        float(run.get("created_at") or time.time()),
                        run.get("finished_at"),
                        clean_value(run.get("conversation_id")),
                        run.get("total_duration_ms"),
                        run.get("total_tokens"),
                        self._json(run.get("meta") or {}),
                        self._json(data["result"]) if data.get("result") is not None else None,
                        run.get("interrupted_at"),
                    ),
                )
                for raw in data.get("events") or []:
                    event = TraceEvent.from_dict({**raw, "run_id": run_id})
                    self._db.execute(
                        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        self._event_row(event),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return run_id

    def delete_run(self, run_id: str) -> None:
        full_id = self.resolve_id(run_id)
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE id = ?", (full_id,))

    # ---------------------------------------------------------------------- conversations

    def save_conversation(self, conversation: Conversation) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO conversations (id, title, updated_at, data) "
                "VALUES (?, ?, ?, ?)",
                (
                    clean_text(conversation.id),
                    self._text(conversation.title),
                    time.time(),
                    self._json(conversation.to_dict()),
                ),
            )

    def load_conversation(self, conversation_id: str) -> Conversation:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM conversations WHERE id = ?", (clean_text(conversation_id),)
            ).fetchone()
        if row is None:
            raise KeyError(f"no conversation with id {conversation_id!r}")
        return Conversation.from_dict(json.loads(row[0]))

    def list_conversations(self, limit: int = 50) -> list[tuple[str, str, float]]:
        """``(id, title, updated_at)``, most recent first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, title, updated_at FROM conversations ORDER BY updated_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]
