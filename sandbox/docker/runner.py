"""The container's long-lived runner: the fork-server for plain CPython, plus the container's chores.

Runs inside the sandbox image (copied to /opt/mistral-executor/runner.py; tini is PID 1), started
once per container and fed requests over its stdin by the host through the engine's attach
socket. It is the fork-server of ``sandbox.runtime.forkserver`` with ``PlainExecutor`` -- each run
gets a fresh forked child confined by Landlock to its own work dir -- and adds what only a
container needs, because the host cannot reach into the container's filesystem:

- the request carries the input ``files``; the runner makes the run's work dir under /work,
  writes them, and returns the files the run created or changed (base64), then wipes the dir;
- after every run it kills whatever processes the run left behind and empties /tmp and /dev/shm,
  so the next run in this pooled container starts from nothing;
- it reads the container's cgroup counters to name the limit a run hit: a process killed by the
  memory cgroup is "memory", forks refused by the pids cgroup are "processes".

Protocol with the host: the fork-server's, except that ``run`` carries ``files`` (name -> base64)
instead of ``workdir``, and its result carries ``files`` too. As there, ``{"op": "accepted"}``
comes first: a runner that dies before sending it never saw the run, which may then be retried.
Standard library only.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import itertools
import json
import os
import shutil
import signal
import stat
import sys
import time
from typing import Any

sys.path.insert(0, "/opt/mistral-executor")  # -I keeps the script's own dir off sys.path

from sandbox.runtime import forkserver, lockdown  # noqa: E402
from sandbox.runtime.preload import WARM_PACKAGES, warmup_steps  # noqa: E402
from sandbox.runtime.protocol import write_frame  # noqa: E402
from sandbox.runtime.warmup import Warmup  # noqa: E402

WORK_ROOT = "/work"
SCRATCH_DIRS = ("/tmp", "/dev/shm")
MATPLOTLIB_CACHE = "/opt/mistral-executor/matplotlib"
MAX_RETURNED_FILES = 200
MAX_RETURNED_BYTES = 64 * 1024 * 1024
# Readable by every run besides the fork-server's defaults: /etc for the odd library that reads
# /etc/passwd or mime.types, /usr/bin for subprocess. It is the image's own copy, nothing of the host.
EXTRA_READONLY = ("/etc", "/usr/bin", "/usr/share")


def seed_matplotlib_cache() -> None:
    """Copy the font cache baked into the image to MPLCONFIGDIR (on the /tmp tmpfs)."""
    target = os.environ.get("MPLCONFIGDIR")
    if target and os.path.isdir(MATPLOTLIB_CACHE):
        shutil.copytree(MATPLOTLIB_CACHE, target, dirs_exist_ok=True)


class CgroupCounters:
    """The container's own cgroup event counters (v1 or v2), read before and after a run."""

    SOURCES = {
        "oom_kill": ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"),
        "pids_max": ("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"),
    }
    KEYS = {"oom_kill": "oom_kill", "pids_max": "max"}

    def read(self) -> dict[str, int]:
        counters = {}
        for name, paths in self.SOURCES.items():
            for path in paths:
                value = _counter(path, self.KEYS[name])
                if value is not None:
                    counters[name] = value
                    break
        return counters


def _counter(path: str, key: str) -> int | None:
    try:
        with open(path) as source:
            for line in source:
                parts = line.split()
                if len(parts) == 2 and parts[0] == key:
                    return int(parts[1])
    except (OSError, ValueError):
        return None
    return None


class ContainerServer(forkserver.ForkServer):
    """The fork-server with per-run work dirs, input and output files, and clean-up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counters = CgroupCounters()
        self.run_numbers = itertools.count(1)

    def _dispatch(self, request: dict[str, Any]) -> None:
        if request.get("op") != "run":
            super()._dispatch(request)
            return
        try:
            reply = self._run_in_workdir(request)
        except Exception as exc:  # our own failure: say so instead of dying silently
            reply = {
                "op": "error",
                "run": request.get("run"),
                "message": f"runner failed: {type(exc).__name__}: {exc}",
            }
        write_frame(self.host_reply_fd, reply)

    def _run_in_workdir(self, request: dict[str, Any]) -> dict[str, Any]:
        # From here on, never retry it. The host's nonce binds every reply to its run.
        write_frame(self.host_reply_fd, {"op": "accepted", "run": request.get("run")})
        session = request.get("session") if isinstance(request.get("session"), str) else None
        limits = request["limits"]
        workdir = self._workdir(session)
        os.makedirs(workdir, mode=0o700, exist_ok=True)
        place_files(workdir, request.get("files") or {})
        before_files = snapshot(workdir)
        before = self.counters.read()
        reply = self._forward({**request, "workdir": workdir, "files": None})
        self.kill_strays()
        after = self.counters.read()
        result = reply.setdefault("result", {})
        name_limit(result, before, after)
        result["files"] = collect_files(workdir, before_files, int(limits["max_file_bytes"]))
        if session is None or session not in self.sessions:
            shutil.rmtree(workdir, ignore_errors=True)
        clean_scratch(keep={self._workdir(name) for name in self.sessions})
        return reply

    def _forward(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run through the fork-server, catching the frame it writes instead of sending it."""
        capture = os.memfd_create("runner-reply", 0)
        self.reply_fd = capture
        try:
            super()._dispatch(request)
            size = os.lseek(capture, 0, os.SEEK_END)
            frame = os.pread(capture, size, 0)
        finally:
            self.reply_fd = self.host_reply_fd
            os.close(capture)
        replies = [reply for reply in _frames(frame) if reply.get("op") != "accepted"]
        if not replies:
            raise RuntimeError("the fork-server gave no reply")
        return replies[-1]

    def _workdir(self, session: str | None) -> str:
        if session is not None:
            digest = hashlib.sha256(session.encode()).hexdigest()[:16]
            return f"{WORK_ROOT}/session-{digest}"
        return f"{WORK_ROOT}/run-{next(self.run_numbers)}"

    def kill_strays(self) -> None:
        """SIGKILL every process but tini, us and our children, until none is left.

        Several rounds, because a fork bomb keeps forking while its members are being killed.
        """
        keep = {1, os.getpid()}
        keep |= {child.pid for child in self.sessions.values()}
        # Children the fork-server killed already and reaps itself (it may not have yet).
        keep |= {child.pid for child in getattr(self, "retired", [])}
        if self.spare is not None:
            keep.add(self.spare.pid)
        for _round in range(200):
            strays = [pid for pid in _live_pids() if pid not in keep]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.001)


def _frames(data: bytes) -> list[dict[str, Any]]:
    """The frames the fork-server wrote (trusted: our own process wrote them)."""
    frames = []
    while data:
        header, _, rest = data.partition(b"\n")
        size = int(header)
        frames.append(json.loads(rest[:size]))
        data = rest[size:]
    return frames


def _live_pids() -> list[int]:
    """Processes of the container that can still do something: zombies are dead already (tini
    or the fork-server reaps them) and would never leave /proc however often they are killed."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                state = stat_file.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(name))
    return pids


def name_limit(result: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> None:
    """A failed run during which the cgroup OOM-killed or refused forks: name that limit.

    The child only sees the symptom (SIGKILL, BlockingIOError, an exception it may even have
    caught and turned into a timeout); the cgroup's counters say which limit it was.
    """
    if result.get("ok"):
        return
    grew = {key for key in after if after[key] > before.get(key, after[key])}
    if "oom_kill" in grew:
        limit, what, error_type = "memory", "the container's memory limit", "MemoryError"
    elif "pids_max" in grew:
        limit, what, error_type = "processes", "the container's process limit", "ProcessLimitError"
    else:
        return
    if result.get("limit_hit") == limit:
        return
    result["limit_hit"] = limit
    error = result.get("error") or {}
    cause = f" ({error['type']}: {error.get('message', '')})" if error.get("type") else ""
    result["error"] = {
        "type": error_type,
        "message": f"the code was stopped: it went over {what}{cause}",
        "traceback": error.get("traceback", ""),
        "lineno": error.get("lineno"),
        "kind": "limit",
    }


def safe_name(name: str) -> str | None:
    """A relative path that stays inside the work dir, or None."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or "\0" in name:
        return None
    return "/".join(parts)


def place_files(workdir: str, files: dict[str, str]) -> None:
    for name, encoded in files.items():
        relative = safe_name(name)
        if relative is None:
            raise ValueError(f"input file name {name!r} leaves the work dir")
        path = os.path.join(workdir, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as target:
            target.write(base64.b64decode(encoded))


def snapshot(workdir: str) -> dict[str, tuple[int, int]]:
    return {name: (info.st_size, info.st_mtime_ns) for name, info in _regular_files(workdir)}


def _regular_files(workdir: str) -> list[tuple[str, os.stat_result]]:
    found = []
    for root, dirs, names in os.walk(workdir, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):  # never a FIFO (blocks) nor a symlink (points out)
                found.append((os.path.relpath(path, workdir), info))
    return found


def collect_files(
    workdir: str, before: dict[str, tuple[int, int]], max_file_bytes: int
) -> dict[str, str]:
    """Files the run created or changed, base64; bounded in count, per file and in total."""
    files: dict[str, str] = {}
    total = 0
    for name, info in _regular_files(workdir):
        if before.get(name) == (info.st_size, info.st_mtime_ns):
            continue
        if len(files) >= MAX_RETURNED_FILES or info.st_size > max_file_bytes:
            continue
        if total + info.st_size > MAX_RETURNED_BYTES:
            continue
        fd = os.open(os.path.join(workdir, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            data = os.read(fd, max_file_bytes + 1)[:max_file_bytes]
        finally:
            os.close(fd)
        total += len(data)
        files[name] = base64.b64encode(data).decode("ascii")
    return files


def clean_scratch(keep: set[str]) -> None:
    """Empty /work (bar live sessions' dirs), /tmp (bar matplotlib's config) and /dev/shm."""
    keep = set(keep)
    mpl = os.environ.get("MPLCONFIGDIR")
    if mpl:
        keep.add(mpl)
    for directory in (WORK_ROOT, *SCRATCH_DIRS):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(directory, entry)
            if path in keep:
                continue
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


def main() -> None:
    seed_matplotlib_cache()
    # numpy, matplotlib, pandas, scipy, sklearn...: imported after ready, between requests
    # (sandbox.runtime.warmup), once per container and never per run.
    warmup = Warmup(warmup_steps(), modules=WARM_PACKAGES)
    lockdown.forbid_new_privileges()
    lockdown.forbid_ptrace_and_core()  # a run's child must not ptrace the warm spare or us
    config = forkserver.ServerConfig(
        readonly_paths=forkserver.default_readonly_paths(list(EXTRA_READONLY)),
        landlock=True,
        # On top of the engine's own seccomp profile: no ptrace, io_uring, userfaultfd, bpf...
        seccomp=True,
        # The container has no network; real code may use Unix sockets among its own processes.
        deny_sockets=False,
        # Real CPython may start threads and processes; the container's pids limit bounds them.
        block_new_processes=False,
    )
    # As forkserver.serve(): the protocol moves off fds 0 and 1, which become /dev/null.
    request_fd, reply_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = sys.stderr
    server = ContainerServer(forkserver.PlainExecutor(), config, request_fd, reply_fd, warmup)
    server.host_reply_fd = reply_fd
    os.chdir(WORK_ROOT)
    gc.collect()
    gc.freeze()
    server.serve({"backend": "docker", "uid": os.getuid()})


if __name__ == "__main__":
    main()
