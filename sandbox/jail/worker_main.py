"""Entry point of one jail fork-server (started by ``JailSandbox``, never by hand).

Order matters: what only root may read (matplotlib's font cache) is read first; then the
process moves into its own network, mount and IPC namespaces -- as root its own, as another
user those of the sandbox's namespace holder (``holder.py``), whose tmpfs holds the work dirs
-- gives up root for good, empties its environment and only then serves code, importing the
data stack between requests (``sandbox.runtime.warmup``: once per fork-server, never per run).
Each child it forks confines itself further (``executor.py``: user namespace, no capabilities,
seccomp allow-list) and the runtime adds Landlock and the rlimits.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

from sandbox.jail.executor import THREAD_ALLOWANCE, JailExecutor
from sandbox.runtime import lockdown
from sandbox.runtime.forkserver import ServerConfig, default_readonly_paths, serve
from sandbox.runtime.preload import WARM_PACKAGES, load_matplotlib_fonts, warmup_steps
from sandbox.runtime.warmup import Warmup, empty_environment

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def _setns(path: str, kind: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, kind) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns {path}: {os.strerror(code)}")
    finally:
        os.close(fd)


def join_holder(holder_pid: int) -> dict[str, Any]:
    """Enter the holder's user and mount namespaces (where the work dirs' tmpfs is mounted),
    then get a network and IPC namespace of our own inside them."""
    _setns(f"/proc/{holder_pid}/ns/user", _CLONE_NEWUSER)
    _setns(f"/proc/{holder_pid}/ns/mnt", _CLONE_NEWNS)
    os.chdir("/")
    report = {"user_namespace": True, "mounts": True, "network": False, "ipc": False}
    if _libc.unshare(_CLONE_NEWNET) == 0:
        report["network"] = True
    report["ipc"] = _libc.unshare(_CLONE_NEWIPC) == 0
    return report


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    options: dict[str, Any] = json.loads(argv[0]) if argv else {}
    readonly = default_readonly_paths()
    holder = options.get("holder_pid")
    # setns into a user namespace needs a single-threaded process: before any library starts
    # a thread. The data stack is imported after ``ready``, between requests (the warm-up),
    # with the thread pools sized by the environment the backend gave.
    isolation: dict[str, Any] = join_holder(int(holder)) if holder else {}
    load_matplotlib_fonts()  # as root: what only root may read, before the privileges go
    executor = JailExecutor()
    threads = len(os.listdir("/proc/self/task"))
    if not holder:
        isolation.update(lockdown.isolate_namespaces(keep_readable=readonly))
    isolation["threads_at_lockdown"] = threads
    isolation.update(lockdown.seal_server())
    env = empty_environment()
    warmup = Warmup(warmup_steps(), modules=WARM_PACKAGES, env=env)
    # No RLIMIT_NPROC=0 from the runtime: each child caps its own tasks in its own user
    # namespace, and its seccomp filter refuses every kind of fork. Nor the runtime's seccomp
    # deny-list: the allow-list is stricter, and the deny-list would forbid that unshare.
    config = ServerConfig(
        readonly_paths=readonly, seccomp=False, block_new_processes=False, reap_in_background=True
    )
    isolation.update(
        seccomp="allow-list",
        thread_allowance=THREAD_ALLOWANCE,
        landlock_scoped=lockdown.landlock_abi() >= 6,
    )
    serve(executor, config, isolation, warmup)
    os._exit(0)  # children are reaped; skip tearing down the data stack for nothing


if __name__ == "__main__":
    main()
