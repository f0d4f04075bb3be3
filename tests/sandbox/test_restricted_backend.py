"""RestrictedSandbox through its public API: contract, sessions, files, limits, worker failures,
concurrency, clean shutdown, and the kernel layers under the policy.

Tests about the kernel layers use ``escaped``: a sandbox whose policy lets code import os,
socket and ctypes -- what a complete escape of the RestrictedPython policy would give an
attacker. The namespaces, Landlock, rlimits and the empty environment must hold even then.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import tempfile
import threading
import time

import pytest

from sandbox import Limits, RunResult, create_sandbox
from sandbox import contract as sandbox_contract
from sandbox.restricted import RestrictedSandbox
from sandbox.runtime.lockdown import landlock_abi, seccomp_supported

IS_ROOT = os.geteuid() == 0
STANDIN = "tests.sandbox.standin_policy"
REAL_POLICY = importlib.util.find_spec("sandbox.restricted.policy") is not None
ESCAPE_IMPORTS = ["os", "socket", "ctypes", "time", "math", "errno", "threading", "subprocess"]
LIMITS = Limits(timeout_s=5, memory_mb=256, max_output_bytes=10_000)


@pytest.fixture(scope="module")
def sb():
    options = {} if REAL_POLICY else {"policy_module": STANDIN}
    sandbox = create_sandbox("restricted", limits=LIMITS, pool_size=2, **options)
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def escaped():
    sandbox = RestrictedSandbox(
        limits=LIMITS, pool_size=2, policy_module=STANDIN, allowed_imports=ESCAPE_IMPORTS
    )
    yield sandbox
    sandbox.close()


# --------------------------------------------------------------------------- contract


def test_contract_basics(sb):
    result = sb.run("print(1 + 1)")
    assert isinstance(result, RunResult)
    assert result.ok and result.stdout == "2\n" and result.stderr == ""
    assert result.error is None and result.limit_hit is None
    assert result.backend == "restricted"
    assert result.duration_ms > 0
    assert result.images == [] and result.files == {}


def test_errors_carry_type_message_and_user_line(sb):
    result = sb.run("a = 1\nb = [][a]\n")
    assert not result.ok
    assert result.error.type == "IndexError"
    assert result.error.lineno == 2
    assert "list index out of range" in result.error.message


def test_a_huge_exception_message_is_cut_not_a_worker_crash(sb):
    result = sb.run("raise ValueError('x' * 10_000_000)")
    assert result.error is not None and result.error.type == "ValueError", result.error
    assert result.error.kind == "runtime" and result.error.lineno == 1
    assert "[cut " in result.error.message and len(result.error.message) < 100_000


def test_preflight_refuses_syntax_errors_without_running(sb):
    error = sb.preflight("def broken(:\n    pass")
    assert error is not None and error.kind == "syntax" and error.lineno == 1
    assert sb.preflight("x = 1") is None
    if REAL_POLICY:
        refused = sb.preflight("import socket")
        assert refused is not None and refused.kind == "import" and "socket" in refused.message


def test_code_must_be_text(sb):
    with pytest.raises(TypeError):
        sb.run(b"print(1)")  # type: ignore[arg-type]


def test_sessions_keep_variables_and_stay_apart(sb):
    sb.run("x = 41", session_id="s1")
    assert sb.run("print(x + 1)", session_id="s1").stdout == "42\n"
    other = sb.run("print(x)", session_id="s2")
    assert other.error is not None and other.error.type == "NameError"
    sb.close_session("s1")
    forgotten = sb.run("print(x)", session_id="s1")
    assert forgotten.error is not None and forgotten.error.type == "NameError"
    sb.close_session("s1")
    sb.close_session("s2")


def test_per_run_limits_override_the_sandbox_limits(sb):
    result = sb.run("print('x' * 5000)", limits=Limits(max_output_bytes=100))
    assert result.limit_hit == "output" and len(result.stdout) == 100
    assert sb.run("print('x' * 5000)").ok


def test_matplotlib_figures_return_as_png(sb):
    result = sb.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.title('t')")
    assert result.ok, result.error
    assert len(result.images) == 1 and result.images[0].startswith(b"\x89PNG\r\n\x1a\n")
    assert sb.run("print(1)").images == []  # figures do not leak into the next run


# --------------------------------------------------------------------------- files


def test_files_go_in_and_created_files_come_back(escaped):
    code = (
        "import os\n"
        "print(open('data.csv').read())\n"
        "open('out.txt', 'w').write('result')\n"
        "os.mkdir('sub')\n"
        "open('sub/deep.txt', 'w').write('deep')\n"
    )
    result = escaped.run(code, files={"data.csv": b"a,b\n1,2", "cfg/x.json": b"{}"})
    assert result.ok, result.error
    assert result.stdout == "a,b\n1,2\n"
    assert result.files == {"out.txt": b"result", "sub/deep.txt": b"deep"}  # inputs unchanged


def test_input_names_cannot_leave_the_work_dir(sb):
    for bad in ("../escape.txt", "/etc/evil", "a/../../b", ""):
        with pytest.raises(ValueError):
            sb.run("pass", files={bad: b"x"})


def test_symlinks_and_hard_links_in_the_work_dir_are_never_followed(escaped):
    code = (
        "import os\n"
        "os.symlink('/etc/shadow', 'shadow')\n"
        "os.symlink('/etc', 'etc_dir')\n"
        "open('real.txt', 'w').write('mine')\n"
        "os.link('real.txt', 'hard.txt')\n"
    )
    result = escaped.run(code)
    assert result.ok, result.error
    assert "shadow" not in result.files and not any(k.startswith("etc_dir") for k in result.files)
    assert "real.txt" not in result.files and "hard.txt" not in result.files
    assert "hard link" in result.stderr


def test_host_writes_inputs_through_no_symlink_planted_by_a_session(escaped):
    canary_dir = tempfile.mkdtemp(prefix="canary-")
    canary = os.path.join(canary_dir, "canary.txt")
    with open(canary, "w") as handle:
        handle.write("untouched")
    try:
        plant = f"import os\nos.symlink({canary!r}, 'input.txt')\nos.symlink({canary_dir!r}, 'd')"
        assert escaped.run(plant, session_id="plant").ok
        result = escaped.run(
            "print(open('input.txt').read())",
            session_id="plant",
            files={"input.txt": b"new content", "d2/x": b"1"},
        )
        assert result.stdout == "new content\n"
        with pytest.raises(ValueError):
            escaped.run("pass", session_id="plant", files={"d/x.txt": b"through the link"})
        with open(canary) as handle:
            assert handle.read() == "untouched"
        assert os.listdir(canary_dir) == ["canary.txt"]
    finally:
        escaped.close_session("plant")
        shutil.rmtree(canary_dir)


# --------------------------------------------------------------------------- limits and failures


def test_timeout_kills_the_run_and_the_next_run_works(sb):
    result = sb.run("while True:\n    pass", limits=Limits(timeout_s=0.5))
    assert result.limit_hit == "timeout" and not result.ok
    assert result.error.kind == "limit"
    assert sb.run("print('next')").stdout == "next\n"


def test_memory_bomb_reports_memory(sb):
    result = sb.run("x = [0] * (10 ** 9)", limits=Limits(memory_mb=64))
    assert result.limit_hit == "memory" and not result.ok
    assert sb.run("print('next')").stdout == "next\n"


def test_output_flood_is_cut_at_the_cap(sb):
    result = sb.run("while True:\n    print('flood ' * 20)", limits=Limits(max_output_bytes=4096))
    assert result.limit_hit == "output"
    assert len(result.stdout.encode()) == 4096
    assert result.stdout.startswith("flood flood")


def test_a_crashing_child_is_reported_and_the_next_run_works(escaped):
    result = escaped.run("import ctypes\nctypes.string_at(0)")
    assert not result.ok and result.error.kind == "crash"
    assert "SIGSEGV" in result.error.message
    assert escaped.run("print('alive')").stdout == "alive\n"


def test_a_session_lost_to_a_limit_says_so_and_starts_fresh(sb):
    sb.run("kept = 1", session_id="lost")
    stopped = sb.run("while True:\n    pass", session_id="lost", limits=Limits(timeout_s=0.3))
    assert stopped.limit_hit == "timeout"
    fresh = sb.run("print('kept' in dir())", session_id="lost")
    assert fresh.stdout == "False\n"
    assert "state was lost" in fresh.stderr
    sb.close_session("lost")


def test_a_dead_fork_server_is_replaced_and_the_next_runs_succeed():
    with RestrictedSandbox(limits=LIMITS, pool_size=1, policy_module=STANDIN) as sandbox:
        victim = sandbox._pool.slots[0].server.pid
        os.killpg(victim, signal.SIGKILL)
        result = sandbox.run("print('after the kill')")
        assert result.ok and result.stdout == "after the kill\n"
        assert sandbox._pool.slots[0].server.pid != victim


def test_a_hung_fork_server_hits_the_backstop_and_is_replaced():
    with RestrictedSandbox(limits=LIMITS, pool_size=1, policy_module=STANDIN) as sandbox:
        sandbox.run("pass")
        frozen = sandbox._pool.slots[0].server.pid
        os.kill(frozen, signal.SIGSTOP)  # alive but silent: only the host's backstop helps
        result = sandbox.run("print('never')", limits=Limits(timeout_s=0.2))
        assert result.limit_hit == "timeout" and not result.ok
        assert sandbox.run("print('fresh')").stdout == "fresh\n"
        assert sandbox._pool.slots[0].server.pid != frozen


def test_concurrent_runs_from_threads_each_get_their_own_result(sb):
    results: dict[tuple[int, int], RunResult] = {}

    def worker(thread: int) -> None:
        for index in range(6):
            results[thread, index] = sb.run(f"print({thread} * 1000 + {index})")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 36
    for (thread, index), result in results.items():
        assert result.ok and result.stdout == f"{thread * 1000 + index}\n"


# --------------------------------------------------------------------------- clean shutdown


def _process_groups() -> dict[int, int]:
    """pid -> process group of every process on the machine."""
    groups = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    groups[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[3])
            except (OSError, IndexError, ValueError):
                continue
    return groups


@pytest.fixture
def private_tempdir(monkeypatch):
    """A temp root of our own, so helpers running beside us cannot make the count lie."""
    path = tempfile.mkdtemp(prefix="close-test-")
    os.chmod(path, 0o711)  # the sandbox user must reach its work dirs below it
    monkeypatch.setattr(tempfile, "tempdir", path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_close_leaves_no_process_temp_dir_or_thread_behind(private_tempdir):
    threads = threading.active_count()
    sandbox = RestrictedSandbox(limits=LIMITS, pool_size=2, session_ttl_s=60, policy_module=STANDIN)
    sandbox.run("x = 1", session_id="a")
    sandbox.run("open('f.txt', 'w').write('x')", session_id="b", files={"in.txt": b"1"})
    sandbox.run("while True: pass", limits=Limits(timeout_s=0.2))
    # Each fork-server leads a process group holding everything it forked.
    groups = {slot.server.pid for slot in sandbox._pool.slots}
    members = [pid for pid, group in _process_groups().items() if group in groups]
    assert len(members) >= 4  # two servers, their spares, two session children
    assert os.listdir(private_tempdir)
    sandbox.close()
    sandbox.close()  # idempotent
    assert [pid for pid, group in _process_groups().items() if group in groups] == []
    assert os.listdir(private_tempdir) == []
    assert threading.active_count() == threads


WRITE_MB = """
written = 0
try:
    for index in range({count}):
        with open(f"{prefix}{{index}}.bin", "wb") as handle:
            handle.write(b"x" * 1024 * 1024)
        written += 1
finally:
    print(written)
"""


@pytest.mark.skipif(not IS_ROOT, reason="the tmpfs under the work dirs needs root")
def test_work_dirs_together_are_capped_and_a_full_run_fails_cleanly():
    with RestrictedSandbox(
        limits=LIMITS, pool_size=1, policy_module=STANDIN, max_workdir_mb=8
    ) as sandbox:
        assert not any("tmpfs" in note for note in sandbox.degraded), sandbox.degraded
        kept = sandbox.run(WRITE_MB.format(count=5, prefix="a"), session_id="keeps")
        assert kept.ok and kept.stdout == "5\n", kept.error
        full = sandbox.run(WRITE_MB.format(count=20, prefix="b"))
        assert not full.ok and full.error.type == "OSError", full.error
        assert "No space left" in full.error.message and full.error.lineno == 6
        assert int(full.stdout) < 4  # the session's 5 MB count against the same cap
        after = sandbox.run(WRITE_MB.format(count=2, prefix="c"))
        assert after.ok and after.stdout == "2\n", after.error  # the full run's dir is gone
        sandbox.close_session("keeps")
        assert sandbox.run(WRITE_MB.format(count=7, prefix="d")).ok


def test_without_the_tmpfs_a_session_past_the_cap_is_closed_after_its_run(monkeypatch):
    from sandbox.restricted import workdir

    monkeypatch.setattr(workdir, "mount_size_cap", lambda *_args: "Operation not permitted")
    with RestrictedSandbox(
        limits=LIMITS, pool_size=1, policy_module=STANDIN, max_workdir_mb=2
    ) as sandbox:
        assert any("tmpfs" in note for note in sandbox.degraded), sandbox.degraded
        small = sandbox.run(WRITE_MB.format(count=1, prefix="a"), session_id="s")
        assert small.ok, small.error
        big = sandbox.run(WRITE_MB.format(count=3, prefix="b"), session_id="s")
        assert not big.ok and big.limit_hit == "output" and "max_workdir_mb" in big.error.message
        assert "s" not in sandbox._sessions
        assert sandbox.run("print(1)", session_id="s").ok


@pytest.mark.skipif(not IS_ROOT, reason="only a root host hands work dirs to another user")
def test_a_tmpdir_the_sandbox_user_cannot_enter_is_not_used(monkeypatch):
    private = tempfile.mkdtemp(prefix="private-tmp-")  # 0700, like pytest's tmp_path root
    monkeypatch.setattr(tempfile, "tempdir", private)
    try:
        with RestrictedSandbox(limits=LIMITS, pool_size=1, policy_module=STANDIN) as sandbox:
            result = sandbox.run(
                "open('out.txt', 'w').write('hi')\nprint(open('in.txt').read())",
                files={"in.txt": b"data"},
            )
            assert result.ok and result.stdout == "data\n", result.error
            assert result.files == {"out.txt": b"hi"}
            assert not sandbox._base_dir.startswith(private)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_idle_sessions_are_reaped_after_their_ttl():
    with RestrictedSandbox(
        limits=LIMITS, pool_size=1, session_ttl_s=0.2, policy_module=STANDIN
    ) as sandbox:
        sandbox.run("x = 1", session_id="idle")
        deadline = time.monotonic() + 10
        while sandbox._sessions and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sandbox._sessions
        assert sandbox.run("print('x' in dir())", session_id="idle").stdout == "False\n"


# --------------------------------------------------------------------------- the kernel layers


def test_environment_is_empty_even_after_an_escape(escaped, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "sk-canary-never-visible")
    fresh = RestrictedSandbox(
        limits=LIMITS, pool_size=1, policy_module=STANDIN, allowed_imports=["os"]
    )
    try:
        result = fresh.run("import os\nprint(dict(os.environ))")
    finally:
        fresh.close()
    assert result.ok and result.stdout == "{}\n"


@pytest.mark.skipif(not IS_ROOT, reason="privilege drop needs the host to run as root")
def test_code_runs_as_nobody(escaped):
    result = escaped.run("import os\nprint(os.getuid(), os.getgid(), os.getgroups())")
    assert result.stdout == "65534 65534 []\n"


@pytest.mark.skipif(not seccomp_supported(), reason="no seccomp syscall table for this CPU")
def test_no_socket_of_any_family_even_after_an_escape(escaped):
    code = (
        "import socket\n"
        "for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK):\n"
        "    try:\n"
        "        socket.socket(family, socket.SOCK_DGRAM)\n"
        "        print('open')\n"
        "    except PermissionError:\n"
        "        print('denied')\n"
    )
    result = escaped.run(code)
    assert result.stdout == "denied\n" * 4, (result.stdout, result.error)
    assert escaped.isolation["sockets_denied"] is True
    if IS_ROOT:
        assert escaped.isolation["network"] is True


@pytest.mark.skipif(not landlock_abi(), reason="kernel without Landlock")
def test_landlock_denies_files_outside_the_work_dir(escaped):
    """Unreadable, not merely unwritable: a world-readable file of our own (in a dir every user
    may enter) is denied, and so are the host's files. The checkout may sit below a directory
    the sandbox user cannot enter, where the worker's mount namespace hides it altogether
    (FileNotFoundError): that counts as unreadable too."""
    public_dir = tempfile.mkdtemp(prefix="landlock-public-", dir="/tmp")
    os.chmod(public_dir, 0o755)
    public = os.path.join(public_dir, "public.txt")
    with open(public, "w") as handle:
        handle.write("world-readable\n")
    os.chmod(public, 0o644)
    code = (
        "def attempt(action, hidden_ok=False):\n"
        "    try:\n"
        "        action()\n"
        "        return 'allowed'\n"
        "    except PermissionError:\n"
        "        return 'denied'\n"
        "    except FileNotFoundError:\n"
        "        return 'denied' if hidden_ok else 'missing'\n"
        f"print(attempt(lambda: open({public!r}).read()))\n"
        "print(attempt(lambda: open('/etc/passwd').read()))\n"
        "print(attempt(lambda: open('/tmp/landlock-canary', 'w')))\n"
        f"print(attempt(lambda: open({os.path.abspath('pyproject.toml')!r}).read(), True))\n"
        f"print(attempt(lambda: open({sandbox_contract.__file__!r}).read(), True))\n"
        "print(attempt(lambda: open('here.txt', 'w').write('ok')))\n"
    )
    try:
        result = escaped.run(code)
    finally:
        shutil.rmtree(public_dir, ignore_errors=True)
    assert result.stdout.split() == ["denied"] * 5 + ["allowed"], (result.stdout, result.error)
    assert not os.path.exists("/tmp/landlock-canary")
    assert escaped.degraded == []


@pytest.mark.skipif(not IS_ROOT, reason="RLIMIT_NPROC binds only once root is dropped")
def test_no_new_processes_even_after_an_escape(escaped):
    result = escaped.run("import os\nos.fork()")
    assert result.limit_hit == "processes"
    spawn = escaped.run("import subprocess\nsubprocess.run(['/bin/true'])")
    assert not spawn.ok


@pytest.mark.skipif(not seccomp_supported(), reason="no seccomp syscall table for this CPU")
def test_memory_files_outside_the_rlimits_are_denied_even_after_an_escape(escaped):
    result = escaped.run("import os\nos.memfd_create('hog')")
    assert result.error is not None and result.error.type == "PermissionError"
    assert escaped.isolation["seccomp"] is True and escaped.isolation["ipc"] is True
