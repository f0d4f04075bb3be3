"""Kernel-level confinement for sandbox workers: namespaces, rlimits, privilege drop, Landlock.

The code policy of the restricted backend is not a security boundary on its own, so everything
here assumes the Python inside the worker is already hostile: the limits must hold even against
code calling syscalls directly. Standard library only (ctypes for the syscalls Python does not
wrap), because this module also runs inside the Docker image.

Every step reports what it achieved instead of raising when the kernel or our privileges do not
allow it, so the host can say exactly which isolation is degraded rather than refusing to run.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import stat
from collections.abc import Iterable

# _check (a failed libc call as OSError) is shared with the seccomp module.
from sandbox.runtime.seccomp import _check, deny_risky_syscalls, seccomp_supported

__all__ = ["deny_risky_syscalls", "seccomp_supported"]  # re-exported: callers use lockdown

NOBODY = 65534

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000

_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38

# Syscall numbers >= 424 are shared by every architecture Linux still adds syscalls to.
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446

_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_OPEN_TREE_CLONE = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


# --------------------------------------------------------------------------- process attributes


def die_with_parent(signal_number: int = 9) -> None:
    """Have the kernel kill us when our parent dies, so no child outlives its fork-server."""
    _prctl(_PR_SET_PDEATHSIG, signal_number)


def forbid_new_privileges() -> None:
    """No setuid binary or file capability can ever give privileges back (and Landlock needs it)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def forbid_ptrace_and_core() -> None:
    """Other processes of the same unprivileged user cannot ptrace us or read /proc/<pid>/mem."""
    _prctl(_PR_SET_DUMPABLE, 0)


def set_limit(kind: int, soft: int, hard: int | None = None) -> None:
    """Set an rlimit, never asking for more than the current hard limit (which would fail)."""
    _, current_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard) if hard != resource.RLIM_INFINITY else current_hard
        soft = min(soft, hard) if soft != resource.RLIM_INFINITY else hard
    resource.setrlimit(kind, (soft, hard))


def address_space_bytes() -> int:
    """Current virtual size: the memory limit is added on top of what the warm worker maps."""
    with open("/proc/self/statm", "rb") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def drop_privileges(uid: int = NOBODY, gid: int = NOBODY) -> bool:
    """Become an unprivileged user if we are root (root ignores RLIMIT_NPROC and file modes)."""
    if os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    return True


def seal_server() -> dict[str, object]:
    """A worker's last steps before it serves (after its namespaces): root given up for good,
    no new privileges, no ptrace of it and no core dumps, a cap on open files. Returns what
    to report in ``isolation``."""
    report: dict[str, object] = {"privileges_dropped": drop_privileges(), "uid": os.getuid()}
    forbid_new_privileges()
    forbid_ptrace_and_core()
    set_limit(resource.RLIMIT_CORE, 0)
    set_limit(resource.RLIMIT_NOFILE, 4096)
    return report


_MADV_COLLAPSE = 25  # Linux 6.1
_HUGE_PAGE = 2 * 1024 * 1024


def collapse_to_huge_pages() -> int:
    """Back the warm heap with 2 MiB pages where the kernel can, once, before forking starts.

    fork() copies one page-table entry per 4 KiB page of anonymous memory; after imports
    that is most of a fork's cost. A collapsed 2 MiB page is one entry, which roughly halves
    the fork (a child's write still copies only 4 KiB: the kernel splits the huge page).
    The regions are not marked MADV_HUGEPAGE, so children still fault in small pages.
    Returns the bytes collapsed; 0 where unsupported.
    """
    _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    collapsed = 0
    try:
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
    except OSError:
        return 0
    for fields in regions:
        if fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start = (low + _HUGE_PAGE - 1) & ~(_HUGE_PAGE - 1)
        end = high & ~(_HUGE_PAGE - 1)
        if end > start and _libc.madvise(start, end - start, _MADV_COLLAPSE) == 0:
            collapsed += end - start
    return collapsed


# --------------------------------------------------------------------------- namespaces


def isolate_namespaces(keep_readable: Iterable[str] = ()) -> dict[str, bool]:
    """Give this process (and everything it forks) its own network, mount and IPC namespaces.

    The new network namespace has only a loopback interface, and it is down: no route anywhere.
    As root the mount namespace also lets us hide directories the unprivileged user could not
    enter anyway (a Python installed under /root) behind a tmpfs and re-expose only the paths in
    ``keep_readable``; nothing else of such a directory stays visible.
    """
    report = {"network": False, "mounts": False, "ipc": False, "user_namespace": False}
    if os.geteuid() == 0:
        if _libc.unshare(_CLONE_NEWNET | _CLONE_NEWNS) == 0:
            report["network"] = True
            report["mounts"] = _make_mounts_private_and_reveal(keep_readable)
            # System V / POSIX IPC objects of the host (shared memory of other programs) vanish.
            report["ipc"] = _libc.unshare(_CLONE_NEWIPC) == 0
        elif _libc.unshare(_CLONE_NEWNET) == 0:
            report["network"] = True
        return report
    # Unprivileged: a user namespace is what lets us create a network namespace at all.
    if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        report["network"] = True
        report["user_namespace"] = True
        # The new namespace hands us every capability inside it; nothing here needs one.
        report["capabilities_dropped"] = drop_capabilities()
    return report


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> bool:
    """Clear this process's effective, permitted and inheritable capability sets for good."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    return _libc.capset(ctypes.byref(header), ctypes.byref(data)) == 0


def private_mounts_revealing(paths: Iterable[str]) -> bool:
    """As root: a mount namespace of our own in which every directory other users cannot
    traverse on the way to ``paths`` is covered by a tmpfs showing only those paths (nothing
    on the host changes). scripts/run-as-user.py uses it to hand a checkout and its Python
    to an unprivileged user wherever they live."""
    if _libc.unshare(_CLONE_NEWNS) != 0:
        return False
    return _make_mounts_private_and_reveal(paths)


def _make_mounts_private_and_reveal(keep_readable: Iterable[str]) -> bool:
    if _libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    hidden: dict[str, list[str]] = {}
    for path in _outermost(os.path.realpath(p) for p in keep_readable if os.path.exists(p)):
        ancestor = _closed_ancestor(path)
        if ancestor is not None:
            hidden.setdefault(ancestor, []).append(path)
    for ancestor, paths in hidden.items():
        trees = [(path, _clone_tree(path)) for path in paths]
        options = b"mode=0755,size=1m"
        _check(
            _libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options),
            f"mount tmpfs on {ancestor}",
        )
        for path, tree_fd in trees:
            os.makedirs(path, mode=0o755, exist_ok=True)
            _check(
                _libc.syscall(
                    _SYS_MOVE_MOUNT,
                    tree_fd,
                    b"",
                    _AT_FDCWD,
                    path.encode(),
                    _MOVE_MOUNT_F_EMPTY_PATH,
                ),
                f"move_mount {path}",
            )
            os.close(tree_fd)
    return True


def _clone_tree(path: str) -> int:
    return _check(
        _libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, path.encode(), _OPEN_TREE_CLONE | _AT_RECURSIVE),
        f"open_tree {path}",
    )


def _outermost(paths: Iterable[str]) -> list[str]:
    """Drop paths nested in another path of the list."""
    result: list[str] = []
    for path in sorted(set(paths)):
        if not any(path == kept or path.startswith(kept.rstrip("/") + "/") for kept in result):
            result.append(path)
    return result


def _closed_ancestor(path: str) -> str | None:
    """The outermost directory above ``path`` that other users cannot traverse, if any."""
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:depth])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None


# --------------------------------------------------------------------------- Landlock

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
READ_WRITE = (
    READ_ONLY
    | FS_WRITE_FILE
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_SYM
    | FS_REFER
    | FS_TRUNCATE
)
_FILE_ONLY_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
_RULE_PATH_BENEATH = 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


class Landlock:
    """A Landlock ruleset: deny every filesystem right (and TCP, and signals or abstract sockets
    leaving the domain, where the ABI knows them) except what ``allow`` grants beneath a path."""

    def __init__(self, abi: int) -> None:
        if abi < 1:
            raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
        self.abi = abi
        self.handled_fs = _handled_fs(abi)
        attr = _RulesetAttr(self.handled_fs, 0, 0)
        size = 8
        if abi >= 4:
            attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
            size = 16
        if abi >= 6:
            attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            size = 24
        self.fd = _check(
            _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0),
            "landlock_create_ruleset",
        )

    def allow(self, path_fd: int, access: int) -> None:
        """Grant ``access`` beneath the directory (or on the file) open as ``path_fd`` (O_PATH)."""
        access &= self.handled_fs
        if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
            access &= _FILE_ONLY_RIGHTS
        if not access:
            return
        rule = _PathBeneathAttr(access, path_fd)
        _check(
            _libc.syscall(
                _SYS_LANDLOCK_ADD_RULE, self.fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0
            ),
            "landlock_add_rule",
        )

    def allow_path(self, path: str, access: int) -> None:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            self.allow(fd, access)
        finally:
            os.close(fd)

    def restrict_self(self) -> None:
        """Enforce on this thread and everything it forks afterwards. There is no way back."""
        forbid_new_privileges()
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, self.fd, 0), "landlock_restrict_self")
        os.close(self.fd)
        self.fd = -1


def open_path_fds(paths: Iterable[str]) -> list[int]:
    """O_PATH fds of the paths that exist, opened once by the fork-server so that every child
    can build its ruleset without resolving paths again."""
    fds = []
    for path in dict.fromkeys(paths):
        try:
            fds.append(os.open(path, os.O_PATH | os.O_CLOEXEC))
        except OSError:
            continue
    return fds
