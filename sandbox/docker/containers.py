"""One locked-down container with a runner waiting on its stdin, and finding our orphans.

Every lock is set at creation because most cannot be changed on a running container: no network,
memory with no swap, a pids cap, a CPU quota, a read-only root with small tmpfs mounts, no
capabilities, no privilege gain, a non-root user, an environment holding only the image's own
variables (never the host's), no log driver (run traffic, which can hold images and files, is not
copied to the engine's disk).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig

from sandbox.contract import Limits
from sandbox.docker import errors
from sandbox.docker.channel import AttachChannel, ChannelClosed, ChannelTimeout
from sandbox.runtime.protocol import ProtocolError

LABEL = "mistral-executor.sandbox"
OWNER_LABEL = "mistral-executor.owner"
WORK_DIR = "/work"
SANDBOX_USER = "65534:65534"  # nobody:nogroup exists in every Debian-based image
# The runner, tini (init) and the per-run child come on top of what the user's code may start.
RUNNER_PROCESSES = 4
RUNNER_MEMORY_MB = 448  # the runner holds the preloaded data stack (~300 MB resident)
REPLY_CAP_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ContainerSpec:
    """What a container is created with; runs whose limits need another spec get another container."""

    image: str
    memory_mb: int
    max_processes: int
    cpu_cores: float
    work_dir_mb: int = 256
    tmp_mb: int = 16

    @classmethod
    def for_limits(cls, image: str, limits: Limits, work_dir_mb: int = 256) -> ContainerSpec:
        return cls(image, limits.memory_mb, limits.max_processes, limits.cpu_cores, work_dir_mb)


def owner_tag() -> str:
    """machine:pid:start-time. The machine is the host name and the PID namespace: a process in
    another PID namespace (say, the app in a container sharing the engine's socket) cannot see
    our pids, so it must not judge them. The start time tells a dead owner from a recycled pid."""
    return f"{_machine()}:{os.getpid()}:{_process_start(os.getpid())}"


def _machine() -> str:
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}@{namespace}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # Field 22 (start time); the command name in field 2 may contain spaces, so split after it.
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "?"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner ran where we run (same host, same PID namespace) and is gone;
    any other owner's containers are its own business."""
    machine, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if machine != _machine() or "?" in machine or not pid_text.isdigit():
        return False
    if not os.path.exists(f"/proc/{pid_text}"):
        return True
    return started != "?" and _process_start(int(pid_text)) != started


def list_ours(client: docker.DockerClient) -> list[Any]:
    """Every container carrying our label. Sparse: a full listing inspects each container after
    listing them, and one removed in between (a pool retiring it) would raise NotFound."""
    return client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL}=1"})


def labels_of(container: Any) -> dict[str, str]:
    """Labels of a sparse container (the list response has them at the top level)."""
    return container.attrs.get("Labels") or {}


def remove_orphans(client: docker.DockerClient) -> int:
    """Remove our containers whose owning process died without closing them. Returns how many."""
    removed = 0
    for container in list_ours(client):
        if owner_is_dead(labels_of(container).get(OWNER_LABEL, "")):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
                removed += 1
    return removed


def create_options(spec: ContainerSpec) -> dict[str, Any]:
    """The docker SDK's keyword arguments for a locked-down runner container."""
    # The runner (the data stack loaded) and the tmpfs mounts are charged to the container
    # too: the code gets its memory_mb on top of them (the runner caps each run at memory_mb).
    memory = f"{spec.memory_mb + RUNNER_MEMORY_MB + spec.work_dir_mb + spec.tmp_mb}m"
    return {
        "stdin_open": True,
        # detach=False with stdin_open sets StdinOnce: when our end of the attach socket closes
        # (the host process died), the runner reads EOF and exits, so a crashed host leaves only
        # stopped containers for remove_orphans().
        "detach": False,
        "tty": False,
        "init": True,  # tini as PID 1 reaps what user code orphans, so zombies don't eat pids
        "user": SANDBOX_USER,
        "environment": {},
        "working_dir": WORK_DIR,
        "hostname": "sandbox",
        "network_mode": "none",
        "mem_limit": memory,
        "memswap_limit": memory,  # equal to the memory limit: no swap
        "pids_limit": spec.max_processes + RUNNER_PROCESSES,
        "nano_cpus": int(spec.cpu_cores * 1e9),
        "read_only": True,
        "tmpfs": {
            WORK_DIR: f"size={spec.work_dir_mb}m,mode=1777",
            "/tmp": f"size={spec.tmp_mb}m,mode=1777",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ipc_mode": "private",
        "shm_size": "16m",
        "oom_score_adj": 500,  # under host memory pressure, sandboxes go before the host's work
        "log_config": LogConfig(type="none"),
        "labels": {LABEL: "1", OWNER_LABEL: owner_tag()},
    }


class RunnerContainer:
    """A started container whose runner answers requests; one request at a time."""

    def __init__(self, client: docker.DockerClient, spec: ContainerSpec) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.broken = False
        self.last_used = time.monotonic()
        self._client = client
        self._channel: AttachChannel | None = None
        try:
            self.container = client.containers.create(spec.image, **create_options(spec))
        except Exception as exc:
            raise errors.translate(exc, spec.image) from None
        self.id = self.container.id
        try:
            attach = client.api.attach_socket(
                self.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            self._channel = AttachChannel(attach)
            self.container.start()
        except Exception as exc:
            self.remove()
            raise errors.translate(exc, spec.image) from None

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """The runner's hello frame; a container that never says it is ready is removed."""
        try:
            return self.receive(time.monotonic() + timeout_s)
        except (ChannelClosed, ChannelTimeout, ProtocolError) as exc:
            detail = self.stderr_tail.strip()[-600:] or str(exc)
            self.remove()
            raise errors.start_failed(
                self.spec.image, f"the runner did not start ({detail})"
            ) from None

    @property
    def stderr_tail(self) -> str:
        return self._channel.stderr_tail if self._channel else ""

    def send(self, message: dict[str, Any]) -> None:
        assert self._channel is not None
        self.last_used = time.monotonic()
        self._channel.send(message)

    def receive(self, deadline: float) -> dict[str, Any]:
        assert self._channel is not None
        return self._channel.receive(deadline, REPLY_CAP_BYTES)

    def looks_dead(self) -> bool:
        """True when the container died (or its runner spoke out of turn) while idle."""
        return self._channel is None or self._channel.has_unexpected_input()

    def oom_killed(self) -> bool:
        """Whether the engine saw the container's memory cgroup kill something for good.

        The engine records it when the container exits, which may be a moment after its runner's
        output ended: wait for that first (briefly; a container still running was not OOM-killed).
        """
        with contextlib.suppress(Exception):
            self.container.wait(timeout=3)
        try:
            self.container.reload()
        except docker.errors.APIError:
            return False
        return bool(self.container.attrs.get("State", {}).get("OOMKilled"))

    def kill(self) -> None:
        self.broken = True
        with contextlib.suppress(docker.errors.APIError):
            self.container.kill()

    def remove(self) -> None:
        """Remove the container (killing it if needed); safe to call twice."""
        self.broken = True
        if self._channel is not None:
            self._channel.close()
        for attempt in (1, 2, 3):  # a busy engine sometimes fails a removal it then manages
            try:
                self.container.remove(force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if "already in progress" in str(exc):
                    return
                if attempt == 3:
                    raise
            except requests.exceptions.RequestException:
                if attempt == 3:
                    raise
            time.sleep(0.5 * attempt)
