"""What the kernel layers hold on their own, after a FULL escape of the restricted policy.

The restricted backend runs here with the stand-in policy that compiles plain Python (os,
socket, ctypes, signal, resource...), so only the runtime's layers stand between the code and
the host: Landlock, seccomp, namespaces, rlimits, the empty environment, the privilege drop.
These tests run as whatever user runs pytest: as root in CI's first pass, and again as an
unprivileged user (scripts/test.sh), where the workers keep the app's own uid -- the case of a
Hugging Face Space. Either way the code must not reach the network, a Unix socket of the host,
a signal or ptrace to the app's processes, the app's environment, or any file outside its work
dir.
"""

from __future__ import annotations

import os
import socket
import stat
import tempfile
import textwrap
import uuid
from collections.abc import Iterator

import pytest

from sandbox import Limits
from sandbox.restricted import RestrictedSandbox
from sandbox.runtime.lockdown import landlock_abi, seccomp_supported
from tests.requirements import unavailable
from tests.sandbox.conftest import HOST_FILE, Canary, Containment, Listener, describe

STANDIN = "tests.sandbox.standin_policy"
IMPORTS = ["os", "socket", "ctypes", "signal", "resource", "errno", "json", "time"]
LIMITS = Limits(timeout_s=10, memory_mb=256, max_output_bytes=50_000)

# Every probe prints "OPEN <what>" when an attempt the layers must stop succeeded.
PROBE_HELPERS = """
import ctypes, errno, os, signal, socket
libc = ctypes.CDLL(None, use_errno=True)
def attempt(what, action):
    try:
        outcome = action()
    except OSError as exc:
        print("blocked", what, errno.errorcode.get(exc.errno, exc.errno))
        return
    if outcome is False:
        print("blocked", what)
    else:
        print("OPEN", what, repr(outcome)[:200])
def raw(result):
    if result < 0:
        raise OSError(ctypes.get_errno(), "raw syscall")
    return result
"""


@pytest.fixture(scope="module")
def escaped(host_secret: str, canary: Canary) -> Iterator[RestrictedSandbox]:
    if not landlock_abi():
        unavailable("Landlock (the filesystem boundary of an escaped worker)")
    if not seccomp_supported():
        unavailable("a seccomp syscall table for this CPU")
    box = RestrictedSandbox(
        limits=LIMITS, pool_size=1, policy_module=STANDIN, allowed_imports=IMPORTS
    )
    yield box
    box.close()


@pytest.fixture
def contained(
    escaped: RestrictedSandbox, host_secret: str, canary: Canary, host_listener: Listener
) -> Iterator[Containment]:
    checker = Containment("restricted", escaped, host_secret, canary, host_listener, os.getcwd())
    yield checker
    canary.reset()
    host_listener.connections = 0
    host_listener.peers.clear()


@pytest.fixture(scope="module")
def host_unix_socket() -> Iterator[str]:
    """A Unix socket of "the app" that anybody may connect to (world-writable, in a
    world-searchable dir): file modes do not protect it, only the sandbox can."""
    directory = tempfile.mkdtemp(prefix="app-socket-", dir="/tmp")
    os.chmod(directory, 0o777)
    path = os.path.join(directory, "app.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(4)
    yield path
    server.close()
    os.unlink(path)
    os.rmdir(directory)


@pytest.fixture(scope="module")
def host_abstract_socket() -> Iterator[str]:
    name = f"mistral-executor-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0" + name)
    server.listen(4)
    yield name
    server.close()


def probe(contained: Containment, body: str) -> list[str]:
    code = contained.fill(textwrap.dedent(PROBE_HELPERS) + textwrap.dedent(body))
    result = contained.sandbox.run(code)
    problems = contained.problems(result)
    assert result.ok, describe(result)
    opened = [line for line in result.stdout.splitlines() if line.startswith("OPEN")]
    assert not opened + problems, f"{opened + problems}\n{result.stdout}"
    assert contained.still_works() == []
    return result.stdout.splitlines()


def test_the_layers_in_force_are_reported(escaped):
    info, degraded = escaped.isolation, escaped.degraded
    assert info["landlock_abi"] == landlock_abi()
    assert info["sockets_denied"] is True and info["signals_self_only"] is True
    if os.geteuid() != 0:
        assert any("privileges" in note for note in degraded), degraded
    for note in degraded:
        assert isinstance(note, str) and note


def test_no_socket_to_the_network(contained, host_listener):
    lines = probe(
        contained,
        """
        targets = [("127.0.0.1", @PORT@), ("1.1.1.1", 80)]
        for host, port in targets:
            attempt(f"tcp {host}", lambda: socket.create_connection((host, port), timeout=2))
        attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
            b"x", ("127.0.0.1", @PORT@)))
        attempt("tcp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
        attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1))
        attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
        attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
        attempt("raw syscall", lambda: raw(libc.syscall(41, 2, 1, 0)))
        """,
    )
    assert sum(line.startswith("blocked") for line in lines) == 8, lines
    assert host_listener.connections == 0


def test_no_unix_socket_of_the_host(contained, host_unix_socket, host_abstract_socket):
    docker_socket = "/var/run/docker.sock"
    probe(
        contained,
        f"""
        for path in [{host_unix_socket!r}, {docker_socket!r}]:
            def connect(path=path):
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect(path)
                return path
            attempt("unix " + path, connect)
        def abstract():
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect("\\0" + {host_abstract_socket!r})
            return "abstract"
        attempt("abstract", abstract)
        """,
    )


def test_no_signal_ptrace_or_limits_on_the_apps_processes(contained, escaped):
    server_pid = escaped._pool.slots[0].server.pid
    probe(
        contained,
        f"""
        import resource
        for pid in (@HOST_PID@, {server_pid}, os.getppid(), 1):
            attempt(f"kill {{pid}}", lambda pid=pid: os.kill(pid, 0))
            attempt(f"ptrace {{pid}}", lambda pid=pid: raw(libc.ptrace(16, pid, 0, 0)))
            attempt(f"prlimit {{pid}}", lambda pid=pid: resource.prlimit(
                pid, resource.RLIMIT_NOFILE, (0, 0)))
            attempt(f"renice {{pid}}", lambda pid=pid: os.setpriority(os.PRIO_PROCESS, pid, 19))
            attempt(f"pin {{pid}}", lambda pid=pid: os.sched_setaffinity(pid, {{0}}))
            attempt(f"pidfd {{pid}}", lambda pid=pid: os.pidfd_open(pid))
        attempt("kill group", lambda: os.kill(0, 0))
        attempt("kill all", lambda: os.kill(-1, 0))
        attempt("kill own group", lambda: os.killpg(os.getpgrp(), 0))
        """,
    )


def test_no_environment_of_the_app_and_no_file_outside_the_work_dir(contained, escaped):
    server_pid = escaped._pool.slots[0].server.pid
    probe(
        contained,
        f"""
        def read(path):
            with open(path, "rb") as source:
                return source.read(4096)
        for path in ["/proc/@HOST_PID@/environ", "/proc/{server_pid}/environ", "/proc/1/environ",
                     "/proc/@HOST_PID@/cmdline", "/proc/@HOST_PID@/mem", "@CANARY@",
                     "@HOST_FILE@", "/etc/passwd", "/etc/hostname", "/root/.bashrc",
                     os.path.expanduser("~") + "/.ssh/id_rsa"]:
            attempt("read " + path, lambda path=path: read(path))
        attempt("list /tmp", lambda: os.listdir("/tmp"))
        attempt("list /proc", lambda: os.listdir("/proc"))
        attempt("write /tmp", lambda: open("@OUTSIDE@", "w").write("x"))
        attempt("write drop dir", lambda: open("@DROP_DIR@/escaped", "w").write("x"))
        attempt("symlink out", lambda: read(os.symlink("@HOST_FILE@", "link") or "link"))
        attempt("hard link out", lambda: os.link("@HOST_FILE@", "hard"))
        print("env", dict(os.environ))
        """,
    )


def test_a_test_made_world_readable_path_stays_unreadable(contained, tmp_path_factory):
    """Landlock, not file modes: a file every user may read is still out of reach."""
    directory = tempfile.mkdtemp(prefix="world-readable-", dir="/tmp")
    try:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, "public.txt")
        with open(path, "w") as public:
            public.write("public-but-outside\n")
        os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        lines = probe(contained, f"attempt('read', lambda: open({path!r}).read())\n")
        assert not any("public-but-outside" in line for line in lines)
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


def test_host_file_is_really_there(contained):
    """The probes above would prove nothing if the host file did not exist."""
    assert os.path.isfile(HOST_FILE)
