"""One run never costs another anything: bad replies, cancellation, CPU between runs, clean exit.

Every backend. The hostile code here has what a full escape of the restricted policy would give
(the restricted backend runs it under the stand-in policy that compiles plain Python; docker runs
real CPython anyway), so these tests show what the runtime itself holds:

- a malformed, oversized, forged or extra reply ends only its own run and process (an error of
  kind ``internal`` naming the cause); the fork-server and every other session live on;
- ``run(cancel=...)`` kills the program at once and leaves the sandbox ready;
- between requests a session's process uses no CPU, whatever it armed or started;
- a process that used the docker backend exits cleanly and leaves no container;
- a restricted sandbox killed outright leaves no tmpfs mount the next one does not remove.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox import Limits, Sandbox, create_sandbox
from sandbox.restricted import RestrictedSandbox
from tests.sandbox.conftest import REPO_ROOT, backend_params, describe, require_backend

STANDIN = "tests.sandbox.standin_policy"
HOSTILE_IMPORTS = [
    "os", "gc", "json", "math", "io", "matplotlib", "resource", "signal", "threading", "time",
    "ctypes",
]  # fmt: skip
LIMITS = Limits(timeout_s=10, memory_mb=256, max_output_bytes=20_000)
FAST = dataclasses.replace(LIMITS, timeout_s=3)
CANCEL_BOUND_S = 5.0  # the promise is 1 s; the bound leaves room for a loaded machine
CPU_WINDOW_S = 3.0
CPU_MARGIN_S = 0.5
MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module", params=backend_params())
def box(request: pytest.FixtureRequest, host_secret: str) -> Iterator[Sandbox]:
    require_backend(request.param)
    if request.param == "restricted":
        sandbox: Sandbox = RestrictedSandbox(
            limits=LIMITS, pool_size=1, policy_module=STANDIN, allowed_imports=HOSTILE_IMPORTS
        )
    else:  # docker and jail run real CPython: no policy to stand in for
        sandbox = create_sandbox(request.param, limits=LIMITS, pool_size=1)
    yield sandbox
    sandbox.close()


# ----------------------------------------------------------------------------------- helpers


def server_identity(box: Sandbox) -> object:
    """What must not change when one run misbehaves: the fork-server (restricted) or the
    victim session's container (docker)."""
    if isinstance(box, RestrictedSandbox):
        return box._pool.slots[0].server.pid
    session = box._sessions._sessions.get("victim")  # type: ignore[attr-defined]
    return session.container.id if session and session.container else None


def plant_victim(box: Sandbox) -> object:
    planted = box.run("secret = 4242\nprint('planted')", session_id="victim")
    assert planted.ok and planted.stdout == "planted\n", describe(planted)
    return server_identity(box)


def assert_victim_intact(box: Sandbox, identity: object) -> None:
    after = box.run("print(secret)", session_id="victim")
    assert after.ok and after.stdout == "4242\n", describe(after)
    assert server_identity(box) == identity, "the fork-server or the victim's container changed"
    fresh = box.run("print(6 * 7)")
    assert fresh.ok and fresh.stdout == "42\n", describe(fresh)


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def backend_pids(box: Sandbox) -> list[int]:
    """Every process of the sandbox: the fork-servers' process groups, or the containers'."""
    if isinstance(box, RestrictedSandbox):
        groups = {slot.server.pid for slot in box._pool.slots}
        pids = []
        for name in os.listdir("/proc"):
            fields = _stat_fields(int(name)) if name.isdigit() else None
            if fields is not None and int(fields[2]) in groups:
                pids.append(int(name))
        return pids
    containers = [s.container for s in box._sessions._sessions.values() if s.container]  # type: ignore[attr-defined]
    for pool in box._pools.values():  # type: ignore[attr-defined]
        containers += [*pool._idle, *pool._busy]
    pids = []
    for container in containers:
        try:
            top = container.container.top()
        except Exception:
            continue
        column = top["Titles"].index("PID")
        pids += [int(row[column]) for row in top["Processes"]]
    return pids


def finish_warm_ups(box: Sandbox) -> None:
    """Have every fork-server of the sandbox finish its warm-up imports now (it does them between
    requests, see sandbox/runtime/warmup.py), so that the CPU measured next is the code's alone."""
    if isinstance(box, RestrictedSandbox):
        for slot in box._pool.slots:
            slot.server.wait_ready()
            assert slot.server.request({"op": "warm"}, 300, 1 << 20)["op"] == "warm"
        return
    containers = [s.container for s in box._sessions._sessions.values() if s.container]  # type: ignore[attr-defined]
    for pool in box._pools.values():  # type: ignore[attr-defined]
        containers += [*pool._idle]
    for container in containers:
        with container.lock:
            container.send({"op": "warm"})
            assert container.receive(time.monotonic() + 300)["op"] == "warm"


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# ------------------------------------------------------------------------------- bad replies

SAVEFIG_NOT_PNG = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig = plt.figure()
plt.plot([1, 2, 3])
def fake(target, **kwargs):
    target.write(b"this is not a PNG")
fig.savefig = fake
print("drawn")
"""

FORGED_FRAME = """
import json, os
payload = json.dumps({"ok": True, "error": None, "limit_hit": None, "images": [],
                      "run": "0" * 32}).encode()
frame = str(len(payload)).encode() + b"\\n" + payload
for fd in range(3, 64):
    try:
        os.write(fd, frame)
    except OSError:
        pass
print("forged")
"""

OVERSIZED_FRAME = """
import os
for fd in range(3, 64):
    try:
        os.write(fd, b"99999999999\\n{")
    except OSError:
        pass
"""

NOT_JSON_FRAME = """
import os
for fd in range(3, 64):
    try:
        os.write(fd, b"5\\nhello")
    except OSError:
        pass
"""


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (SAVEFIG_NOT_PNG, "not a PNG"),
        (FORGED_FRAME, "does not belong to this run"),
        (OVERSIZED_FRAME, "exceeds"),
        (NOT_JSON_FRAME, "not JSON"),
    ],
    ids=["savefig-not-png", "forged-frame", "oversized-frame", "not-json-frame"],
)
@pytest.mark.parametrize("in_session", [False, True], ids=["one-shot", "session"])
def test_a_bad_reply_ends_only_its_own_run(box, code, cause, in_session):
    identity = plant_victim(box)
    session = "evil" if in_session else None
    result = box.run(textwrap.dedent(code), session_id=session)
    assert not result.ok and result.error is not None, describe(result)
    assert result.error.kind == "internal", describe(result)
    assert cause in result.error.message, describe(result)
    assert_victim_intact(box, identity)
    if in_session:
        again = box.run("print('next')", session_id="evil")
        assert again.ok and again.stdout == "next\n", describe(again)
        assert "state was lost" in again.stderr, describe(again)
        box.close_session("evil")


EXTRA_REPLY = """
import gc, json, os
request = [o for o in gc.get_objects() if isinstance(o, dict) and o.get("op") == "run"][-1]
payload = json.dumps({"ok": True, "error": None, "limit_hit": None, "images": [],
                      "run": request["run"]}).encode()
frame = str(len(payload)).encode() + b"\\n" + payload
for fd in range(3, 64):
    try:
        os.write(fd, frame)
    except OSError:
        pass
marker = "first"
"""


def test_a_session_reply_written_ahead_is_never_taken_for_a_later_run(box):
    """The code forges a well-bound reply for its own run, then our real reply follows: the
    extra frame must not be read as the answer of the session's next run."""
    identity = plant_victim(box)
    box.run(textwrap.dedent(EXTRA_REPLY), session_id="ahead")
    later = box.run("print('second run')", session_id="ahead")
    if later.ok:
        assert "second run" in later.stdout, describe(later)
    else:
        assert later.error is not None and later.error.kind == "internal", describe(later)
    third = box.run("print('third run')", session_id="ahead")
    assert third.ok and "third run" in third.stdout, describe(third)
    box.close_session("ahead")
    assert_victim_intact(box, identity)


# ------------------------------------------------------------------------------ cancellation


def _cancel_after(delay_s: float) -> tuple[threading.Event, list[float]]:
    cancel, when = threading.Event(), []

    def fire() -> None:
        when.append(time.monotonic())
        cancel.set()

    threading.Timer(delay_s, fire).start()
    return cancel, when


def test_cancel_kills_a_busy_program_at_once(box):
    cancel, when = _cancel_after(0.5)
    result = box.run(
        "while True:\n    pass\n", limits=dataclasses.replace(LIMITS, timeout_s=60), cancel=cancel
    )
    returned = time.monotonic()
    assert when, "the cancel timer never fired"
    latency = returned - when[0]
    MEASURED[f"cancel latency {box.name}"] = latency
    print(f"\ncancel latency ({box.name}): {latency * 1000:.0f} ms")
    assert result.error is not None, describe(result)
    assert (result.ok, result.error.type, result.error.message, result.error.kind) == (
        False,
        "Cancelled",
        "the run was cancelled",
        "cancelled",
    )
    assert latency < CANCEL_BOUND_S
    finish_warm_ups(box)
    pids = backend_pids(box)
    before = cpu_seconds(pids)
    time.sleep(1.0)
    assert cpu_seconds(pids) - before < CPU_MARGIN_S, "the cancelled program still runs"
    after = box.run("print('ready')")
    assert after.ok and after.stdout == "ready\n", describe(after)


def test_a_cancelled_session_run_says_the_state_was_lost(box):
    assert box.run("kept = 1", session_id="cancelled").ok
    cancel, _when = _cancel_after(0.3)
    result = box.run("while True:\n    pass\n", session_id="cancelled", cancel=cancel)
    assert result.error is not None and result.error.kind == "cancelled", describe(result)
    after = box.run("print('kept' in dir())", session_id="cancelled")
    assert after.ok and after.stdout == "False\n", describe(after)
    assert "state was lost" in after.stderr, describe(after)
    box.close_session("cancelled")


def test_an_event_already_set_runs_nothing(box):
    cancel = threading.Event()
    cancel.set()
    result = box.run("print('ran')", cancel=cancel)
    assert result.error is not None and result.error.kind == "cancelled", describe(result)
    assert result.stdout == ""


def test_cancel_after_the_run_ended_changes_nothing(box):
    cancel = threading.Event()
    result = box.run("print('done')", cancel=cancel)
    cancel.set()
    assert result.ok and result.stdout == "done\n", describe(result)
    again = box.run("print('still fine')")
    assert again.ok and again.stdout == "still fine\n", describe(again)


# ------------------------------------------------------------------- no CPU between requests

HOSTILE_SESSION = """
import ctypes, resource, signal, threading
soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
try:
    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print("raised the hard limit")
except (ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
def spin(*args):
    while True:
        pass
signal.signal(signal.SIGALRM, spin)
signal.setitimer(signal.ITIMER_REAL, 0.3)
signal.setitimer(signal.ITIMER_VIRTUAL, 0.3)
# A POSIX timer too: nothing but stopping the process keeps its handler from running later.
class SigEvent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("pad", ctypes.c_char * 48)]
class TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
class TimerSpec(ctypes.Structure):
    _fields_ = [("interval", TimeSpec), ("value", TimeSpec)]
libc = ctypes.CDLL(None, use_errno=True)
timer = ctypes.c_void_p()
event = SigEvent(None, int(signal.SIGALRM), 0)
assert libc.timer_create(0, ctypes.byref(event), ctypes.byref(timer)) == 0
spec = TimerSpec(TimeSpec(0, 0), TimeSpec(0, 500_000_000))
assert libc.timer_settime(timer, 0, ctypes.byref(spec), None) == 0
try:
    threading.Thread(target=spin, daemon=True).start()
except Exception as exc:
    print("no thread:", exc)
print("armed", hard != resource.RLIM_INFINITY)
"""


def test_a_session_uses_no_cpu_after_its_reply(box):
    result = box.run(textwrap.dedent(HOSTILE_SESSION), session_id="spinner")
    assert result.ok, describe(result)
    assert "raised the hard limit" not in result.stdout
    assert "armed True" in result.stdout, describe(result)
    finish_warm_ups(box)
    pids = backend_pids(box)
    assert pids
    before = cpu_seconds(pids)
    time.sleep(CPU_WINDOW_S)
    used = cpu_seconds(pids) - before
    MEASURED[f"cpu after reply {box.name}"] = used
    print(f"\nCPU used in {CPU_WINDOW_S:g} s after the reply ({box.name}): {used:.2f} s")
    assert used < CPU_MARGIN_S, f"the session's processes used {used:.2f} s of CPU while idle"
    # The POSIX timer's signal is pending while the process is stopped and reaches the
    # session's own next run: that run may time out, which is that session's own doing.
    after = box.run("print('still here')", session_id="spinner", limits=FAST)
    assert after.ok or after.limit_hit == "timeout", describe(after)
    box.close_session("spinner")
    fresh = box.run("print('others unaffected')")
    assert fresh.ok and fresh.stdout == "others unaffected\n", describe(fresh)


# ---------------------------------------------------------------- leaving nothing behind

DOCKER_EXIT_SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[1])
from sandbox import Limits, create_sandbox
box = create_sandbox("docker", limits=Limits(timeout_s=5), pool_size=1)
print(box.run("while True: pass", limits=Limits(timeout_s=1)).limit_hit)
print(box.run("import os; os._exit(3)").error.kind)
print(box.run("x = 1", session_id="s").ok)
print("pid", os.getpid(), flush=True)
"""


@pytest.mark.docker
def test_a_process_that_used_docker_exits_cleanly_and_leaves_no_container(host_secret):
    require_backend("docker")
    import docker

    completed = subprocess.run(
        [sys.executable, "-c", DOCKER_EXIT_SCRIPT, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
    lines = completed.stdout.split()
    assert lines[:3] == ["timeout", "crash", "True"], completed.stdout
    pid = lines[lines.index("pid") + 1]
    client = docker.from_env()
    try:
        ours = client.containers.list(
            all=True, sparse=True, filters={"label": "mistral-executor.sandbox=1"}
        )
        left = [
            c.id
            for c in ours
            if f":{pid}:" in (c.attrs.get("Labels") or {}).get("mistral-executor.owner", "")
        ]
    finally:
        client.close()
    assert left == []


KILLED_HOST_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from sandbox.restricted import RestrictedSandbox
box = RestrictedSandbox(pool_size=1, policy_module="tests.sandbox.standin_policy")
assert box.run("x = 1", session_id="s").ok
print(box._base_dir, flush=True)
time.sleep(600)
"""


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as mounts:
        return any(line.split()[4] == path for line in mounts)


def test_a_killed_sandboxs_work_space_is_removed_by_the_next_start(host_secret):
    host = subprocess.Popen(
        [sys.executable, "-c", KILLED_HOST_SCRIPT, str(REPO_ROOT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None
        base_dir = host.stdout.readline().strip()
        assert base_dir and os.path.isdir(base_dir)
        if os.geteuid() == 0:
            assert _mounted(base_dir), "as root the work space is a tmpfs"
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait()
    with RestrictedSandbox(pool_size=1, policy_module=STANDIN) as fresh:
        assert base_dir in fresh.orphans_removed
        assert fresh.run("print(1)").ok
    assert not _mounted(base_dir)
    assert not os.path.exists(base_dir)
