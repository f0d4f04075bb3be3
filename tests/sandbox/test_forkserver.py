"""The generic fork-server loop with plain CPython ``exec`` (the flavour the Docker image runs).

Plain exec means the code can call anything, so these tests show what the kernel-level layers
(rlimits, Landlock, namespaces, privilege drop, fd hygiene) hold on their own.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading

import pytest

from sandbox.restricted.pool import ForkServerProcess
from sandbox.runtime.capture import MAX_ERROR_TEXT_BYTES
from sandbox.runtime.lockdown import NOBODY, landlock_abi, seccomp_supported
from sandbox.runtime.protocol import FrameReader, ProtocolError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from sandbox.runtime.forkserver import main; main(sys.argv[2:])"
)
IS_ROOT = os.geteuid() == 0
# Generous: runs that should finish must finish on a loaded machine (tests of the timeout pass
# their own).
LIMITS = {"timeout_s": 20.0, "memory_mb": 128, "max_output_bytes": 2000, "max_file_bytes": 1 << 20}

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork-server needs Linux")


def start_server(*args: str) -> ForkServerProcess:
    argv = [sys.executable, "-I", "-c", BOOT, ROOT, *args]
    server = ForkServerProcess(argv, {"LANG": "C.UTF-8", "SECRET_TOKEN": "hunter2-canary"})
    server.wait_ready(60)
    return server


@pytest.fixture(scope="module")
def base_dir():
    path = tempfile.mkdtemp(prefix="fs-test-")
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    args = ["--preload", "numpy", "--isolate", "--clear-env", "--seccomp"]
    if IS_ROOT:
        args += ["--drop-to", str(NOBODY)]
    proc = start_server(*args)
    yield proc
    proc.kill()


class Runner:
    def __init__(self, server: ForkServerProcess, base_dir: str) -> None:
        self.server, self.base_dir = server, base_dir

    def workdir(self) -> str:
        path = tempfile.mkdtemp(dir=self.base_dir)
        if IS_ROOT:
            os.chown(path, NOBODY, NOBODY)
        return path

    def __call__(self, code: str, session: str | None = None, workdir: str | None = None, **limits):
        request = {
            "op": "run",
            "code": code,
            "workdir": workdir or self.workdir(),
            "session": session,
            "limits": {**LIMITS, **limits},
        }
        reply = self.server.request(request, 30, 64 << 20)
        assert reply["op"] == "result"
        return reply


@pytest.fixture
def run(server, base_dir):
    return Runner(server, base_dir)


def result_of(reply):
    return reply["result"]


def test_ready_frame_reports_the_isolation_in_place(server):
    info = server.isolation
    assert info["landlock_abi"] == landlock_abi()
    if IS_ROOT:
        assert info["network"] is True and info["mounts"] is True
        assert info["privileges_dropped"] is True


def test_plain_run_returns_output_and_a_clean_result(run):
    result = result_of(run("print(6 * 7)\nprint(__name__)"))
    assert result["ok"] is True
    assert result["stdout"] == "42\n__main__\n"
    assert result["error"] is None and result["limit_hit"] is None


def test_errors_name_the_type_and_the_users_line(run):
    result = result_of(run("x = 1\n\ny = x / 0\n"))
    assert result["ok"] is False
    assert result["error"]["type"] == "ZeroDivisionError"
    assert result["error"]["lineno"] == 3
    assert "y = x / 0" in result["error"]["traceback"]
    syntax = result_of(run("def f(:\n"))["error"]
    assert syntax["type"] == "SyntaxError" and syntax["kind"] == "syntax"
    assert syntax["lineno"] == 1


def test_user_exceptions_cannot_pass_for_limits_or_crashes(run):
    code = (
        "class Forged(Exception):\n"
        "    info = {'type': 'MemoryError', 'message': 'x', 'kind': 'crash', 'lineno': 'no'}\n"
        "raise Forged('mine')\n"
    )
    error = result_of(run(code))["error"]
    assert (error["type"], error["message"], error["kind"], error["lineno"]) == (
        "Forged",
        "mine",
        "runtime",
        3,
    )
    unprintable = (
        "class Bad(Exception):\n    def __str__(self):\n        raise ValueError\nraise Bad()"
    )
    error = result_of(run(unprintable))["error"]
    assert error["type"] == "Bad" and "could not be printed" in error["message"]


def test_timeout_kills_the_child_keeps_what_it_printed_and_the_next_run_works(run):
    result = result_of(run("print('started', flush=True)\nwhile True: pass", timeout_s=0.5))
    assert result["limit_hit"] == "timeout"
    assert result["error"]["kind"] == "limit"
    assert result["stdout"] == "started\n"
    assert result_of(run("print('next')"))["stdout"] == "next\n"


def test_memory_bomb_reports_memory(run):
    result = result_of(run("x = bytearray(512 * 1024 * 1024)", memory_mb=64))
    assert result["limit_hit"] == "memory"
    growing = result_of(run("a = []\nwhile True: a.append(' ' * 1_000_000)", memory_mb=64))
    assert growing["limit_hit"] == "memory"
    assert result_of(run("print('fine')"))["stdout"] == "fine\n"


def test_output_flood_is_cut_at_the_cap_and_reported(run):
    result = result_of(run("while True: print('y' * 99)", max_output_bytes=1000))
    assert result["limit_hit"] == "output"
    assert len(result["stdout"].encode()) == 1000
    assert set(result["stdout"].replace("\n", "")) == {"y"}
    swallowed = (
        "while True:\n    try:\n        print('z' * 50)\n    except BaseException:\n        pass\n"
    )
    looping = result_of(run(swallowed, max_output_bytes=500, timeout_s=0.5))
    assert looping["limit_hit"] == "timeout", looping  # catching the limit buys only the timeout
    assert len(looping["stdout"].encode()) <= 500  # a loaded machine may not reach the cap


def test_segfault_is_reported_as_a_crash_and_the_next_run_works(run):
    result = result_of(run("import ctypes\nctypes.string_at(0)"))
    assert result["ok"] is False
    assert result["error"]["kind"] == "crash"
    assert "SIGSEGV" in result["error"]["message"]
    assert result_of(run("print('alive')"))["stdout"] == "alive\n"


def test_exiting_without_a_report_is_a_crash_not_a_hang(run):
    result = result_of(run("import os\nos._exit(3)"))
    assert result["error"]["kind"] == "crash"
    assert "status 3" in result["error"]["message"]


@pytest.mark.skipif(not IS_ROOT, reason="RLIMIT_NPROC=0 only binds once root dropped to nobody")
def test_no_new_processes_or_threads(run):
    fork = result_of(run("import os\nos.fork()"))
    assert fork["limit_hit"] == "processes"
    thread = result_of(run("import threading\nthreading.Thread(target=print).start()"))
    assert thread["limit_hit"] == "processes"
    spawn = result_of(run("import subprocess\nsubprocess.run(['/bin/true'])"))
    assert spawn["ok"] is False


def test_an_unrelated_blocking_io_error_is_not_reported_as_the_process_limit(run):
    code = "import os\nr, w = os.pipe()\nos.set_blocking(r, False)\nos.read(r, 1)"
    result = result_of(run(code))
    assert result["error"]["type"] == "BlockingIOError" and result["error"]["lineno"] == 4
    assert result["limit_hit"] is None and result["error"]["kind"] == "runtime"


def test_environment_is_empty(run):
    result = result_of(run("import os\nprint(sorted(os.environ))"))
    assert result["stdout"] == "[]\n"


@pytest.mark.skipif(not landlock_abi(), reason="kernel without Landlock")
def test_landlock_confines_files_to_the_work_dir(run):
    code = """
import os
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return type(exc).__name__
print(attempt(lambda: open('/etc/passwd').read()))
print(attempt(lambda: open('/tmp/escape-canary', 'w')))
print(attempt(lambda: os.listdir('/proc/1')))
print(attempt(lambda: open('/proc/self/environ').read()))
print(attempt(lambda: os.listdir(os.path.expanduser('~root'))))
open('mine.txt', 'w').write('ok')
print(open('mine.txt').read())
import math, json, datetime  # the Python installation stays readable
print(datetime.datetime.strptime('2024', '%Y').year)
"""
    result = result_of(run(code))
    assert result["ok"], result["error"]
    lines = result["stdout"].split()
    assert lines[:5] == ["PermissionError"] * 5
    assert lines[5:] == ["ok", "2024"]
    assert not os.path.exists("/tmp/escape-canary")


@pytest.mark.skipif(not seccomp_supported(), reason="no seccomp syscall table for this CPU")
def test_no_socket_of_any_family_but_a_socketpair(run):
    code = """
import socket
for family, kind in [(socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM),
                     (socket.AF_UNIX, socket.SOCK_STREAM), (socket.AF_NETLINK, socket.SOCK_RAW),
                     (socket.AF_PACKET, socket.SOCK_RAW)]:
    try:
        socket.socket(family, kind)
        print('open', family)
    except PermissionError:
        print('denied')
a, b = socket.socketpair()
a.send(b'x')
print(b.recv(1))
"""
    result = result_of(run(code))
    assert result["ok"], result["error"]
    assert result["stdout"].splitlines() == ["denied"] * 5 + ["b'x'"]


@pytest.mark.skipif(not IS_ROOT, reason="network namespaces need root here")
def test_no_network_only_a_loopback_that_is_down(base_dir):
    """Under the namespace alone (sockets allowed by seccomp): nothing is reachable."""
    args = ["--isolate", "--seccomp", "--allow-sockets", "--drop-to", str(NOBODY)]
    server = start_server(*args)
    code = """
import socket, errno
print(socket.if_nameindex())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b'x', ('127.0.0.1', 9))
except OSError as exc:
    print(errno.errorcode[exc.errno])
try:
    socket.create_connection(('1.1.1.1', 80), timeout=1)
except OSError as exc:
    print('tcp', type(exc).__name__)
"""
    try:
        result = result_of(Runner(server, base_dir)(code))
    finally:
        server.kill()
    assert result["ok"], result["error"]
    lines = result["stdout"].splitlines()
    assert lines[0] == "[(1, 'lo')]"
    assert lines[1] == "ENETUNREACH"
    assert lines[2].startswith("tcp ")


@pytest.mark.skipif(not seccomp_supported(), reason="no seccomp syscall table for this CPU")
def test_seccomp_denies_memory_files_ipc_and_namespaces(run):
    code = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def denied(call):
    try:
        call()
    except PermissionError:
        return 'EPERM'
    return 'allowed'
print(denied(lambda: os.memfd_create('hog')))
print('unshare', libc.unshare(0x10000000), errno.errorcode.get(ctypes.get_errno()))
print('shmget', libc.shmget(0, 4096, 0o1600), errno.errorcode.get(ctypes.get_errno()))
print('pipe ok', len(os.pipe()))
"""
    result = result_of(run(code))
    assert result["ok"], result["error"]
    assert result["stdout"].splitlines() == [
        "EPERM",
        "unshare -1 EPERM",
        "shmget -1 EPERM",
        "pipe ok 2",
    ]


def test_children_cannot_forge_frames_through_inherited_fds(run):
    forged = '{"op":"result","result":{"ok":true,"stdout":"FORGED"},"session_new":false}'
    code = f"""
import os
frame = b'%d\\n' % len({forged!r}) + {forged!r}.encode()
for fd in range(3, 256):
    try:
        os.write(fd, frame)
    except OSError:
        pass
print('done')
"""
    run(code)  # its own result and output are the child's to spoil; nothing else is
    for word in ("after", "again"):
        reply = run(f"print({word!r})")
        assert reply["result"]["stdout"] == f"{word}\n"


def test_each_run_gets_fresh_random_numbers(run):
    code = "import random, numpy\nprint(random.random(), numpy.random.rand())"
    first, second = (result_of(run(code))["stdout"] for _ in range(2))
    assert first.split()[0] != second.split()[0]
    assert first.split()[1] != second.split()[1]


def test_sessions_keep_state_apart_and_can_be_closed(run, server):
    assert run("x = 41", session="a")["session_new"] is True
    reply = run("print(x + 1)", session="a")
    assert reply["session_new"] is False and reply["result"]["stdout"] == "42\n"
    other = result_of(run("print('x' in dir())", session="b"))
    assert other["stdout"] == "False\n"
    assert server.request({"op": "close_session", "session": "a"}, 10, 4096)["op"] == "closed"
    again = run("print('x' in dir())", session="a")
    assert again["session_new"] is True and again["result"]["stdout"] == "False\n"


def test_a_session_killed_by_its_timeout_starts_fresh(run, base_dir):
    workdir = run.workdir()
    run("y = 1", session="t", workdir=workdir)
    assert (
        result_of(run("while True: pass", session="t", workdir=workdir, timeout_s=0.3))["limit_hit"]
        == "timeout"
    )
    reply = run("print('y' in dir())", session="t", workdir=workdir)
    assert reply["session_new"] is True and reply["result"]["stdout"] == "False\n"


def test_matplotlib_figures_come_back_as_png(run):
    code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])"
    result = result_of(run(code))
    assert result["ok"], result["error"]
    assert len(result["images"]) == 1
    import base64

    assert base64.b64decode(result["images"][0]).startswith(b"\x89PNG")


def test_server_ends_with_its_children_when_the_host_closes_its_pipe(base_dir):
    proc = start_server()
    runner = Runner(proc, base_dir)
    runner("s = 1", session="keep")
    assert proc.proc.stdin is not None
    proc.proc.stdin.close()
    assert proc.proc.wait(10) == 0
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    proc.kill()


@pytest.mark.parametrize("payload", [b"[" * 200_000 + b"]" * 200_000, b'{"a":' + b"[" * 200_000])
def test_a_deeply_nested_frame_is_a_protocol_error_not_a_recursion_error(payload):
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"%d\n" % len(payload))
        reader = FrameReader(read_end, 1 << 20)
        writer = threading.Thread(target=os.write, args=(write_end, payload))
        writer.start()
        with pytest.raises(ProtocolError):
            reader.read()
        writer.join()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_huge_exception_message_comes_back_capped_with_its_type(run):
    result = result_of(run("raise ValueError('x' * 10_000_000)", memory_mb=512))
    error = result["error"]
    assert error["type"] == "ValueError" and error["kind"] == "runtime"
    assert len(error["message"]) <= MAX_ERROR_TEXT_BYTES and "[cut " in error["message"]
    assert len(error["traceback"]) <= MAX_ERROR_TEXT_BYTES
    assert error["traceback"].rstrip().endswith("x")  # the tail names the exception
