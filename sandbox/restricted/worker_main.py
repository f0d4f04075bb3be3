"""Entry point of one restricted fork-server process (started by ``pool.py``, never by hand).

Order matters: everything that needs root or the host's files (imports, the matplotlib font
cache, building the policy) happens first; then the process moves into its own network and mount
namespaces, gives up root for good and only then starts serving untrusted code.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import resource
import sys
from typing import Any

from sandbox.runtime import lockdown
from sandbox.runtime.forkserver import ServerConfig, default_readonly_paths, serve

DEFAULT_POLICY_MODULE = "sandbox.restricted.policy"


def _wants(allowed: list[str] | None, package: str) -> bool:
    return allowed is None or any(m == package or m.startswith(package + ".") for m in allowed)


def _warm_scientific_stack(allowed: list[str] | None) -> None:
    """Import numpy and matplotlib (Agg) once and render one figure, so that neither the
    imports nor the lazy font loading land in a user's run."""
    if _wants(allowed, "numpy"):
        import numpy  # noqa: F401
    if _wants(allowed, "matplotlib"):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot

        figure = pyplot.figure()
        axes = figure.add_subplot()
        axes.plot([0, 1], [1, 0], label="warm")
        axes.set_title("warm")
        axes.legend()
        figure.savefig(io.BytesIO(), format="png")
        pyplot.close("all")


def build_policy(options: dict[str, Any], preload: bool = True) -> Any:
    """The policy the options name. ``preload=False`` is the host's light variant for
    ``check()``: no allowed module imported, nothing process-wide changed."""
    allowed = options.get("allowed_imports")
    module = importlib.import_module(options.get("policy_module") or DEFAULT_POLICY_MODULE)
    if allowed is None:
        allowed = list(module.DEFAULT_ALLOWED_IMPORTS)
    return module.Policy(allowed_imports=allowed, preload=preload)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    options: dict[str, Any] = json.loads(argv[0]) if argv else {}
    allowed = options.get("allowed_imports")
    _warm_scientific_stack(allowed)
    policy = build_policy(options)

    # Not even our own package is readable to a child: everything it runs is imported by now,
    # and the project tree beside it may hold secrets.
    readonly = default_readonly_paths()
    isolation: dict[str, Any] = dict(lockdown.isolate_namespaces(keep_readable=readonly))
    isolation["privileges_dropped"] = lockdown.drop_privileges()
    isolation["uid"] = os.getuid()
    lockdown.forbid_new_privileges()
    lockdown.forbid_ptrace_and_core()
    lockdown.set_limit(resource.RLIMIT_CORE, 0)
    lockdown.set_limit(resource.RLIMIT_NOFILE, 4096)
    os.environ.clear()  # the host already passed almost nothing; now there is nothing at all
    config = ServerConfig(
        readonly_paths=readonly, seccomp=True, deny_sockets=True, reap_in_background=True
    )
    isolation["seccomp"] = lockdown.seccomp_supported()
    # What the seccomp filter adds (see lockdown.deny_risky_syscalls): no socket() of any
    # family; signals, rlimits, priorities only on the child itself.
    isolation["sockets_denied"] = isolation["seccomp"]
    isolation["signals_self_only"] = isolation["seccomp"]
    isolation["sessions_paused_between_runs"] = True
    serve(policy, config, isolation)
    os._exit(0)  # children are reaped; skip tearing down numpy and matplotlib for nothing


if __name__ == "__main__":
    main()
