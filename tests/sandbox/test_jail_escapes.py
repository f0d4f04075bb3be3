"""Escapes aimed at the jail's kernel layers: real CPython, so ``os`` and ``ctypes`` are allowed
and every attempt below reaches the kernel. Each case asserts the syscall or file access was
refused AND the usual containment (no host secret or canary in the result, no file written
outside, nobody connected to the host listener, the sandbox still works).

Runs as root and, in CI, a second time as a non-root user (scripts/test.sh), where the worker has
the app's own uid and only the kernel layers stand between them.
"""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from collections.abc import Iterator

import pytest

from sandbox import Limits, RunResult, create_sandbox
from sandbox.jail.backend import JailSandbox
from tests.sandbox.conftest import Canary, Containment, Listener, describe, require_backend

LIMITS = Limits(timeout_s=10, memory_mb=512, max_output_bytes=100_000)
EPERM, EAGAIN, ENOSYS, EACCES = 1, 11, 38, 13


@pytest.fixture(scope="module")
def jail(host_secret: str, canary: Canary) -> Iterator[JailSandbox]:
    require_backend("jail")
    box = create_sandbox("jail", limits=LIMITS, pool_size=2)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def contained(
    jail: JailSandbox, host_secret: str, canary: Canary, host_listener: Listener
) -> Iterator[Containment]:
    checker = Containment("jail", jail, host_secret, canary, host_listener, os.getcwd())
    yield checker
    canary.reset()
    host_listener.connections = 0
    host_listener.peers.clear()


def run(contained: Containment, code: str, **kwargs) -> RunResult:
    result = contained.sandbox.run(contained.fill(textwrap.dedent(code)), **kwargs)
    problems = contained.problems(result) + contained.still_works()
    assert not problems, f"{problems}; {describe(result)}"
    return result


def last_json(result: RunResult):
    assert result.ok, describe(result)
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ raw syscalls through ctypes

# name -> (syscall number on x86_64, arguments); every one must fail.
RAW_SYSCALLS = {
    "socket_inet": (41, (2, 1, 0)),
    "socket_inet6": (41, (10, 1, 0)),
    "socket_unix": (41, (1, 1, 0)),
    "socket_netlink": (41, (16, 3, 0)),
    "socket_packet": (41, (17, 3, 0)),
    "socketpair_unix_dgram": (53, (1, 2, 0, 0)),
    "ptrace_attach_host": (101, (16, "@HOST_PID@", 0, 0)),
    "ptrace_traceme": (101, (0, 0, 0, 0)),
    "mount_tmpfs": (165, (0, 0, 0, 0, 0)),
    "unshare_user": (272, (0x10000000,)),
    "unshare_net": (272, (0x40000000,)),
    "setns": (308, (0, 0)),
    "keyctl": (250, (0, 0, 0, 0, 0)),
    "bpf": (321, (0, 0, 0)),
    "io_uring_setup": (425, (1, 0)),
    "userfaultfd": (323, (0,)),
    "perf_event_open": (298, (0, 0, -1, -1, 0)),
    "memfd_create": (319, (0, 0)),
    "fork_by_clone": (56, (17, 0, 0, 0, 0)),
    "fork": (57, ()),
    "vfork": (58, ()),
    "clone3": (435, (0, 0)),
    "execve": (59, (0, 0, 0)),
    "pidfd_open_host": (434, ("@HOST_PID@", 0)),
    "process_vm_readv": (310, ("@HOST_PID@", 0, 0, 0, 0, 0)),
    "kill_host": (62, ("@HOST_PID@", 0)),
    "kill_process_group": (62, (0, 0)),
    "kill_everyone": (62, (-1, 0)),
    "chroot": (161, (0,)),
    "setuid_root": (105, (0,)),
    "open_by_handle_at": (304, (0, 0, 0)),
    "prlimit_other_process": (302, ("@HOST_PID@", 7, 0, 0)),
}


@pytest.mark.parametrize("name", sorted(RAW_SYSCALLS))
def test_raw_syscall_is_refused(name: str, contained: Containment) -> None:
    number, args = RAW_SYSCALLS[name]
    rendered = ", ".join(f"ctypes.c_long({a})" for a in args)
    code = f"""
        import ctypes, json
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        ret = libc.syscall(ctypes.c_long({number}){", " + rendered if rendered else ""})
        print(json.dumps([ret, ctypes.get_errno()]))
    """
    ret, err = last_json(run(contained, code))
    assert ret == -1, f"{name} returned {ret}: the kernel let it through"
    assert err in (EPERM, EAGAIN, ENOSYS, EACCES), f"{name}: errno {err}"


def test_allowed_list_still_lets_ordinary_io_through(contained: Containment) -> None:
    """The filter is an allow-list: the control for the cases above (the same ctypes path
    works for a syscall CPython needs)."""
    code = """
        import ctypes, json, os
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        print(json.dumps([libc.syscall(ctypes.c_long(39)), os.getpid()]))  # getpid
    """
    ret, pid = last_json(run(contained, code))
    assert ret == pid


# ------------------------------------------------------------------ /proc and host processes


@pytest.mark.parametrize(
    "path",
    [
        "/proc/1/environ",
        "/proc/@HOST_PID@/environ",
        "/proc/@HOST_PID@/cmdline",
        "/proc/@HOST_PID@/mem",
        "/proc/self/mem",
        "/proc/self/environ",
        "/proc/@HOST_PID@/root/etc/hostname",
        "/proc/@HOST_PID@/cwd/sandbox/contract.py",
        "/dev/shm",
        "/dev/tty",
        "/var/run/docker.sock",
        "/etc/passwd",
        "/tmp",
        "@HOST_FILE@",
    ],
)
def test_host_paths_cannot_be_opened(path: str, contained: Containment) -> None:
    code = f"""
        import json, os
        outcome = {{}}
        for mode in ("rb", "wb"):
            try:
                with open({path!r}, mode) as handle:
                    outcome[mode] = "opened"
                    if mode == "rb":
                        handle.read(4096)
            except OSError as exc:
                outcome[mode] = exc.errno
        try:
            os.listdir({path!r})
            outcome["list"] = "listed"
        except OSError as exc:
            outcome["list"] = exc.errno
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    assert "opened" not in outcome.values() and outcome["list"] != "listed", outcome


def test_signals_reach_no_host_process(contained: Containment) -> None:
    code = """
        import json, os, signal
        outcome = {}
        for target in (@HOST_PID@, 1, os.getppid(), 0, -1):
            try:
                os.kill(target, 0)
                outcome[str(target)] = "delivered"
            except OSError as exc:
                outcome[str(target)] = exc.errno
        try:
            os.killpg(os.getpgrp(), 0)
            outcome["pgrp"] = "delivered"
        except OSError as exc:
            outcome["pgrp"] = exc.errno
        os.kill(os.getpid(), 0)  # itself: allowed
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    assert "delivered" not in outcome.values(), outcome


def test_sigio_cannot_be_aimed_at_a_host_process(contained: Containment) -> None:
    """F_SETOWN + O_ASYNC would have the kernel deliver SIGIO (fatal by default) elsewhere."""
    code = """
        import fcntl, json, os
        read_end, write_end = os.pipe()
        outcome = {}
        for name, command, arg in (("setown", fcntl.F_SETOWN, @HOST_PID@), ("setown_ex", 15, 0)):
            try:
                fcntl.fcntl(read_end, command, arg)
                outcome[name] = "set"
            except OSError as exc:
                outcome[name] = exc.errno
        fcntl.fcntl(read_end, fcntl.F_SETFL, os.O_ASYNC)
        os.write(write_end, b"x")
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    assert "set" not in outcome.values(), outcome


# ------------------------------------------------------------------ rlimits, processes, memory


def test_rlimits_cannot_be_raised(contained: Containment) -> None:
    code = """
        import json, resource
        outcome = {}
        for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC"):
            kind = getattr(resource, name)
            soft, hard = resource.getrlimit(kind)
            try:
                resource.setrlimit(kind, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                outcome[name] = "raised"
            except (ValueError, OSError):
                outcome[name] = "refused" if hard != resource.RLIM_INFINITY else "unlimited"
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    for name in ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CPU"):
        assert outcome[name] == "refused", outcome


def test_fork_bomb_is_refused(contained: Containment) -> None:
    result = run(contained, "import os\nwhile True:\n    os.fork()\n")
    assert result.limit_hit == "processes", describe(result)


def test_subprocess_is_refused(contained: Containment) -> None:
    result = run(contained, "import subprocess\nsubprocess.run(['/bin/true'])\n")
    assert not result.ok, describe(result)


def test_thread_bomb_stops_at_the_allowance(contained: Containment) -> None:
    from sandbox.jail.executor import THREAD_ALLOWANCE

    code = """
        import threading, time
        event = threading.Event()
        started = 0
        try:
            for _ in range(10_000):
                threading.Thread(target=event.wait, daemon=True).start()
                started += 1
        finally:
            print("started", started)
            event.set()
    """
    result = run(contained, code)
    assert result.limit_hit == "processes", describe(result)
    started = int(result.stdout.split()[-1])
    # A few threads work (pyarrow needs two), never more than the allowance.
    assert 2 <= started <= THREAD_ALLOWANCE, describe(result)


def test_huge_mmap_is_refused(contained: Containment) -> None:
    code = """
        import mmap
        area = mmap.mmap(-1, 64 * 1024 ** 3)
        area[-1] = 1
        print("mapped")
    """
    result = run(contained, code)
    assert not result.ok and "mapped" not in result.stdout, describe(result)


# ------------------------------------------------------------------ files and links


def test_links_out_of_the_work_dir_reach_nothing(contained: Containment) -> None:
    code = """
        import json, os
        outcome = {}
        os.symlink("@CANARY@", "soft")
        os.symlink("@DROP_DIR@", "softdir")
        for name in ("soft", "softdir/canary.txt"):
            try:
                outcome[name] = open(name).read()
            except OSError as exc:
                outcome[name] = exc.errno
        try:
            open("softdir/new.txt", "w").write("x")
            outcome["write"] = "written"
        except OSError as exc:
            outcome["write"] = exc.errno
        try:
            os.link("@CANARY@", "hard")
            outcome["hard"] = "linked"
        except OSError as exc:
            outcome["hard"] = exc.errno
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    assert all(isinstance(v, int) for v in outcome.values()), outcome


def test_host_file_metadata_cannot_be_changed(contained: Containment) -> None:
    """Landlock does not check chmod/chown/utime/xattr, by path or on a file opened only for
    reading (the app's own files, when the workers share its uid): the filter turns them into
    no-ops, so nothing outside changes."""
    import numpy

    library_file = numpy.__file__
    watched = [contained.canary.file, contained.canary.drop_dir, library_file]
    before = [(os.stat(p).st_mode, os.stat(p).st_mtime_ns, os.stat(p).st_uid) for p in watched]
    code = f"""
        import json, os
        outcome = {{}}
        library = os.open({library_file!r}, os.O_RDONLY)
        for name, call in {{
            "chmod": lambda: os.chmod("@CANARY@", 0o777),
            "chown": lambda: os.chown("@CANARY@", os.getuid(), os.getgid()),
            "utime": lambda: os.utime("@CANARY@", (0, 0)),
            "setxattr": lambda: os.setxattr("@CANARY@", "user.x", b"1"),
            "chmod_dir": lambda: os.chmod("@DROP_DIR@", 0),
            "fchmod_readable": lambda: os.fchmod(library, 0),
            "futimens_readable": lambda: os.utime(library, (0, 0)),
            "fsetxattr_readable": lambda: os.setxattr(library, "user.x", b"1"),
        }}.items():
            try:
                call()
                outcome[name] = "no error"
            except OSError as exc:
                outcome[name] = exc.errno
        print(json.dumps(outcome))
    """
    last_json(run(contained, code))
    after = [(os.stat(p).st_mode, os.stat(p).st_mtime_ns, os.stat(p).st_uid) for p in watched]
    assert after == before


def test_own_files_keep_working(contained: Containment) -> None:
    """The control: inside the work dir files, dirs, links and fd-based metadata calls work."""
    code = """
        import os, shutil
        os.makedirs("a/b")
        open("a/b/x.txt", "w").write("hello")
        shutil.copy2("a/b/x.txt", "y.txt")  # copies metadata too: accepted, ignored
        os.symlink("y.txt", "z.txt")
        os.rename("y.txt", "w.txt")
        with open("w.txt") as handle:
            os.fchmod(handle.fileno(), 0o600)
        print(open("a/b/x.txt").read(), sorted(os.listdir(".")))
    """
    result = run(contained, code)
    assert result.stdout == "hello ['a', 'w.txt', 'z.txt']\n", describe(result)
    assert result.files["w.txt"] == b"hello"


def test_work_dir_size_is_capped(host_secret: str) -> None:
    require_backend("jail")
    with create_sandbox("jail", limits=LIMITS, pool_size=1, max_workdir_mb=16) as box:
        code = textwrap.dedent(
            """
            import errno
            try:
                for i in range(64):
                    with open(f"part{i}.bin", "wb") as handle:
                        handle.write(b"x" * (1024 * 1024))
            except OSError as exc:
                print("stopped at", i, errno.errorcode[exc.errno])
            """
        )
        result = box.run(code)
        assert "ENOSPC" in result.stdout, describe(result)


def test_a_session_cannot_reach_another_sessions_files(contained: Containment) -> None:
    token = "jail-session-secret-" + uuid.uuid4().hex
    holder = contained.sandbox.run(
        f"import os\nopen('secret.txt', 'w').write({token!r})\nprint(os.getcwd())",
        session_id="jail-holder",
    )
    assert holder.ok, describe(holder)
    where = holder.stdout.strip()
    code = f"""
        import json, os
        outcome = {{}}
        for path in ({where!r} + "/secret.txt", {where!r}, os.path.dirname(os.getcwd())):
            try:
                outcome[path] = open(path).read() if path.endswith(".txt") else os.listdir(path)
            except OSError as exc:
                outcome[path] = exc.errno
        try:
            os.chmod({where!r}, 0)
            outcome["chmod"] = "changed"
        except OSError as exc:
            outcome["chmod"] = exc.errno
        print(json.dumps(outcome))
    """
    for session in ("jail-snooper", None):
        result = run(contained, code, session_id=session)
        assert token not in result.stdout, describe(result)
        outcome = last_json(result)
        outcome.pop("chmod")  # a no-op: the holder's next run shows its dir still works
        assert all(isinstance(v, int) for v in outcome.values()), result.stdout
    again = contained.sandbox.run("print(open('secret.txt').read())", session_id="jail-holder")
    assert again.stdout == token + "\n", describe(again)
    contained.sandbox.close_session("jail-holder")


# ------------------------------------------------------------------ terminals and sockets


def test_tiocsti_is_refused(contained: Containment) -> None:
    code = """
        import fcntl, json, termios
        outcome = {}
        for fd in (0, 1, 2):
            try:
                fcntl.ioctl(fd, termios.TIOCSTI, b"x")
                outcome[fd] = "injected"
            except OSError as exc:
                outcome[fd] = exc.errno
        print(json.dumps(outcome))
    """
    assert "injected" not in last_json(run(contained, code)).values()


def test_docker_and_host_unix_sockets_are_unreachable(contained: Containment) -> None:
    code = """
        import json, socket
        outcome = {}
        for path in ("/var/run/docker.sock", "/run/docker.sock", "\\0abstract-probe"):
            try:
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect(path)
                outcome[path] = "connected"
            except OSError as exc:
                outcome[path] = exc.errno
        left, right = socket.socketpair()  # the one kind of socket allowed: already connected
        left.sendall(b"ping")
        outcome["socketpair"] = right.recv(4).decode()
        try:
            left.connect("/var/run/docker.sock")
            outcome["reconnect"] = "connected"
        except OSError as exc:
            outcome["reconnect"] = exc.errno
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    assert outcome.pop("socketpair") == "ping"
    assert "connected" not in outcome.values(), outcome


def test_network_is_unreachable(contained: Containment) -> None:
    code = """
        import json, socket
        outcome = {}
        for host in ("127.0.0.1", "172.17.0.1", "10.0.2.2"):
            try:
                socket.create_connection((host, @PORT@), timeout=2)
                outcome[host] = "connected"
            except OSError as exc:
                outcome[host] = exc.errno
        try:
            socket.getaddrinfo("pypi.org", 443)
            outcome["dns"] = "resolved"
        except OSError as exc:
            outcome["dns"] = str(exc)
        print(json.dumps(outcome))
    """
    outcome = last_json(run(contained, code))
    assert "connected" not in outcome.values() and outcome["dns"] != "resolved", outcome
    assert contained.listener.connections == 0
