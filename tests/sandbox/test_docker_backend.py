"""What only the Docker backend does: the container's locks, its pool, sessions, clean-up, errors.

The shared contract and the adversarial batteries run against docker too (test_contract.py and
friends); these tests look at the containers themselves. They need an engine and the image
(``bash scripts/docker-engine.sh``): without them they skip, except under CI=true where they fail.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import docker
import docker.errors
import pytest

from sandbox import Limits, SandboxError, create_sandbox
from sandbox.docker import DockerSandbox, unavailable_reason
from sandbox.docker import errors as docker_errors
from sandbox.docker.containers import (
    OWNER_LABEL,
    RUNNER_MEMORY_MB,
    RUNNER_PROCESSES,
    ContainerSpec,
    labels_of,
    list_ours,
    owner_is_dead,
    owner_tag,
)
from sandbox.factory import resolve_auto
from tests.sandbox.conftest import REPO_ROOT, describe, docker_unavailable_reason, require_backend

pytestmark = pytest.mark.docker

# What the image itself sets; the container may add HOSTNAME and HOME. Nothing else, ever.
IMAGE_ENV = {
    "PATH",
    "LANG",
    "MPLBACKEND",
    "MPLCONFIGDIR",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
}
RUNTIME_ENV = IMAGE_ENV | {"HOSTNAME", "HOME"}
MAX_PROCESSES = 24


@pytest.fixture(scope="session", autouse=True)
def no_container_left_behind() -> Iterator[None]:
    """After the whole test session, none of our containers is left by this process or by any
    process that died (orphans are what start-up clean-up is for, but tests clean up after
    themselves)."""
    yield
    if docker_unavailable_reason() is not None:
        return
    client = docker.from_env()
    try:
        left = [
            (c.short_id, labels_of(c).get(OWNER_LABEL), c.status)
            for c in list_ours(client)
            if labels_of(c).get(OWNER_LABEL) == owner_tag()
            or owner_is_dead(labels_of(c).get(OWNER_LABEL, ""))
        ]
    finally:
        client.close()
    assert left == [], f"sandbox containers left behind: {left}"


@pytest.fixture(scope="module", autouse=True)
def engine() -> None:
    require_backend("docker")


@pytest.fixture(scope="module")
def client(engine: None) -> Iterator[docker.DockerClient]:
    api = docker.from_env()
    yield api
    api.close()


@pytest.fixture(scope="module")
def box(engine: None, host_secret: str) -> Iterator[DockerSandbox]:
    sandbox = DockerSandbox(
        limits=Limits(timeout_s=10, memory_mb=256, max_processes=MAX_PROCESSES),
        pool_size=1,
        max_containers=3,
    )
    yield sandbox
    sandbox.close()


@pytest.fixture
def make_box(engine: None, host_secret: str) -> Iterator[Callable[..., DockerSandbox]]:
    made: list[DockerSandbox] = []

    def make(**options: object) -> DockerSandbox:
        options.setdefault("limits", Limits(timeout_s=10, memory_mb=256))
        sandbox = DockerSandbox(**options)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.close()


def containers_of(client: docker.DockerClient, owner: str | None = None) -> list:
    """Our containers (running or not) owned by ``owner`` (default: this process)."""
    owner = owner or owner_tag()
    return [c for c in list_ours(client) if labels_of(c).get(OWNER_LABEL) == owner]


def session_container_id(box: DockerSandbox, session_id: str) -> str:
    return box._sessions._sessions[session_id].container.id  # type: ignore[union-attr]


def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


# ------------------------------------------------------------------------------ the locks


def test_containers_are_created_locked_down(box, client):
    assert box.run("print('up')").stdout == "up\n"
    assert box.run("pass", session_id="locks").ok
    assert wait_until(lambda: len(box_container_ids(box)) >= 2), "no pool refill after a session"
    ours = [c for c in containers_of(client) if c.id in box_container_ids(box)]
    assert len(ours) >= 2, "expected a pooled and a session container"
    for container in ours:
        container.reload()
        host = container.attrs["HostConfig"]
        config = container.attrs["Config"]
        assert host["NetworkMode"] == "none"
        assert host["Memory"] > 256 * 1024 * 1024
        assert host["MemorySwap"] == host["Memory"], "swap must be off: MemorySwap == Memory"
        assert host["PidsLimit"] == MAX_PROCESSES + RUNNER_PROCESSES
        assert host["NanoCpus"] == 1_000_000_000
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
        assert "no-new-privileges" in host["SecurityOpt"]
        assert host["Privileged"] is False
        assert set(host["Tmpfs"]) == {"/work", "/tmp"}
        assert host["LogConfig"]["Type"] == "none"
        assert config["User"] == "65534:65534"
        env_names = {item.split("=", 1)[0] for item in config["Env"]}
        assert env_names <= IMAGE_ENV, f"unexpected variables: {env_names - IMAGE_ENV}"
    box.close_session("locks")


def test_code_sees_no_host_environment(box, host_secret):
    assert os.environ.get("MISTRAL_API_KEY") == host_secret
    result = box.run("import os, json\nprint(json.dumps(dict(os.environ)))")
    assert result.ok, describe(result)
    seen = json.loads(result.stdout)
    assert set(seen) <= RUNTIME_ENV, f"host variables leaked in: {set(seen) - RUNTIME_ENV}"
    assert host_secret not in result.stdout


def test_code_runs_as_nobody_and_cannot_write_outside_its_work_dir(box):
    code = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "for path in ('/etc/probe', '/opt/mistral-executor/probe', '/tmp/probe', '/work/probe'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('refused', path, type(exc).__name__)\n"
    )
    result = box.run(code)
    assert result.ok, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "65534 65534"
    assert all(line.startswith("refused") for line in lines[1:]), result.stdout


def test_root_filesystem_is_read_only_even_for_root(box, client):
    box.run("pass")
    container = client.containers.get(sorted(_pool_container_ids(box))[0])
    for user in ("65534:65534", "0:0"):
        code, output = container.exec_run(["sh", "-c", "touch /etc/probe /usr/probe"], user=user)
        assert code != 0
        assert b"Read-only file system" in output, output


def test_no_network_reaches_the_host(box, host_listener, client):
    targets = ["127.0.0.1"]
    bridge = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or []
    targets += [entry["Gateway"] for entry in bridge if entry.get("Gateway")]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks the outbound address
            targets.append(probe.getsockname()[0])
        except OSError:
            pass
    code = (
        "import socket\n"
        f"for host in {targets!r}:\n"
        "    try:\n"
        f"        socket.create_connection((host, {host_listener.port}), timeout=2)\n"
        "        print('connected', host)\n"
        "    except OSError as exc:\n"
        "        print('failed', host, type(exc).__name__)\n"
        "try:\n"
        "    socket.getaddrinfo('deb.debian.org', 80)\n"
        "    print('resolved')\n"
        "except OSError:\n"
        "    print('no dns')\n"
        "print(sorted(name for _, name in socket.if_nameindex()))\n"
    )
    result = box.run(code)
    assert result.ok, describe(result)
    lines = result.stdout.splitlines()
    assert all(line.startswith("failed") for line in lines[: len(targets)]), result.stdout
    assert lines[len(targets)] == "no dns"
    assert lines[-1] == "['lo']"
    assert host_listener.connections == 0, host_listener.peers


# ------------------------------------------------------------------------------ limits


def test_memory_cgroup_oom_kill_is_reported_as_memory(box):
    """Each process stays under its own address-space cap; together they exceed the container's
    memory: the cgroup's OOM killer acts, and the run says "memory"."""
    limits = Limits(timeout_s=15, memory_mb=64, max_processes=MAX_PROCESSES)
    # Enough 60 MB children to exceed the whole container (the runner's share and the tmpfs
    # mounts included), whatever those budgets are, within the pids limit.
    budget = limits.memory_mb + RUNNER_MEMORY_MB + ContainerSpec.work_dir_mb + ContainerSpec.tmp_mb
    children = budget // 60 + 2
    assert children < MAX_PROCESSES
    code = (
        "import os, time\n"
        f"for _ in range({children}):\n"
        "    if os.fork() == 0:\n"
        "        block = b'x' * (60 * 1024 * 1024)\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "pid, status = os.wait()\n"
        "raise SystemExit(f'child {pid} ended with status {status}')\n"
    )
    result = box.run(code, limits=limits)
    assert result.ok is False
    assert result.limit_hit == "memory", describe(result)
    assert box.run("print('after oom')", limits=limits).stdout == "after oom\n"


def test_fork_bomb_hits_the_pids_limit_and_everything_lives_on(box, client):
    assert box.run("bystander = 'intact'", session_id="bystander").ok
    # Generous timeouts: under load the bomb needs a while to reach the pids limit.
    bomb = box.run("import os\nwhile True:\n    os.fork()\n", limits=Limits(timeout_s=30))
    assert bomb.ok is False
    assert bomb.limit_hit == "processes", describe(bomb)
    # A bomb that swallows the refusals runs into the timeout; the cgroup still names the cause.
    stubborn = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = box.run(stubborn, limits=Limits(timeout_s=10))
    assert result.limit_hit == "processes", describe(result)
    assert box.run("print('alive')").stdout == "alive\n"
    assert box.run("print(bystander)", session_id="bystander").stdout == "intact\n"
    for container in containers_of(client):
        if container.id in box_container_ids(box) and container.status == "running":
            processes = container.top()["Processes"] or []
            # tini, the runner, its spare child, and at most one session child: no bomb left.
            assert len(processes) <= 4, processes
    box.close_session("bystander")


def test_host_kills_a_wedged_runner_and_the_next_run_gets_a_fresh_container(make_box, client):
    """The runner enforces the timeout itself; when it cannot (stopped here), the host's own
    deadline kills the container."""
    box = make_box(pool_size=1, max_containers=1, reply_grace_s=1)
    assert box.run("print(1)").ok
    [container] = [c for c in containers_of(client) if c.id in _pool_container_ids(box)]
    runner_pid = box.isolation["pid"]
    code, output = container.exec_run(["sh", "-c", f"kill -STOP {runner_pid}"], user="65534:65534")
    assert code == 0, output
    result = box.run("print('never')", limits=Limits(timeout_s=1, memory_mb=256))
    assert result.limit_hit == "timeout", describe(result)
    after = box.run("print('fresh')")
    assert after.stdout == "fresh\n", describe(after)
    assert container.id not in _pool_container_ids(box)


def _pool_container_ids(box: DockerSandbox) -> set[str]:
    ids = set()
    for pool in box._pools.values():
        ids |= {c.id for c in [*pool._idle, *pool._busy]}
    return ids


def box_container_ids(box: DockerSandbox) -> set[str]:
    sessions = box._sessions._sessions.values()
    return _pool_container_ids(box) | {s.container.id for s in sessions if s.container is not None}


# ------------------------------------------------------------------------------ sessions


def test_session_keeps_state_and_files_in_its_own_container(box, client):
    first = box.run("x = 1\nopen('notes.txt', 'w').write('kept')", session_id="alpha")
    assert first.ok, describe(first)
    assert first.files == {"notes.txt": b"kept"}
    second = box.run("print(x, open('notes.txt').read())", session_id="alpha")
    assert second.stdout == "1 kept\n", describe(second)
    assert second.files == {}, "unchanged files are not returned again"
    other = box.run("import os\nprint(os.listdir('.'))\nprint(x)", session_id="beta")
    assert other.stdout == "[]\n", describe(other)
    assert other.error is not None and other.error.type == "NameError"
    alpha, beta = session_container_id(box, "alpha"), session_container_id(box, "beta")
    assert alpha != beta
    box.close_session("alpha")
    box.close_session("beta")
    assert wait_until(lambda: not {alpha, beta} & {c.id for c in containers_of(client)})


def test_runs_in_one_pooled_container_see_nothing_of_each_other(make_box):
    # One container at most, so both runs are in the same one (a pool that may grow could give
    # the second run a fresh container, now that a container is ready in a fraction of a second).
    box = make_box(pool_size=1, max_containers=1)
    first = box.run("import os\nleftover = 1\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())")
    assert first.ok and first.files == {"left.txt": b"x"}, describe(first)
    second = box.run(
        "import os\nprint(os.getcwd())\nprint(os.listdir('.'))\n"
        "try:\n    print(os.listdir('/work'))\nexcept OSError as exc:\n    print(type(exc).__name__)\n"
        "print('leftover' in globals())\n"
    )
    assert second.ok, describe(second)
    cwd, listing, work, leftover = second.stdout.splitlines()
    assert cwd != first.stdout.strip()
    assert listing == "[]"
    assert work == "PermissionError"
    assert leftover == "False"


def test_idle_sessions_are_reaped(make_box, client):
    box = make_box(pool_size=0, session_ttl_s=1)
    assert box.run("x = 1", session_id="short-lived").ok
    container_id = session_container_id(box, "short-lived")
    assert wait_until(lambda: container_id not in {c.id for c in containers_of(client)})
    result = box.run("print(x)", session_id="short-lived")
    assert result.error is not None and result.error.type == "NameError", describe(result)


# ------------------------------------------------------------------------------ pool


def test_pool_replaces_a_container_killed_while_idle(make_box, client):
    box = make_box(pool_size=1, max_containers=2)
    assert box.run("print(1)").ok
    [victim] = _pool_container_ids(box)
    client.containers.get(victim).kill()
    result = box.run("print(2)")
    assert result.stdout == "2\n", describe(result)
    assert wait_until(lambda: victim not in {c.id for c in containers_of(client)})
    assert wait_until(lambda: len(box._pools[box._spec(box.limits)]._idle) == 1)


def test_close_removes_every_container(make_box, client):
    box = make_box(pool_size=2)
    assert box.run("x = 1", session_id="s").ok
    assert box.run("print(1)").ok
    assert containers_of(client)
    ids = _pool_container_ids(box) | {session_container_id(box, "s")}
    box.close()
    assert not ids & {c.id for c in client.containers.list(all=True)}


ORPHAN_SCRIPT = """
import os, signal, sys
from sandbox.docker import DockerSandbox
from sandbox.docker.containers import owner_tag
box = DockerSandbox(pool_size=1)
assert box.run("print(1)").ok
print(owner_tag(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit: a crash
"""


def test_orphans_of_a_crashed_process_are_removed_at_start_up(make_box, client):
    crashed = subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    owner = crashed.stdout.strip().splitlines()[-1]
    assert containers_of(client, owner), "the crashed process left no container to clean up"
    box = make_box(pool_size=0)
    assert box.orphans_removed >= 1
    assert containers_of(client, owner) == []


# ------------------------------------------------------------------------------ errors


def test_unreachable_engine_is_a_clear_error(tmp_path, monkeypatch):
    dead = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(dead))
    listener.close()  # the file stays, nobody answers
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")
    reason = unavailable_reason()
    assert reason is not None and "scripts/docker-engine.sh" in reason and str(dead) in reason
    with pytest.raises(SandboxError, match="docker-engine.sh"):
        create_sandbox("docker")
    with pytest.raises(docker_errors.DockerUnavailableError, match="no Docker engine answers"):
        DockerSandbox()
    assert resolve_auto() != "docker"


def test_missing_image_is_a_clear_error_and_never_pulled(client, monkeypatch):
    image = "mistral-executor-no-such-image:0"
    monkeypatch.setenv("MISTRAL_EXECUTOR_DOCKER_IMAGE", image)
    reason = unavailable_reason()
    assert reason is not None and "build-image.sh" in reason and image in reason
    with pytest.raises(docker_errors.ImageMissingError, match="sandbox/docker/build-image.sh"):
        DockerSandbox()
    with pytest.raises(SandboxError, match="build-image.sh"):
        create_sandbox("docker", image=image)
    assert client.images.list(name="mistral-executor-no-such-image") == []


PROBE_PACKAGES = ("docker", "requests", "urllib3", "idna", "charset_normalizer", "certifi")


def test_permission_denied_on_the_socket_names_the_fix():
    """Probed as nobody, who may not open the root-owned socket. Debian's own python3 runs the
    probe (the venv's interpreter may live under /root, out of nobody's reach), on a
    world-readable copy of our package and the docker SDK's packages made here: the checkout
    and its venv may sit in a directory nobody cannot enter."""
    system_python = "/usr/bin/python3"
    if os.geteuid() != 0 or not os.access(system_python, os.X_OK):
        pytest.skip("needs root and /usr/bin/python3 to probe as another user")
    public = tempfile.mkdtemp(prefix="docker-probe-", dir="/tmp")
    try:
        for ours in ("sandbox", "mistral_executor"):  # the backend reads mistral_executor.settings
            shutil.copytree(REPO_ROOT / ours, os.path.join(public, ours))
        for name in PROBE_PACKAGES:
            package = os.path.dirname(importlib.import_module(name).__file__)
            shutil.copytree(package, os.path.join(public, name))
        for root, dirs, files in os.walk(public):
            for entry in dirs:
                os.chmod(os.path.join(root, entry), 0o755)
            for entry in files:
                os.chmod(os.path.join(root, entry), 0o644)
        os.chmod(public, 0o755)
        probe = "from sandbox.docker import unavailable_reason; print(unavailable_reason())"
        completed = subprocess.run(
            [system_python, "-c", probe],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
            user=65534,
            group=65534,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": public, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    finally:
        shutil.rmtree(public, ignore_errors=True)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "permission denied on the Docker socket" in completed.stdout
    assert "docker' group" in completed.stdout


def test_container_that_fails_to_start_is_a_clear_error(make_box, client, box):
    broken = "mistral-executor-test-broken:latest"
    dockerfile = f'FROM {box.image}\nENTRYPOINT ["sh", "-c", "echo runner missing >&2; exit 3"]\n'
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=broken, rm=True, pull=False)
    try:
        sandbox = make_box(image=broken, pool_size=1, start_timeout_s=20)
        with pytest.raises(docker_errors.ContainerStartError, match="failed to start") as caught:
            sandbox.run("print(1)")
        assert "runner missing" in str(caught.value)
        sandbox.close()
    finally:
        client.images.remove(broken, force=True)


def test_auto_picks_docker_when_engine_and_image_are_there(host_secret):
    assert unavailable_reason() is None
    with create_sandbox("auto", limits=Limits(timeout_s=10, memory_mb=256)) as sandbox:
        result = sandbox.run("print('auto')")
    assert result.backend == "docker" and result.stdout == "auto\n", describe(result)


def test_availability_is_cached_briefly(monkeypatch):
    import sandbox.docker as package

    calls = []
    monkeypatch.setattr(package, "_probe", lambda image: calls.append(image))
    monkeypatch.setattr(package, "_cache", {})
    for _ in range(5):
        assert package.unavailable_reason("some-image:1") is None
    package.unavailable_reason("other-image:1")
    assert calls == ["some-image:1", "other-image:1"]
