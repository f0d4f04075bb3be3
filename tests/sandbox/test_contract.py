"""The sandbox contract: the same tests, unchanged, for every backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import ErrorInfo, RunResult, create_sandbox
from sandbox.factory import resolve_auto
from tests.sandbox.conftest import REPO_ROOT, describe, run_limits

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"


def test_print_output_and_result_fields(sandbox, backend):
    result = sandbox.run("print(1 + 1)\nprint('héllo', 'world', sep='-')")
    assert isinstance(result, RunResult)
    assert result.ok is True, describe(result)
    assert result.stdout == "2\nhéllo-world\n"
    assert isinstance(result.stderr, str)
    assert result.error is None
    assert result.limit_hit is None
    assert result.images == []
    assert isinstance(result.files, dict)
    assert isinstance(result.duration_ms, float)
    assert result.duration_ms > 0
    assert result.backend == backend


def test_session_keeps_variables(sandbox):
    assert sandbox.run("x = 41", session_id="keeps").ok
    result = sandbox.run("print(x + 1)", session_id="keeps")
    assert result.stdout == "42\n", describe(result)


def test_session_keeps_functions_classes_and_imports(sandbox):
    setup = "import math\ndef double(n):\n    return 2 * n\nclass Box:\n    size = 3\n"
    assert sandbox.run(setup, session_id="defs").ok
    result = sandbox.run("print(double(Box.size), math.floor(2.5))", session_id="defs")
    assert result.stdout == "6 2\n", describe(result)


def test_sessions_are_isolated_from_each_other(sandbox):
    assert sandbox.run("secret_of_a = 1", session_id="iso-a").ok
    result = sandbox.run("print(secret_of_a)", session_id="iso-b")
    assert not result.ok
    assert result.error is not None and result.error.type == "NameError", describe(result)


def test_runs_without_session_share_nothing(sandbox):
    assert sandbox.run("leftover = 5").ok
    result = sandbox.run("print(leftover)")
    assert not result.ok
    assert result.error is not None and result.error.type == "NameError", describe(result)


def test_closed_session_forgets_its_variables(sandbox):
    assert sandbox.run("kept = 1", session_id="to-close").ok
    sandbox.close_session("to-close")
    result = sandbox.run("print(kept)", session_id="to-close")
    assert result.error is not None and result.error.type == "NameError", describe(result)


def test_input_files_are_readable(sandbox):
    code = (
        "import numpy as np\ndata = np.loadtxt('data.csv', delimiter=',')\nprint(int(data.sum()))"
    )
    result = sandbox.run(code, files={"data.csv": b"1,2\n3,4\n"})
    assert result.stdout == "10\n", describe(result)


def test_created_files_come_back(sandbox):
    code = (
        "import numpy as np\n"
        "import matplotlib.pyplot as plt\n"
        "np.save('arr.npy', np.arange(3))\n"
        "plt.plot([1, 2, 3])\n"
        "plt.savefig('plot.png')\n"
        "plt.close('all')\n"
    )
    result = sandbox.run(code)
    assert result.ok, describe(result)
    assert result.files["arr.npy"].startswith(NPY_MAGIC)
    assert result.files["plot.png"].startswith(PNG_MAGIC)
    assert result.images == []  # the figure was closed before the run ended


def test_open_figure_comes_back_as_png(sandbox):
    result = sandbox.run("import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\n")
    assert result.ok, describe(result)
    assert len(result.images) == 1
    assert result.images[0].startswith(PNG_MAGIC)
    # Figures belong to their run: the next run starts with none.
    assert sandbox.run("import matplotlib.pyplot as plt\nx = 1").images == []


def test_error_names_type_message_and_user_line(sandbox):
    result = sandbox.run("a = 1\nb = 0\nc = a / b\nprint(c)\n")
    assert result.ok is False
    error = result.error
    assert isinstance(error, ErrorInfo) or error is not None
    assert error.type == "ZeroDivisionError"
    assert "division by zero" in error.message
    assert error.lineno == 3
    assert "ZeroDivisionError" in error.traceback
    assert result.limit_hit is None


def test_error_line_is_the_innermost_user_frame(sandbox):
    result = sandbox.run("def f(values):\n    return values['missing']\n\nf({})\n")
    assert result.error is not None and result.error.type == "KeyError", describe(result)
    assert result.error.lineno == 2


def test_output_before_an_error_is_kept(sandbox):
    result = sandbox.run("print('before')\nraise ValueError('bad value')\n")
    assert result.stdout == "before\n"
    assert result.error.type == "ValueError" and result.error.message == "bad value"
    assert result.error.lineno == 2


def test_syntax_error_is_kind_syntax(sandbox):
    result = sandbox.run("x = 1\ny = = 2\n")
    assert result.ok is False
    assert result.error is not None, describe(result)
    assert result.error.type == "SyntaxError"
    assert result.error.kind == "syntax"
    assert result.error.lineno == 2


def test_timeout_for_an_endless_loop(sandbox):
    result = sandbox.run("while True:\n    pass\n", limits=run_limits(sandbox, timeout_s=1.5))
    assert result.ok is False
    assert result.limit_hit == "timeout", describe(result)
    assert sandbox.run("print('alive')").stdout == "alive\n"


def test_memory_limit_for_a_memory_bomb(sandbox):
    result = sandbox.run("blob = ' ' * (2 * 1024 ** 3)\nprint(len(blob))\n")
    assert result.ok is False
    assert result.limit_hit == "memory", describe(result)
    assert sandbox.run("print('alive')").stdout == "alive\n"


def test_output_flood_is_cut_at_the_cap(sandbox):
    cap = 10_000
    code = "for i in range(100000):\n    print('x' * 99)\n"
    result = sandbox.run(code, limits=run_limits(sandbox, max_output_bytes=cap))
    assert result.limit_hit == "output", describe(result)
    assert result.stdout.startswith("x" * 99 + "\n")
    assert cap // 2 <= len(result.stdout.encode()) <= cap + 1024


def test_backend_name_and_duration(sandbox, backend):
    result = sandbox.run("total = sum(range(1000))")
    assert result.ok, describe(result)
    assert result.backend == backend
    assert result.duration_ms > 0


def test_to_dict_round_trip(sandbox):
    result = sandbox.run(
        "import numpy as np\nimport matplotlib.pyplot as plt\n"
        "np.save('a.npy', np.arange(2))\nplt.plot([1, 2])\nprint('hi')\n"
    )
    assert result.ok, describe(result)
    assert RunResult.from_dict(result.to_dict()) == result


def test_close_is_idempotent(make_sandbox, backend):
    box = make_sandbox()
    assert box.run("print(3)").stdout == "3\n"
    box.close()
    box.close()


# Run in a fresh interpreter, so the shared sandbox's own workers cannot be mistaken for leftovers.
LIFECYCLE_SCRIPT = r"""
import json, os, sys, threading, time
from pathlib import Path

from sandbox import create_sandbox


def descendants(pid):
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def containers():
    if sys.argv[1] != "docker":
        return set()
    import docker
    client = docker.from_env()
    try:
        # Sparse: a full listing inspects each container and races with removals.
        ours = client.containers.list(
            all=True, sparse=True, filters={"label": "mistral-executor.sandbox=1"}
        )
        # The owner label is host:pid:start-time; only this process's containers count here.
        pid = str(os.getpid())
        owner = lambda c: (c.attrs.get("Labels") or {}).get("mistral-executor.owner", "")
        return {c.id for c in ours if owner(c).split(":")[1:2] == [pid]}
    finally:
        client.close()


threads_before = set(threading.enumerate())
containers_before = containers()
with create_sandbox(sys.argv[1]) as box:
    first = box.run("print('inside')")
    second = box.run("y = 2", session_id="cm")
    alive_inside = bool(descendants(os.getpid())) or bool(containers() - containers_before)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    left = {
        "processes": sorted(descendants(os.getpid())),
        "threads": [t.name for t in threading.enumerate() if t not in threads_before],
        "containers": sorted(containers() - containers_before),
        "tmp": sorted(os.listdir(os.environ["TMPDIR"])),
    }
    if not any(left.values()):
        break
    time.sleep(0.2)
print(json.dumps({
    "stdout": first.stdout, "error": str(first.error), "session_ok": second.ok, "alive_inside": alive_inside, "left": left,
}))
"""


def test_context_manager_leaves_nothing_behind(backend):
    # A temp dir of its own, to see leftovers; traversable, as /tmp is, for an unprivileged worker.
    private_tmp = tempfile.mkdtemp(prefix="sandbox-lifecycle-", dir="/tmp")
    os.chmod(private_tmp, 0o755)
    env = {**os.environ, "TMPDIR": private_tmp}
    try:
        completed = subprocess.run(
            [sys.executable, "-c", LIFECYCLE_SCRIPT, backend],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["stdout"] == "inside\n", report
    assert report["session_ok"]
    assert report["alive_inside"], "the check saw no worker or container at all while open"
    assert report["left"] == {"processes": [], "threads": [], "containers": [], "tmp": []}


def test_auto_picks_an_available_backend(host_secret):
    expected = resolve_auto()
    with create_sandbox("auto") as box:
        result = box.run("print('auto')")
    assert result.stdout == "auto\n", describe(result)
    assert result.backend == expected


# --------------------------------------------------------------------------------- concurrency


def test_concurrent_runs_each_get_their_own_result(sandbox):
    def job(index: int) -> tuple[int, RunResult]:
        return index, sandbox.run(f"value = {index}\nprint(value * 3)")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(40)))
    wrong = [(i, describe(r)) for i, r in results if r.stdout != f"{i * 3}\n"]
    assert wrong == []


def test_concurrent_sessions_keep_their_own_state(sandbox):
    def session_job(name: str) -> str:
        sandbox.run("count = 0", session_id=name)
        for _ in range(5):
            sandbox.run("count += 1", session_id=name)
        return sandbox.run("print(count)", session_id=name).stdout

    names = [f"conc-{i}" for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(session_job, names))
    assert outputs == ["5\n"] * 4


def test_a_killed_run_does_not_disturb_concurrent_runs(sandbox):
    """One run is killed by its timeout while others run beside it; theirs are all correct."""
    killer_limits = run_limits(sandbox, timeout_s=2)
    with ThreadPoolExecutor(max_workers=3) as pool:
        doomed = pool.submit(sandbox.run, "while True:\n    pass\n", limits=killer_limits)
        quick = [pool.submit(sandbox.run, f"print({i} + 100)") for i in range(10)]
        results = [f.result() for f in quick]
        assert doomed.result().limit_hit == "timeout", describe(doomed.result())
    assert [r.stdout for r in results] == [f"{i + 100}\n" for i in range(10)]


@pytest.mark.parametrize(
    "breaker",
    [
        pytest.param("while True:\n    pass\n", id="timeout"),
        pytest.param("blob = ' ' * (2 * 1024 ** 3)\n", id="memory"),
    ],
)
def test_the_run_after_a_killed_run_succeeds(sandbox, breaker):
    broken = sandbox.run(breaker, limits=run_limits(sandbox, timeout_s=2))
    assert broken.ok is False and broken.limit_hit is not None, describe(broken)
    for i in range(3):
        assert sandbox.run(f"print({i})").stdout == f"{i}\n"


def test_a_killed_run_leaves_other_sessions_intact(sandbox):
    assert sandbox.run("survivor = 'still here'", session_id="survivor").ok
    killed = sandbox.run("while True:\n    pass\n", limits=run_limits(sandbox, timeout_s=1.5))
    assert killed.limit_hit == "timeout", describe(killed)
    result = sandbox.run("print(survivor)", session_id="survivor")
    assert result.stdout == "still here\n", describe(result)
