"""A seccomp filter for sandbox children: a deny-list of risky syscalls, sockets, and calls that
act on other processes.

Standard library only (ctypes), like the rest of the runtime: it also runs inside the Docker
image. ``lockdown`` re-exports ``deny_risky_syscalls`` and ``seccomp_supported``.
"""

from __future__ import annotations

import ctypes
import errno
import os

_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}.get(os.uname().machine, -1)
_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def forbid_new_privileges() -> None:
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0), "prctl(NO_NEW_PRIVS)")


# A short deny-list on top of Landlock and the rlimits, for kernel interfaces a Python run has
# no business with and that the other layers do not cover: anonymous memory files (memfd pages
# escape RLIMIT_AS), System V / POSIX IPC, io_uring, eBPF, userfaultfd, perf, ptrace and
# cross-process memory access, keyrings, namespaces and mounts, kernel modules. Denied calls
# fail with EPERM; syscalls of a foreign ABI (i386 or x32 entry points) are refused outright.

_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000

_DENIED_SYSCALLS = {
    "x86_64": {
        "memfd_create": 319, "memfd_secret": 447, "userfaultfd": 323, "bpf": 321,
        "perf_event_open": 298, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "keyctl": 250, "add_key": 248, "request_key": 249,
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "shmget": 29, "msgget": 68, "mq_open": 240,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "kexec_load": 246,
        "init_module": 175, "finit_module": 313, "delete_module": 176,
    },
    "aarch64": {
        "memfd_create": 279, "memfd_secret": 447, "userfaultfd": 282, "bpf": 280,
        "perf_event_open": 241, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "keyctl": 219, "add_key": 217, "request_key": 218,
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "shmget": 194, "msgget": 186, "mq_open": 180,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "kexec_load": 104,
        "init_module": 105, "finit_module": 273, "delete_module": 106,
    },
}  # fmt: skip


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


# Calls that act on another process named by pid: with ``self_only`` they may name only the
# caller itself (or 0 where 0 means "me"), so code cannot signal, renice, re-limit or re-pin the
# fork-server, another session or the app (a non-root host runs them all under one uid).
# name: (pid argument index, whether 0 is allowed, required value of argument 0 or None)
_SELF_ONLY = {
    "kill": (0, False, None),  # kill(0) and kill(-1) reach a whole group / every process
    "tkill": (0, False, None),
    "tgkill": (0, False, None),
    "rt_sigqueueinfo": (0, False, None),
    "rt_tgsigqueueinfo": (0, False, None),
    "prlimit64": (0, True, None),
    "sched_setaffinity": (0, True, None),
    "sched_setscheduler": (0, True, None),
    "sched_setparam": (0, True, None),
    "sched_setattr": (0, True, None),
    "setpriority": (1, True, 0),  # which == PRIO_PROCESS
    "ioprio_set": (1, True, 1),  # which == IOPRIO_WHO_PROCESS
}
_SELF_ONLY_DENIED = ("pidfd_open", "pidfd_send_signal", "pidfd_getfd")
_SYSCALL_NUMBERS = {
    "x86_64": {
        "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297, "prlimit64": 302, "sched_setaffinity": 203,
        "sched_setscheduler": 144, "sched_setparam": 142, "sched_setattr": 314,
        "setpriority": 141, "ioprio_set": 251, "socket": 41, "pidfd_open": 434,
        "pidfd_send_signal": 424, "pidfd_getfd": 438,
    },
    "aarch64": {
        "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240, "prlimit64": 261, "sched_setaffinity": 122,
        "sched_setscheduler": 119, "sched_setparam": 118, "sched_setattr": 274,
        "setpriority": 140, "ioprio_set": 30, "socket": 198, "pidfd_open": 434,
        "pidfd_send_signal": 424, "pidfd_getfd": 438,
    },
}  # fmt: skip


def _assemble(items: list) -> list[tuple[int, int, int, int]]:
    """Classic BPF with symbolic jump targets: an item is a label (str) or (code, jt, jf, k)
    where jt/jf are relative offsets (int) or label names."""
    where, index = {}, 0
    for item in items:
        if isinstance(item, str):
            where[item] = index
        else:
            index += 1
    program, index = [], 0
    for item in items:
        if isinstance(item, str):
            continue
        code, jt, jf, k = item
        jt = where[jt] - index - 1 if isinstance(jt, str) else jt
        jf = where[jf] - index - 1 if isinstance(jf, str) else jf
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("seccomp program too long for a jump")
        program.append((code, jt, jf, k))
        index += 1
    return program


def _bpf_program(
    machine: str, deny_sockets: bool = False, self_pid: int | None = None
) -> list[tuple[int, int, int, int]]:
    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    numbers = _SYSCALL_NUMBERS[machine]
    denied = set(_DENIED_SYSCALLS[machine].values())
    if deny_sockets:
        denied.add(numbers["socket"])  # socketpair() stays: it reaches nobody
    if self_pid is not None:
        denied |= {numbers[name] for name in _SELF_ONLY_DENIED}
    items: list = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq_k, 1, 0, _AUDIT_ARCH[machine]),
        (ret_k, 0, 0, deny),
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        items.append((jset_k, "deny", 0, _X32_SYSCALL_BIT))
    items += [(jeq_k, "deny", 0, number) for number in sorted(denied)]
    checks: list = []
    if self_pid is not None:
        for name, (arg, zero_ok, which) in _SELF_ONLY.items():
            label = f"check_{name}"
            items.append((jeq_k, label, 0, numbers[name]))
            checks.append(label)
            if which is not None:  # argument 0 must select "a process"
                checks += [(ld_w_abs, 0, 0, 16), (jeq_k, 0, "deny", which)]
            checks += [(ld_w_abs, 0, 0, 16 + 8 * arg), (jeq_k, "allow", 0, self_pid & 0xFFFFFFFF)]
            checks.append((jeq_k, "allow", "deny", 0) if zero_ok else (ret_k, 0, 0, deny))
    items.append((ret_k, 0, 0, _SECCOMP_RET_ALLOW))
    # Classic BPF jumps only forward: the shared exits come after every check block.
    exits = ["allow", (ret_k, 0, 0, _SECCOMP_RET_ALLOW), "deny", (ret_k, 0, 0, deny)]
    return _assemble(items + checks + exits)


def seccomp_supported() -> bool:
    return os.uname().machine in _DENIED_SYSCALLS


def deny_risky_syscalls(deny_sockets: bool = False, self_only: bool = False) -> bool:
    """Install the deny-list filter on this process (inherited by its children, permanent).

    ``deny_sockets``: no socket() of any family (TCP, UDP, raw, netlink, and Unix sockets,
    which could reach the Docker socket or the app's own: Landlock ABI <= 7 does not govern
    connect() on a socket file). ``self_only``: signals, rlimits, priorities and CPU affinity
    may target only this process (see ``_SELF_ONLY``); for processes that fork nothing.
    False on an architecture we have no syscall table for."""
    machine = os.uname().machine
    if machine not in _DENIED_SYSCALLS:
        return False
    program = _bpf_program(machine, deny_sockets, os.getpid() if self_only else None)
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    fprog = _SockFprog(len(program), filters)
    forbid_new_privileges()
    _check(
        _libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog)),
        "seccomp",
    )
    return True
