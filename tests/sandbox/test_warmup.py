"""A fork-server serves at once and imports its warm-up modules between requests.

What must hold: a run that needs nothing heavy never waits for the data stack; a run that
imports a warm module gets a child forked after the warm-up (and the warm-up does not eat
its time limit); the warm-up sees the backend's environment while the children see none; a
host that closes a server in the middle of an import does not wait for the import.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

import pytest

from sandbox.restricted.pool import ForkServerProcess
from sandbox.runtime.protocol import ProtocolError
from sandbox.runtime.warmup import Warmup, WarmupStep, import_steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from sandbox.runtime.forkserver import main; main(sys.argv[2:])"
)
SLOW = "tests.sandbox.warm_modules.slow"  # sleeps 6 s on import
PROBE = "tests.sandbox.warm_modules.probe"  # imported last
ENDLESS = "tests.sandbox.warm_modules.endless"  # sleeps 600 s on import
LIMITS = {"timeout_s": 20.0, "memory_mb": 256, "max_output_bytes": 4000, "max_file_bytes": 1 << 20}

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork-server needs Linux")


# ---------------------------------------------------------------- which runs wait


@pytest.mark.parametrize(
    ("code", "needed"),
    [
        ("print(sum(range(10)))", False),
        ("import math, json\nprint(math.pi)", False),
        ("import pandas as pd", True),
        ("from sklearn.linear_model import LinearRegression", True),
        ("import numpy.linalg", True),
        ("x = __import__('pandas')", True),
        ("import importlib\nimportlib.import_module('scipy')", True),
        ("exec('import pandas')", True),
        ("from . import thing", True),
        ("import pandas as (", False),  # a syntax error: the child reports it, nothing imported
        ("print('no imports here, only the word import')", False),
    ],
)
def test_which_code_waits_for_the_warm_up(code: str, needed: bool) -> None:
    modules = frozenset({"numpy", "pandas", "sklearn", "scipy"})
    warmup = Warmup(import_steps(["json"]), modules=modules)
    assert warmup.needed_by(code) is needed


def test_with_any_import_every_import_statement_waits() -> None:
    warmup = Warmup(import_steps(["json"]), any_import=True)
    assert warmup.needed_by("import math") is True
    assert warmup.needed_by("print(1)") is False


def test_code_that_cannot_be_read_cheaply_waits() -> None:
    warmup = Warmup(import_steps(["json"]), modules=frozenset({"numpy"}))
    assert warmup.needed_by("x = 1\n" * 400_000) is True
    assert warmup.needed_by(None) is True
    warmup.finish()
    assert warmup.needed_by("import numpy") is False  # nothing left to wait for


# ---------------------------------------------------------------- the steps


def test_a_step_sees_the_backends_environment_and_leaves_it_empty(monkeypatch) -> None:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    seen: list[dict[str, str]] = []
    warmup = Warmup(
        [WarmupStep("look", lambda: seen.append(dict(os.environ)))],
        env={"MISTRAL_WARM_TEST": "backend-env"},
    )
    assert dict(os.environ) == {}
    warmup.step()
    assert seen == [{"MISTRAL_WARM_TEST": "backend-env"}]
    assert dict(os.environ) == {}
    assert not warmup.pending


def test_a_failing_step_is_recorded_and_the_rest_still_run() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ImportError("no such package here")

    warmup = Warmup(
        [WarmupStep("broken", broken), WarmupStep("after", lambda: ran.append("after"))]
    )
    gc.unfreeze()
    warmup.finish()
    assert warmup.failures == {"broken": "ImportError: no such package here"}
    assert ran == ["after"]
    assert gc.get_freeze_count() > 0  # the warm objects were frozen once the steps were done
    gc.unfreeze()


# ---------------------------------------------------------------- a real fork-server


def start_server(*modules: str) -> ForkServerProcess:
    args = ["--clear-env"]
    for module in modules:
        args += ["--warm", module]
    argv = [sys.executable, "-I", "-c", BOOT, ROOT, *args]
    server = ForkServerProcess(argv, {"LANG": "C.UTF-8", "HOME": "/nonexistent"})
    server.wait_ready(60)
    return server


@pytest.fixture
def workdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="warm-test-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(server: ForkServerProcess, code: str, workdir: str, **limits) -> dict:
    request = {
        "op": "run",
        "run": os.urandom(8).hex(),
        "code": code,
        "workdir": workdir,
        "session": None,
        "limits": {**LIMITS, **limits},
    }
    reply = server.request(request, 60, 1 << 20)
    assert reply["op"] == "result", reply
    return reply["result"]


def test_runs_before_during_and_after_the_warm_up(workdir: str) -> None:
    server = start_server(SLOW, PROBE)
    try:
        # Sent at once: the server reads it before the slow step or right after it, and
        # either way before the probe step. The child sees no environment at all.
        light = run(
            server, f"import os, sys\nprint(len(os.environ), {PROBE!r} in sys.modules)", workdir
        )
        assert light["ok"], light
        assert light["stdout"] == "0 False\n"
        # Code that imports a warm module waits for the rest of the warm-up: its child has the
        # module already, and the 1 s limit is counted from the fork, not from the request.
        code = (
            "import sys\n"
            f"had = {PROBE!r} in sys.modules\n"
            f"import {PROBE} as probe\n"
            "print(had, probe.SEEN_LANG)"
        )
        warm = run(server, code, workdir, timeout_s=1.0)
        assert warm["ok"], warm
        assert warm["stdout"] == "True C.UTF-8\n"  # the warm-up saw the backend's environment
        pong = server.request({"op": "ping"}, 30, 4096)
        assert pong["warm"] is True
    finally:
        server.kill(grace_s=5)


def test_warm_asks_the_server_to_finish_the_warm_up(workdir: str) -> None:
    server = start_server(PROBE)
    try:
        reply = server.request({"op": "warm"}, 60, 4096)
        assert reply == {"op": "warm", "failures": {}}
        assert server.request({"op": "ping"}, 30, 4096)["warm"] is True
        result = run(server, f"import sys\nprint({PROBE!r} in sys.modules)", workdir)
        assert result["stdout"] == "True\n"  # the spare forked before the warm-up was replaced
    finally:
        server.kill(grace_s=5)


def test_closing_a_server_in_the_middle_of_an_import_does_not_wait_for_it() -> None:
    server = start_server(ENDLESS)
    # The import sleeps 600 s; the stop signal makes the server drop it and end by itself
    # (exit status 0) instead of being SIGKILLed when the grace runs out.
    server.kill(grace_s=60)
    assert server.proc.returncode == 0


# ---------------------------------------------------------------- the host's side


FAKE_SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from sandbox.runtime.protocol import FrameReader, write_frame
write_frame(1, {"op": "ready", "isolation": {}})
request = FrameReader(0, 1 << 20).read()
run = request["run"]
frames = {"order": [{"op": "accepted", "run": run}, {"op": "warming", "run": run}],
          "early": [{"op": "warming", "run": run}, {"op": "accepted", "run": run}],
          "twice": [{"op": "accepted", "run": run}, {"op": "warming", "run": run},
                    {"op": "warming", "run": run}]}[sys.argv[2]]
for frame in frames:
    write_frame(1, frame)
time.sleep(3)  # the warm-up: longer than the run's own allowance below
write_frame(1, {"op": "result", "run": run, "result": {"ok": True}, "session_new": False})
time.sleep(30)
"""


def fake_server(mode: str) -> ForkServerProcess:
    argv = [sys.executable, "-I", "-c", FAKE_SERVER, ROOT, mode]
    server = ForkServerProcess(argv, {"LANG": "C.UTF-8"})
    server.wait_ready(60)
    return server


def test_the_host_waits_longer_for_a_server_that_says_it_is_warming() -> None:
    server = fake_server("order")
    try:
        reply = server.request({"op": "run", "run": "r1"}, 1.0, 4096)
        assert reply["op"] == "result"
    finally:
        server.kill()


@pytest.mark.parametrize("mode", ["early", "twice"])
def test_a_warming_frame_out_of_place_is_a_protocol_error(mode: str) -> None:
    server = fake_server(mode)
    try:
        with pytest.raises(ProtocolError):
            server.request({"op": "run", "run": "r1"}, 10.0, 4096)
    finally:
        server.kill()
