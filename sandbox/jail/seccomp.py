"""The jail's seccomp filter: an ALLOW-list of the system calls CPython and the data stack need.

The jail runs real CPython, so user code can reach any syscall through ``os`` or ``ctypes``; a
deny-list (the restricted backend's) only names the dangerous calls someone thought of. Here
everything not listed is refused with EPERM, and a few calls are allowed only with safe
arguments. The list was derived by running the data-stack workloads of ``benchmarks/`` and the
test batteries (pandas CSV/parquet/xlsx, matplotlib, seaborn, scipy, scikit-learn, PIL, sqlite)
under ``strace -f`` in a forked child, then reviewed call by call:

- files: only through calls Landlock checks (open, mkdir, rename, link, unlink, truncate...).
  Landlock does NOT check metadata changes: chmod, chown and utimes -- by path or on a file
  merely opened for reading, such as the app's own files when the workers share its uid -- are
  answered "done" without doing anything (so ``shutil.copy`` still works), and every xattr call
  says the filesystem has none.
- processes: no fork, vfork, exec or clone without CLONE_THREAD (EAGAIN, as a full process table
  would say); clone3 answers ENOSYS so glibc falls back to clone, where the flags are visible.
  Threads are allowed; their number is capped by RLIMIT_NPROC in the child's own user namespace.
- network: no ``socket()`` of any family, no connect/bind/listen/accept; only
  ``socketpair(AF_UNIX, SOCK_STREAM)`` (asyncio's self-pipe), whose ends cannot be connected
  anywhere else; ``sendto`` only without a destination address.
- signals only to the process itself (kill/tkill/tgkill with its own pid; no F_SETOWN, which
  would have the kernel send SIGIO to another process), rlimits only of itself
  (prlimit64 pid 0), a handful of prctl options, and terminal ioctls that only read (no TIOCSTI).
- never: ptrace, process_vm_*, mount, unshare, setns, keyctl, bpf, io_uring, userfaultfd,
  perf_event_open, memfd_create, pidfd_*, inotify, namespaces, modules, setuid and friends.

Syscalls of a foreign ABI (i386 or x32 entry points) kill the process.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

from sandbox.runtime.seccomp import _SockFilter, _SockFprog

# x86_64 numbers (asm/unistd_64.h). Other architectures have no table yet: the jail refuses to
# start there (see ``supported``) rather than run without the filter.
_X86_64 = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6,
    "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16,
    "pread64": 17, "pwrite64": 18, "readv": 19, "writev": 20, "access": 21, "pipe": 22,
    "select": 23, "sched_yield": 24, "mremap": 25, "msync": 26, "madvise": 28, "dup": 32,
    "dup2": 33, "pause": 34, "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38,
    "getpid": 39, "sendfile": 40, "socket": 41, "connect": 42, "accept": 43, "sendto": 44,
    "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "shutdown": 48, "bind": 49, "listen": 50,
    "getsockname": 51, "getpeername": 52, "socketpair": 53, "setsockopt": 54,
    "getsockopt": 55, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "exit": 60,
    "wait4": 61, "kill": 62, "uname": 63, "fcntl": 72, "flock": 73, "fsync": 74,
    "fdatasync": 75, "truncate": 76, "ftruncate": 77, "getdents": 78, "getcwd": 79,
    "chdir": 80, "fchdir": 81, "rename": 82, "mkdir": 83, "rmdir": 84, "creat": 85,
    "link": 86, "unlink": 87, "symlink": 88, "readlink": 89, "chmod": 90, "fchmod": 91,
    "chown": 92, "fchown": 93, "lchown": 94, "utime": 132, "utimes": 235, "fchownat": 260,
    "futimesat": 261, "fchmodat": 268, "fchmodat2": 452,
    "umask": 95, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "sysinfo": 99,
    "times": 100, "getuid": 102, "getgid": 104, "geteuid": 107, "getegid": 108,
    "getppid": 110, "getpgrp": 111, "getgroups": 115, "getresuid": 118, "getresgid": 120,
    "getpgid": 121, "getsid": 124, "capget": 125, "rt_sigpending": 127,
    "rt_sigtimedwait": 128, "rt_sigsuspend": 130, "sigaltstack": 131, "statfs": 137,
    "fstatfs": 138, "getpriority": 140, "sched_getparam": 143, "sched_getscheduler": 145,
    "sched_get_priority_max": 146, "sched_get_priority_min": 147,
    "sched_rr_get_interval": 148, "prctl": 157, "arch_prctl": 158, "setrlimit": 160,
    "gettid": 186, "readahead": 187, "getxattr": 191, "lgetxattr": 192, "fgetxattr": 193,
    "listxattr": 194, "llistxattr": 195, "flistxattr": 196, "setxattr": 188,
    "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198,
    "fremovexattr": 199, "tkill": 200, "time": 201, "futex": 202,
    "sched_getaffinity": 204, "getdents64": 217, "set_tid_address": 218,
    "fadvise64": 221, "timer_create": 222, "timer_settime": 223, "timer_gettime": 224,
    "timer_getoverrun": 225, "timer_delete": 226, "clock_gettime": 228,
    "clock_getres": 229, "clock_nanosleep": 230, "exit_group": 231, "epoll_wait": 232,
    "epoll_ctl": 233, "tgkill": 234, "mbind": 237, "set_mempolicy": 238,
    "get_mempolicy": 239, "waitid": 247, "openat": 257, "mkdirat": 258,
    "newfstatat": 262, "unlinkat": 263, "renameat": 264, "linkat": 265, "symlinkat": 266,
    "readlinkat": 267, "faccessat": 269, "pselect6": 270, "ppoll": 271,
    "set_robust_list": 273, "sync_file_range": 277, "epoll_pwait": 281,
    "timerfd_create": 283, "eventfd": 284, "fallocate": 285, "timerfd_settime": 286,
    "timerfd_gettime": 287, "signalfd4": 289, "eventfd2": 290, "epoll_create1": 291,
    "dup3": 292, "pipe2": 293, "preadv": 295, "pwritev": 296, "utimensat": 280,
    "prlimit64": 302, "getcpu": 309, "renameat2": 316, "getrandom": 318,
    "copy_file_range": 326, "preadv2": 327, "pwritev2": 328, "statx": 332, "rseq": 334,
    "clone3": 435, "close_range": 436, "openat2": 437, "faccessat2": 439,
    "epoll_pwait2": 441, "landlock_create_ruleset": 444, "landlock_add_rule": 445,
    "landlock_restrict_self": 446, "futex_waitv": 449,
}  # fmt: skip
_TABLES = {"x86_64": _X86_64}
_AUDIT_ARCH = {"x86_64": 0xC000003E}
_SYS_SECCOMP = {"x86_64": 317}
_X32_SYSCALL_BIT = 0x40000000
_SECCOMP_SET_MODE_FILTER = 1
_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Allowed whatever their arguments (Landlock, the rlimits and the namespaces judge them).
ALWAYS_ALLOWED = _words(
    """
    read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek sendfile
    copy_file_range readahead fadvise64 open openat openat2 creat close close_range dup dup2
    dup3 flock fsync fdatasync sync_file_range truncate ftruncate fallocate
    stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2 readlink
    readlinkat getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir unlink unlinkat
    rename renameat renameat2 link linkat symlink symlinkat umask
    mmap munmap mremap mprotect madvise msync brk mbind set_mempolicy get_mempolicy
    poll ppoll select pselect6 epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
    eventfd eventfd2 signalfd4 timerfd_create timerfd_settime timerfd_gettime pipe pipe2
    recvfrom recvmsg sendmsg shutdown getsockname getpeername getsockopt setsockopt
    rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend
    sigaltstack pause alarm getitimer setitimer timer_create timer_settime timer_gettime
    timer_getoverrun timer_delete nanosleep clock_nanosleep clock_gettime clock_getres
    gettimeofday time futex futex_waitv set_robust_list set_tid_address rseq
    getpid getppid gettid getuid geteuid getgid getegid getgroups getresuid getresgid
    getpgrp getpgid getsid capget uname sysinfo getrusage times getpriority getrlimit
    setrlimit getcpu sched_yield sched_getaffinity sched_getparam sched_getscheduler
    sched_get_priority_max sched_get_priority_min sched_rr_get_interval getrandom
    arch_prctl wait4 waitid exit exit_group
    landlock_create_ruleset landlock_add_rule landlock_restrict_self
    """
)
# Answered with a specific errno instead of EPERM, so libraries take their usual fallback; 0 means
# "done" without doing anything.
ERRNO_ANSWERS = {
    **{
        name: 0  # chmod/chown/utimes: accepted and ignored (see the module docstring)
        for name in _words(
            "chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime utimes futimesat "
            "utimensat"
        )
    },
    "clone3": errno.ENOSYS,  # glibc then uses clone, whose flags the filter can read
    "fork": errno.EAGAIN,
    "vfork": errno.EAGAIN,
    **{
        name: errno.EOPNOTSUPP  # "this filesystem has no xattrs": shutil.copy2 carries on
        for name in _words(
            "getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr setxattr lsetxattr "
            "fsetxattr removexattr lremovexattr fremovexattr"
        )
    },
}

CLONE_THREAD = 0x00010000
AF_UNIX = 1
SOCK_STREAM = 1
_SOCK_TYPE_FLAGS = 0o2000000 | 0o4000  # SOCK_CLOEXEC | SOCK_NONBLOCK
_PRCTL_OPTIONS = (
    2,  # PR_GET_PDEATHSIG
    3,  # PR_GET_DUMPABLE
    15,  # PR_SET_NAME
    16,  # PR_GET_NAME
    21,  # PR_GET_SECCOMP
    23,  # PR_CAPBSET_READ
    38,  # PR_SET_NO_NEW_PRIVS (Landlock's restrict_self sets it again)
    39,  # PR_GET_NO_NEW_PRIVS
    0x53564D41,  # PR_SET_VMA (glibc names its anonymous mappings)
)
# F_SETOWN, F_SETOWN_EX: would make the kernel send SIGIO/SIGURG to another process.
_FCNTL_REFUSED = (8, 15)
_IOCTL_COMMANDS = (
    0x5401,  # TCGETS (isatty)
    0x5413,  # TIOCGWINSZ
    0x541B,  # FIONREAD
    0x5421,  # FIONBIO
    0x5450,  # FIONCLEX
    0x5451,  # FIOCLEX
)

# --------------------------------------------------------------------------- BPF assembly

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_AND_K = 0x54
_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_OFFSET_NR = 0
_OFFSET_ARCH = 4

Instruction = tuple[int, int | str, int | str, int]


def _errno(code: int) -> int:
    return _RET_ERRNO | code


def _arg_low(index: int) -> Instruction:
    return (_LD_W_ABS, 0, 0, 16 + 8 * index)


def _arg_high(index: int) -> Instruction:
    return (_LD_W_ABS, 0, 0, 20 + 8 * index)


def _resolve(items: list) -> list[tuple[int, int, int, int]]:
    """Turn label names in jt/jf into forward offsets (``("label", name)`` marks a place)."""
    positions: dict[str, int] = {}
    count = 0
    for item in items:
        if item[0] == "label":
            positions[item[1]] = count
        else:
            count += 1
    program, index = [], 0
    for item in items:
        if item[0] == "label":
            continue
        code, jt, jf, k = item

        def offset(target: int | str, at: int = index) -> int:
            if isinstance(target, int):
                return target
            distance = positions[target] - at - 1
            if not 0 <= distance <= 255:
                raise ValueError(f"BPF jump to {target!r} out of range ({distance})")
            return distance

        program.append((code, offset(jt), offset(jf), k))
        index += 1
    return program


def _guarded(number: int, block: list) -> list[tuple[int, int, int, int]]:
    """``if nr == number: <block, which always returns>``; else fall through."""
    body = _resolve(block)
    return [(_JEQ_K, 0, len(body), number), *body]


def _low_in(index: int, values: Iterable[int], deny: int) -> list:
    """Allow when the low 32 bits of argument ``index`` are one of ``values`` (int arguments:
    the kernel reads only those bits)."""
    block: list = [_arg_low(index)]
    block += [(_JEQ_K, "allow", 0, value & 0xFFFFFFFF) for value in values]
    return [*block, (_RET_K, 0, 0, deny), ("label", "allow"), (_RET_K, 0, 0, RET_ALLOW)]


def _low_not_in(index: int, values: Iterable[int], deny: int) -> list:
    """Allow unless the low 32 bits of argument ``index`` are one of ``values``."""
    block: list = [_arg_low(index)]
    block += [(_JEQ_K, "deny", 0, value & 0xFFFFFFFF) for value in values]
    return [*block, (_RET_K, 0, 0, RET_ALLOW), ("label", "deny"), (_RET_K, 0, 0, deny)]


def _is_null(index: int, deny: int) -> list:
    """Allow when pointer argument ``index`` is NULL (all 64 bits zero)."""
    return [
        _arg_low(index),
        (_JEQ_K, 0, "deny", 0),
        _arg_high(index),
        (_JEQ_K, "allow", "deny", 0),
        ("label", "deny"),
        (_RET_K, 0, 0, deny),
        ("label", "allow"),
        (_RET_K, 0, 0, RET_ALLOW),
    ]


def _clone_threads_only() -> list:
    return [
        _arg_low(0),
        (_JSET_K, "allow", 0, CLONE_THREAD),
        (_RET_K, 0, 0, _errno(errno.EAGAIN)),
        ("label", "allow"),
        (_RET_K, 0, 0, RET_ALLOW),
    ]


def _socketpair_unix_stream() -> list:
    deny = _errno(errno.EPERM)
    return [
        _arg_low(0),
        (_JEQ_K, 0, "deny", AF_UNIX),
        _arg_low(1),
        (_AND_K, 0, 0, ~_SOCK_TYPE_FLAGS & 0xFFFFFFFF),
        (_JEQ_K, "allow", "deny", SOCK_STREAM),
        ("label", "deny"),
        (_RET_K, 0, 0, deny),
        ("label", "allow"),
        (_RET_K, 0, 0, RET_ALLOW),
    ]


def build_program(pid: int, machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter for process ``pid`` (signals may only go to itself)."""
    machine = machine or os.uname().machine
    table = _TABLES[machine]
    eperm = _errno(errno.EPERM)
    program: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        (_RET_K, 0, 0, RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _OFFSET_NR),
        (_JSET_K, 0, 1, _X32_SYSCALL_BIT),
        (_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    for name in sorted(ALWAYS_ALLOWED, key=table.__getitem__):
        program += [(_JEQ_K, 0, 1, table[name]), (_RET_K, 0, 0, RET_ALLOW)]
    for name, code in sorted(ERRNO_ANSWERS.items()):
        program += [(_JEQ_K, 0, 1, table[name]), (_RET_K, 0, 0, _errno(code))]
    conditional = {
        "clone": _clone_threads_only(),
        "socketpair": _socketpair_unix_stream(),
        "sendto": _is_null(4, eperm),
        "prlimit64": _low_in(0, (0,), eperm),
        "kill": _low_in(0, (pid,), eperm),
        "tkill": _low_in(0, (pid,), eperm),
        "tgkill": _low_in(0, (pid,), eperm),
        "prctl": _low_in(0, _PRCTL_OPTIONS, _errno(errno.EINVAL)),
        "ioctl": _low_in(1, _IOCTL_COMMANDS, _errno(errno.ENOTTY)),
        "fcntl": _low_not_in(1, _FCNTL_REFUSED, eperm),
    }
    for name, block in conditional.items():
        program += _guarded(table[name], block)
    program.append((_RET_K, 0, 0, eperm))
    return program


def allowed_names() -> frozenset[str]:
    """Every syscall the filter lets through in some form (for review and tests)."""
    return ALWAYS_ALLOWED | {
        "clone",
        "socketpair",
        "sendto",
        "prlimit64",
        "kill",
        "tkill",
        "tgkill",
        "prctl",
        "ioctl",
        "fcntl",
    }


def supported(machine: str | None = None) -> bool:
    return (machine or os.uname().machine) in _TABLES


def install(pid: int | None = None) -> None:
    """Install the filter on the calling process (inherited by its threads, permanent)."""
    machine = os.uname().machine
    program = build_program(os.getpid() if pid is None else pid, machine)
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    fprog = _SockFprog(len(program), filters)
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(NO_NEW_PRIVS): {os.strerror(code)}")
    filter_mode = _SECCOMP_SET_MODE_FILTER
    if _libc.syscall(_SYS_SECCOMP[machine], filter_mode, 0, ctypes.byref(fprog)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"seccomp allow-list: {os.strerror(code)}")
