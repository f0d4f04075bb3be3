"""Entry point of one jail fork-server (started by ``JailSandbox``, never by hand).

Order matters: the data stack is imported and warmed while the process still sees the host
(the heavy imports are paid once here, not per run); then the process moves into its own
network, mount and IPC namespaces -- as root its own, as another user those of the sandbox's
namespace holder (``holder.py``), whose tmpfs holds the work dirs -- gives up root for good,
empties its environment and only then serves code. Each child it forks confines itself further
(``executor.py``: user namespace, no capabilities, seccomp allow-list) and the runtime adds
Landlock and the rlimits.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from typing import Any

from sandbox.jail.executor import THREAD_ALLOWANCE, JailExecutor
from sandbox.restricted.worker_main import _warm_scientific_stack
from sandbox.runtime import lockdown
from sandbox.runtime.forkserver import ServerConfig, default_readonly_paths, serve
from sandbox.runtime.preload import preload_data_stack

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
    # a thread. As root the namespaces come after the imports, which may read files (a Python
    # under /root, the matplotlib cache) that the new mount namespace hides.
    isolation: dict[str, Any] = join_holder(int(holder)) if holder else {}
    _warm_scientific_stack(None)
    missing = preload_data_stack()
    executor = JailExecutor()
    threads = len(os.listdir("/proc/self/task"))
    if not holder:
        isolation.update(lockdown.isolate_namespaces(keep_readable=readonly))
    isolation["threads_at_lockdown"] = threads
    isolation["privileges_dropped"] = lockdown.drop_privileges()
    isolation["uid"] = os.getuid()
    lockdown.forbid_new_privileges()
    lockdown.forbid_ptrace_and_core()
    lockdown.set_limit(resource.RLIMIT_CORE, 0)
    lockdown.set_limit(resource.RLIMIT_NOFILE, 4096)
    os.environ.clear()
    # No RLIMIT_NPROC=0 from the runtime: each child caps its own tasks in its own user
    # namespace, and its seccomp filter refuses every kind of fork. Nor the runtime's seccomp
    # deny-list: the allow-list is stricter, and the deny-list would forbid that unshare.
    config = ServerConfig(
        readonly_paths=readonly, seccomp=False, block_new_processes=False, reap_in_background=True
    )
    isolation.update(
        seccomp="allow-list",
        thread_allowance=THREAD_ALLOWANCE,
        preload_missing=missing,
        landlock_scoped=lockdown.landlock_abi() >= 6,
    )
    serve(executor, config, isolation)
    os._exit(0)  # children are reaped; skip tearing down the data stack for nothing


if __name__ == "__main__":
    main()
