"""What a restricted sandbox's isolation report lacks, in words: one note per missing layer,
saying what still holds without it (docs/security.md has the whole picture)."""

from __future__ import annotations

from typing import Any


def degraded_notes(info: dict[str, Any], size_cap_problem: str | None) -> list[str]:
    """Notes for ``RestrictedSandbox.degraded`` from the fork-server's isolation report."""
    missing = []
    abi = int(info.get("landlock_abi") or 0)
    if not info.get("network"):
        missing.append(
            "no network namespace: the seccomp socket() ban alone keeps code off the network"
            if info.get("sockets_denied")
            else "no network namespace: only the policy keeps code off the network"
        )
    if not info.get("privileges_dropped"):
        missing.append(
            "workers keep the host user's privileges (same uid as the app): Landlock and "
            "seccomp keep them from the app's files, environment and processes"
        )
    if not abi:
        missing.append("no Landlock: file access outside the work dir is not blocked")
    elif abi < 6:
        missing.append(
            f"Landlock ABI {abi} < 6: no signal or abstract-socket scoping (seccomp keeps "
            "signals to the process itself and denies every socket)"
        )
    if not info.get("seccomp"):
        missing.append(
            "no seccomp filter for this CPU: sockets, signals to other processes and risky "
            "syscalls are not filtered"
        )
    if size_cap_problem is not None:
        missing.append(
            f"no tmpfs for the work dirs ({size_cap_problem}): their size is only "
            "checked after each session run, not enforced during it"
        )
    return missing
