"""The plain-CPython fork-server as a command (``python -m sandbox.runtime.plain``): tests start
it with the layers they want; ``--warm`` modules are imported after ``ready``, between requests.
"""

from __future__ import annotations

import argparse
import importlib
import resource
from typing import Any

from sandbox.runtime import lockdown
from sandbox.runtime.forkserver import serve
from sandbox.runtime.serverconfig import PlainExecutor, ServerConfig, default_readonly_paths
from sandbox.runtime.warmup import Warmup, empty_environment, import_steps


def main(argv: list[str] | None = None) -> None:
    """Plain-CPython fork-server with the layers the flags ask for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preload", action="append", default=[], help="module to import first")
    parser.add_argument(
        "--warm", action="append", default=[], help="module to import after ready, when idle"
    )
    parser.add_argument("--readonly", action="append", default=[], help="Landlock read-only path")
    parser.add_argument("--no-landlock", action="store_true")
    parser.add_argument("--allow-processes", action="store_true")
    parser.add_argument("--drop-to", type=int, default=None, help="uid/gid to become if root")
    parser.add_argument("--isolate", action="store_true", help="own network+mount namespaces")
    parser.add_argument("--clear-env", action="store_true", help="empty os.environ after preload")
    parser.add_argument("--seccomp", action="store_true", help="deny risky syscalls in children")
    parser.add_argument("--allow-sockets", action="store_true", help="with --seccomp: socket()")
    args = parser.parse_args(argv)
    for module in args.preload:
        importlib.import_module(module)
    readonly = args.readonly or default_readonly_paths()
    isolation: dict[str, Any] = {"privileges_dropped": False}
    if args.isolate:
        isolation.update(lockdown.isolate_namespaces(keep_readable=readonly))
    if args.drop_to is not None:
        isolation["privileges_dropped"] = lockdown.drop_privileges(args.drop_to, args.drop_to)
    lockdown.forbid_new_privileges()
    lockdown.forbid_ptrace_and_core()
    lockdown.set_limit(resource.RLIMIT_CORE, 0)
    env = empty_environment() if args.clear_env else {}
    warm = {name.split(".")[0] for name in args.warm}
    warmup = Warmup(import_steps(args.warm), modules=frozenset(warm), env=env)
    config = ServerConfig(
        readonly_paths=readonly,
        landlock=not args.no_landlock,
        block_new_processes=not args.allow_processes,
        seccomp=args.seccomp,
        deny_sockets=not args.allow_sockets,
    )
    serve(PlainExecutor(), config, isolation, warmup)


if __name__ == "__main__":
    main()
