"""The host's side of a run's work dir: inputs in, created files out, nothing followed.

The host runs as root and the directory belongs to the sandbox user, who may have planted
symlinks, FIFOs or hard links in it. So every path is walked one component at a time through
directory fds with O_NOFOLLOW, only regular single-link files owned by the sandbox user are
read, and sizes are capped: a symlink to /etc/shadow must never be read (or written) as root.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass, field

MAX_ENTRIES = 10_000
MAX_DEPTH = 16
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

Fingerprint = tuple[int, int, int]  # inode, size, mtime_ns
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _others_can_enter(path: str) -> bool:
    """Whether a user with no special rights can reach ``path``: every directory on the way
    (the path itself included) is searchable by "others"."""
    path = os.path.realpath(path)
    while True:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return False
        if not (stat.S_ISDIR(mode) and mode & stat.S_IXOTH):
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


SYSTEM_TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _machine() -> str:
    """This host and PID namespace, short: pids of another namespace are not ours to judge."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "?"
    return hashlib.sha256(f"{socket.gethostname()}@{namespace}".encode()).hexdigest()[:8]


def owner_key() -> str:
    """machine.pid.start-time of this process, put in the base dir's name so that the next
    start can tell a dead owner's leftovers (``remove_orphans``) from a live sandbox's."""
    return f"{_machine()}.{os.getpid()}.{_process_start(os.getpid()) or 0}"


def _owner_is_dead(key: str) -> bool:
    machine, _, rest = key.partition(".")
    pid, _, started = rest.partition(".")
    if machine != _machine() or not pid.isdigit():
        return False
    return _process_start(int(pid)) != started


def remove_orphans(prefix: str) -> list[str]:
    """Base dirs (with their tmpfs, as root) left by sandboxes whose process was killed before
    it could clean up: found by name in the temp dirs, unmounted and removed. Returns them."""
    removed = []
    for parent in dict.fromkeys([tempfile.gettempdir(), *SYSTEM_TEMP_DIRS]):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            if not name.startswith(prefix):
                continue
            key = name[len(prefix) :].rsplit("-", 1)[0]
            if not _owner_is_dead(key):
                continue
            path = os.path.join(parent, name)
            for _layer in range(8):  # a mount may be stacked; lazily detach each
                if not os.path.ismount(path) or _libc.umount2(path.encode(), _MNT_DETACH) != 0:
                    break
            if os.path.ismount(path):
                continue  # not ours to unmount (no privilege): never rmtree into a mount
            remove_workdir(path)
            if not os.path.exists(path):
                removed.append(path)
    return removed


def make_base_dir(prefix: str, for_other_user: bool) -> str:
    """The sandbox's own directory for work dirs, mode 0711 (the sandbox user may enter, list
    nothing). When the workers run as another user, TMPDIR may be unreachable for it (pytest's
    0700 temp dirs, a private per-user TMPDIR): the first system temp dir it can reach is used
    instead, and if there is none we fail here, naming the problem, not in every run. Its name
    carries ``owner_key()``."""
    candidates = [tempfile.gettempdir()]
    if for_other_user:
        candidates += list(SYSTEM_TEMP_DIRS)
        candidates = [c for c in dict.fromkeys(candidates) if _others_can_enter(c)]
        if not candidates:
            raise OSError(
                f"no temp dir the sandbox user can enter (TMPDIR={tempfile.gettempdir()!r} and "
                "/tmp, /var/tmp, /dev/shm are not searchable by others)"
            )
    path = tempfile.mkdtemp(prefix=f"{prefix}{owner_key()}-", dir=candidates[0])
    os.chmod(path, 0o711)
    return path


def mount_size_cap(path: str, max_mb: int, max_files: int) -> str | None:
    """Put a tmpfs of ``max_mb`` MB and ``max_files`` inodes on ``path`` (the sandbox's base
    dir), so all its work dirs together cannot fill the host's disk: a write past the cap fails
    with ENOSPC inside the user's code. Needs root; returns why it could not, or None."""
    options = f"size={int(max_mb)}m,nr_inodes={int(max_files)},mode=0711".encode()
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    if _libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, options) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def unmount(path: str) -> None:
    """Detach the tmpfs (lazily: a fork-server's own mount namespace may still hold a copy,
    which goes away with it)."""
    _libc.umount2(path.encode(), _MNT_DETACH)


def disk_usage(path: str) -> tuple[int, int]:
    """Bytes allocated to the regular files under ``path``, and how many entries it holds
    (for machines where the tmpfs cap is not available)."""
    total = files = 0
    for _relpath, info in _walk(path):
        total += info.st_blocks * 512
        files += 1
    return total, files


def make_workdir(parent: str, owner: int | None) -> str:
    path = tempfile.mkdtemp(prefix="run-", dir=parent)
    os.chmod(path, 0o700)
    if owner is not None:
        os.chown(path, owner, owner)
    return path


def remove_workdir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)  # fd-based on Linux: never follows symlinks


def _parts(name: str) -> list[str]:
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"input file name must be a relative path without '..': {name!r}")
    if len(parts) > MAX_DEPTH or "\0" in name:
        raise ValueError(f"input file name is not acceptable: {name!r}")
    return parts


def write_inputs(workdir: str, files: dict[str, bytes], owner: int | None) -> None:
    """Place input files (``"data/x.csv"`` creates ``data/``), replacing whatever is there."""
    for name, content in files.items():
        if not isinstance(content, bytes | bytearray | memoryview):
            raise TypeError(f"input file {name!r} must be bytes, not {type(content).__name__}")
        parts = _parts(name)
        dir_fd = os.open(workdir, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                child_fd = _enter_or_make(dir_fd, part, owner)
                os.close(dir_fd)
                dir_fd = child_fd
            _write_file(dir_fd, parts[-1], bytes(content), owner)
        finally:
            os.close(dir_fd)


def _enter_or_make(dir_fd: int, name: str, owner: int | None) -> int:
    """Open (creating if needed) a subdirectory of ``dir_fd``, never through a symlink."""
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        if owner is not None:
            os.chown(name, owner, owner, dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise ValueError(f"{name!r} exists in the work dir and is not a directory") from exc


def _write_file(dir_fd: int, name: str, content: bytes, owner: int | None) -> None:
    for _attempt in range(2):
        try:
            fd = os.open(name, _WRITE_FLAGS, 0o600, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EWOULDBLOCK):
                raise
            fd = -1
        if fd >= 0:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                try:
                    if owner is not None:
                        os.fchown(fd, owner, owner)
                    view = memoryview(content)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                return
            os.close(fd)
        try:  # a symlink, FIFO or extra hard link was planted under that name: replace it
            os.unlink(name, dir_fd=dir_fd)
        except IsADirectoryError:
            raise ValueError(f"{name!r} is a directory in the work dir") from None
        except OSError as exc:
            raise ValueError(f"cannot replace {name!r} in the work dir: {exc}") from None
    raise ValueError(f"cannot write {name!r} into the work dir")


@dataclass
class Snapshot:
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)


def snapshot(workdir: str) -> Snapshot:
    """Fingerprints of the regular files now in the work dir, to tell later what changed."""
    result = Snapshot()
    for relpath, info in _walk(workdir):
        result.fingerprints[relpath] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return result


def collect_changed(
    workdir: str, before: Snapshot, max_total_bytes: int, owner: int | None
) -> tuple[dict[str, bytes], list[str]]:
    """Files created or changed since ``before``, and notes on what was left out and why."""
    files: dict[str, bytes] = {}
    notes: list[str] = []
    budget = max_total_bytes
    for relpath, info in _walk(workdir, want_fds=True):
        fingerprint = (info.st_ino, info.st_size, info.st_mtime_ns)
        if before.fingerprints.get(relpath) == fingerprint:
            continue
        if owner is not None and info.st_uid != owner:
            notes.append(f"{relpath}: not returned (not owned by the sandbox user)")
            continue
        if info.st_nlink != 1:
            notes.append(f"{relpath}: not returned (hard link)")
            continue
        if info.st_size > budget:
            notes.append(f"{relpath}: not returned ({info.st_size} bytes over the size cap)")
            continue
        content = _read_at_most(info.fd, budget)
        if content is None:
            notes.append(f"{relpath}: not returned (grew past the size cap)")
            continue
        budget -= len(content)
        files[relpath] = content
    return files, notes


class _Entry:
    """stat of a regular file, plus an open fd when the walk was asked for one."""

    def __init__(self, info: os.stat_result, fd: int) -> None:
        self.st_ino, self.st_size, self.st_mtime_ns = info.st_ino, info.st_size, info.st_mtime_ns
        self.st_uid, self.st_nlink = info.st_uid, info.st_nlink
        self.st_blocks = info.st_blocks
        self.fd = fd


def _walk(workdir: str, want_fds: bool = False):
    """Yield (relative path, entry) for regular files, without following any link. When
    ``want_fds`` the entry's fd is open only until the next item is requested."""
    count = 0
    stack: list[tuple[int, str, int]] = [(os.open(workdir, _DIR_FLAGS), "", 0)]
    try:
        while stack:
            dir_fd, prefix, depth = stack.pop()
            try:
                names = sorted(os.listdir(dir_fd))
                for name in names:
                    count += 1
                    if count > MAX_ENTRIES:
                        return
                    relpath = prefix + name
                    try:
                        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(info.st_mode) and depth + 1 < MAX_DEPTH:
                        try:
                            stack.append(
                                (os.open(name, _DIR_FLAGS, dir_fd=dir_fd), relpath + "/", depth + 1)
                            )
                        except OSError:
                            continue
                    elif stat.S_ISREG(info.st_mode):
                        if not want_fds:
                            yield relpath, _Entry(info, -1)
                            continue
                        try:
                            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
                        except OSError:
                            continue
                        try:
                            opened = os.fstat(fd)  # what we opened is what we judge
                            if stat.S_ISREG(opened.st_mode):
                                yield relpath, _Entry(opened, fd)
                        finally:
                            os.close(fd)
            finally:
                os.close(dir_fd)
    finally:
        for dir_fd, _, _ in stack:
            os.close(dir_fd)


def _read_at_most(fd: int, limit: int) -> bytes | None:
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None
