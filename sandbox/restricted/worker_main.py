"""Entry point of one restricted fork-server process (started by ``pool.py``, never by hand).

Order matters: everything that needs root or the host's files (our own package, the matplotlib
font cache, building the policy) happens first; then the process moves into its own network and
mount namespaces, gives up root for good and starts serving untrusted code. The allowed modules
are imported after ``ready``, between requests (``sandbox.runtime.warmup``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from sandbox.runtime import lockdown
from sandbox.runtime.forkserver import ServerConfig, default_readonly_paths, serve
from sandbox.runtime.preload import load_matplotlib_fonts
from sandbox.runtime.warmup import Warmup, empty_environment

DEFAULT_POLICY_MODULE = "sandbox.restricted.policy"


def build_policy(options: dict[str, Any]) -> Any:
    """The policy the options name, without importing an allowed module or changing anything
    process-wide: the host's ``check()`` uses it as it is, the worker adds its warm-up."""
    allowed = options.get("allowed_imports")
    module = importlib.import_module(options.get("policy_module") or DEFAULT_POLICY_MODULE)
    if allowed is None:
        allowed = list(module.DEFAULT_ALLOWED_IMPORTS)
    return module.Policy(allowed_imports=allowed, preload=False)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    options: dict[str, Any] = json.loads(argv[0]) if argv else {}
    load_matplotlib_fonts()  # as root: what only root may read, before the privileges go
    policy = build_policy(options)
    # The imports and the module proxies come after ``ready``, between requests.
    steps = policy.warmup_steps()

    # Not even our own package is readable to a child: everything it runs is imported by now,
    # and the project tree beside it may hold secrets.
    readonly = default_readonly_paths()
    isolation: dict[str, Any] = dict(lockdown.isolate_namespaces(keep_readable=readonly))
    isolation.update(lockdown.seal_server())
    # The host already passed almost nothing; now there is nothing at all (bar the thread-pool
    # sizes, in the C environment only).
    env = empty_environment()
    # Any import waits for the warm-up: the policy builds every proxy at the first one.
    warmup = Warmup(steps, any_import=True, env=env)
    config = ServerConfig(
        readonly_paths=readonly, seccomp=True, deny_sockets=True, reap_in_background=True
    )
    isolation["seccomp"] = lockdown.seccomp_supported()
    # What the seccomp filter adds (see lockdown.deny_risky_syscalls): no socket() of any
    # family; signals, rlimits, priorities only on the child itself.
    isolation["sockets_denied"] = isolation["seccomp"]
    isolation["signals_self_only"] = isolation["seccomp"]
    isolation["sessions_paused_between_runs"] = True
    serve(policy, config, isolation, warmup)
    os._exit(0)  # children are reaped; skip tearing down numpy and matplotlib for nothing


if __name__ == "__main__":
    main()
