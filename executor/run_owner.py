"""Which process owns a stored run, and whether that process still exists.

A run is written as "running" when it starts and updated when it ends; a process killed in
between (SIGKILL, OOM killer, power loss) never updates it. The trace store records the owner of
each run -- pid, the kernel's start time of that pid, and the host name -- so that whoever opens
the store later can tell a run still under way from one whose process is gone. The start time is
what makes this safe against pid reuse: a new process that got the same pid has another start
time, so the old run is not mistaken for alive.

Only runs owned on this host are judged (a store on a shared disk may hold runs of processes
elsewhere, which cannot be checked from here).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    pid: int
    #: Field 22 of /proc/<pid>/stat (clock ticks after boot); None where /proc is unavailable.
    start: str | None
    host: str


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if there is no such pid.

    The command name (field 2) is in parentheses and may itself hold spaces and parentheses,
    so the fields are read after the last ``)``.
    """
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    _, _, rest = text.rpartition(")")
    return rest.split()


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` as the kernel records it, or None (no such pid, no /proc)."""
    fields = _stat_fields(pid)
    # After the name: state is field 3, so starttime (field 22) is index 22 - 3 = 19.
    if fields is None or len(fields) < 20:
        return None
    return fields[19]


def current() -> Owner:
    """This process, as the owner of the runs it starts."""
    pid = os.getpid()
    return Owner(pid=pid, start=start_time(pid), host=socket.gethostname())


def is_gone(pid: int | None, start: str | None, host: str | None) -> bool:
    """True only when the owner can be shown to be gone: no such process on this host, a zombie,
    or a process with that pid but another start time (the pid was reused). Anything that cannot
    be checked (another host, no owner recorded) counts as alive."""
    if pid is None or host != socket.gethostname():
        return False
    if _PROC.is_dir():
        fields = _stat_fields(pid)
        if fields is None:
            return True
        if fields and fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent
            return True
        return start is not None and len(fields) >= 20 and fields[19] != start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
