"""What a fork-server's children may do and read, and the plain-CPython executor.

Kept apart from the server loop (``forkserver.py``): the backends' entry points build these
before any request is served.
"""

from __future__ import annotations

import builtins
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Any

from sandbox.runtime.capture import USER_FILENAME


class PlainExecutor:
    """CPython as it is, for the Docker image whose isolation is the container itself."""

    def compile(self, source: str) -> Any:
        return compile(source, USER_FILENAME, "exec", dont_inherit=True)

    def new_namespace(self) -> dict[str, Any]:
        return {"__name__": "__main__", "__builtins__": builtins}


@dataclass
class ServerConfig:
    """What every child does to itself before running code."""

    readonly_paths: list[str] = field(default_factory=list)  # Landlock: everything else denied
    landlock: bool = True
    block_new_processes: bool = True  # RLIMIT_NPROC=0 in each child
    seccomp: bool = False  # lockdown.deny_risky_syscalls() in each child
    # With seccomp: no socket() at all in the children (no network of any family, no Unix
    # socket of the host). Signals, rlimits and priorities reach only the child itself when it
    # may not start processes (it has none to signal).
    deny_sockets: bool = True
    landlock_abi: int = 0  # filled in by the server
    # Reap finished children between requests instead of waiting for each to exit: the exit of
    # a big process takes a while, and the next fork need not wait for it. Off by default
    # because zombies then linger in /proc until the next request.
    reap_in_background: bool = False


def default_readonly_paths(extra: list[str] | None = None) -> list[str]:
    """What a child may read: the Python installation and its packages, shared libraries, time
    zones and fonts -- never /etc (bar the loader cache), /proc, /tmp, /home or a project tree
    (``sys.path`` is deliberately not used: it may hold the caller's working directory)."""
    python = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths = sysconfig.get_paths()
    python += [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    system = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/lib",
        "/lib64",
        "/usr/share/zoneinfo",
        "/usr/share/fonts",
        "/usr/share/matplotlib",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/dev/null",
        "/dev/urandom",
        "/dev/zero",
    ]
    return [p for p in dict.fromkeys([*python, *system, *(extra or [])]) if p]
