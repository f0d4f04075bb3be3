"""Which of the jail's required kernel layers this host can give, asked before anything starts.

The jail promises all of its layers or nothing: ``unavailable_reason`` names the first one missing
(with the fix: another backend), ``missing_layers`` checks what a started fork-server reports.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any

from sandbox.jail import seccomp
from sandbox.runtime import lockdown

# Signal and abstract-unix-socket scoping arrived in ABI 6 (Linux 6.12); TCP rules in ABI 4.
MIN_LANDLOCK_ABI = 6
_ALTERNATIVES = "use restricted or docker"

# What a jail child does first (as the sandbox user when the host is root): a user namespace of
# its own. Distributions can forbid that to unprivileged users (AppArmor, sysctls).
_USERNS_PROBE = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if os.geteuid() == 0:
    os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
if libc.unshare(0x10000000) != 0:
    print(os.strerror(ctypes.get_errno())); sys.exit(1)
print("ok")
"""


def _seccomp_filters_supported() -> bool:
    try:
        with open("/proc/self/status") as status:
            return any(line.startswith("Seccomp_filters:") for line in status)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def _user_namespace_problem() -> str | None:
    try:
        probe = subprocess.run(
            [sys.executable, "-I", "-c", _USERNS_PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            env={},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if probe.returncode == 0 and probe.stdout.strip() == "ok":
        return None
    return probe.stdout.strip() or probe.stderr.strip()[-200:] or f"status {probe.returncode}"


def unavailable_reason(**_options: Any) -> str | None:
    """None when this host can give every layer the jail requires, else which one is missing."""
    machine = os.uname().machine
    if not seccomp.supported(machine):
        return (
            f"jail needs its seccomp syscall table for this CPU; there is none for {machine} "
            f"(only x86_64): {_ALTERNATIVES}"
        )
    if not _seccomp_filters_supported():
        return f"jail needs seccomp filters, which this kernel does not offer: {_ALTERNATIVES}"
    abi = lockdown.landlock_abi()
    if abi < MIN_LANDLOCK_ABI:
        return (
            f"jail needs Landlock ABI >= {MIN_LANDLOCK_ABI} (file, TCP, signal and "
            f"abstract-socket rules); this kernel has {abi}: {_ALTERNATIVES}"
        )
    problem = _user_namespace_problem()
    if problem is not None:
        return (
            "jail needs unprivileged user namespaces (each run caps its own threads in one, and "
            f"a host that is not root mounts the work-dir tmpfs in one); they are refused here "
            f"({problem}): {_ALTERNATIVES}"
        )
    return None


def missing_layers(isolation: dict[str, Any], root: bool) -> list[str]:
    """Required layers a started fork-server did not report in force."""
    missing = []
    threads = int(isolation.get("threads_at_lockdown") or 1)
    if threads > 1:
        missing.append(
            f"a single-threaded worker to enter its namespaces (a preloaded library started "
            f"{threads - 1} thread(s))"
        )
    abi = int(isolation.get("landlock_abi") or 0)
    if abi < MIN_LANDLOCK_ABI:
        missing.append(f"Landlock ABI >= {MIN_LANDLOCK_ABI} (the worker has {abi})")
    if isolation.get("seccomp") != "allow-list":
        missing.append("the seccomp allow-list")
    if not isolation.get("network"):
        missing.append("a network namespace")
    if not isolation.get("ipc"):
        missing.append("an IPC namespace")
    if root and not isolation.get("privileges_dropped"):
        missing.append("dropping root for the sandbox user")
    return missing
