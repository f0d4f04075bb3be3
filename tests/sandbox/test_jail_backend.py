"""The jail backend: the data stack runs as in plain CPython, every layer is reported, and a host
that lacks a required layer gets a clear refusal naming it instead of a weaker jail."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator

import pytest

from sandbox import Limits, SandboxError, create_sandbox
from sandbox.jail import layers, seccomp
from sandbox.jail.backend import JailSandbox
from tests.sandbox.conftest import describe, require_backend

LIMITS = Limits(timeout_s=30, memory_mb=768, max_output_bytes=200_000)


@pytest.fixture(scope="module")
def jail(host_secret: str) -> Iterator[JailSandbox]:
    require_backend("jail")
    box = create_sandbox("jail", limits=LIMITS, pool_size=1)
    try:
        yield box
    finally:
        box.close()


def run_ok(box: JailSandbox, code: str, **kwargs):
    result = box.run(textwrap.dedent(code), **kwargs)
    assert result.ok, describe(result)
    assert result.backend == "jail"
    return result


# ------------------------------------------------------------------ the data stack


def test_pandas_csv_groupby_merge(jail: JailSandbox) -> None:
    csv = "city,temp\nParis,12\nLyon,15\nParis,14\nLyon,17\n"
    code = """
        import pandas as pd
        df = pd.read_csv("weather.csv")
        means = df.groupby("city", as_index=False)["temp"].mean().rename(columns={"temp": "mean"})
        merged = df.merge(means, on="city")
        print(means.to_dict("records"))
        print(len(merged))
        merged.to_csv("merged.csv", index=False)
    """
    result = run_ok(jail, code, files={"weather.csv": csv.encode()})
    assert "{'city': 'Lyon', 'mean': 16.0}" in result.stdout
    assert result.stdout.endswith("4\n")
    assert result.files["merged.csv"].startswith(b"city,temp,mean")


def test_parquet_and_xlsx_round_trips(jail: JailSandbox) -> None:
    """pyarrow starts threads of its own: the allowance covers them."""
    code = """
        import pandas as pd
        df = pd.DataFrame({"a": range(1000), "b": [str(i) for i in range(1000)]})
        df.to_parquet("t.parquet")
        df.head(20).to_excel("t.xlsx", index=False)
        print(pd.read_parquet("t.parquet")["a"].sum(), len(pd.read_excel("t.xlsx")))
    """
    result = run_ok(jail, code)
    assert result.stdout == "499500 20\n"
    assert result.files["t.xlsx"].startswith(b"PK")


def test_scipy_sklearn_and_parallel_jobs(jail: JailSandbox) -> None:
    code = """
        from scipy import optimize, stats
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import cross_val_score
        X, y = make_classification(300, random_state=0)
        model = RandomForestClassifier(n_estimators=10, n_jobs=-1, random_state=0)
        print(round(cross_val_score(model, X, y, cv=3).mean(), 1) > 0.5)
        print(round(optimize.minimize(lambda x: (x[0] - 3) ** 2, [0]).x[0], 3))
        print(round(stats.norm.cdf(0), 2))
        from sklearn.cluster import KMeans  # asks threadpoolctl which BLAS is loaded
        print(len(set(KMeans(2, n_init=2, random_state=0).fit_predict(X[:, :2]))))
    """
    assert run_ok(jail, code).stdout == "True\n3.0\n0.5\n2\n"


def test_seaborn_figure_and_pil_image(jail: JailSandbox) -> None:
    code = """
        import seaborn as sns, pandas as pd
        from PIL import Image, ImageDraw
        sns.barplot(data=pd.DataFrame({"x": ["a", "b"], "y": [1, 2]}), x="x", y="y")
        image = Image.new("RGB", (40, 20), "white")
        ImageDraw.Draw(image).rectangle((5, 5, 15, 15), fill="red")
        image.save("box.png")
        print(image.getpixel((10, 10)))
    """
    result = run_ok(jail, code)
    assert result.stdout == "(255, 0, 0)\n"
    assert len(result.images) == 1 and result.images[0].startswith(b"\x89PNG")
    assert result.files["box.png"].startswith(b"\x89PNG")


def test_errors_carry_the_users_line_and_the_real_exception(jail: JailSandbox) -> None:
    result = jail.run("import pandas as pd\n\npd.DataFrame({'a': [1]})['missing']\n")
    assert not result.ok and result.error is not None
    assert result.error.type == "KeyError" and result.error.lineno == 3, describe(result)


def test_sessions_keep_dataframes(jail: JailSandbox) -> None:
    run_ok(jail, "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})", session_id="frames")
    assert run_ok(jail, "print(df['a'].sum())", session_id="frames").stdout == "6\n"
    jail.close_session("frames")


def test_environment_is_empty_and_user_is_not_root(jail: JailSandbox) -> None:
    result = run_ok(jail, "import os\nprint(dict(os.environ), os.geteuid() != 0)")
    assert result.stdout == "{} True\n"


def test_preflight_is_syntax_only(jail: JailSandbox) -> None:
    assert jail.preflight("import os\nimport socket\n") is None
    info = jail.preflight("def broken(:\n")
    assert info is not None and info.kind == "syntax" and info.lineno == 1
    deep = jail.preflight("x = " + "(" * 300 + "1" + ")" * 300)
    assert deep is not None and deep.kind == "syntax"


def test_isolation_lists_every_layer_and_nothing_is_degraded(jail: JailSandbox) -> None:
    info = jail.isolation
    assert info["landlock_abi"] >= layers.MIN_LANDLOCK_ABI
    assert info["seccomp"] == "allow-list"
    assert info["network"] and info["ipc"]
    assert info["privileges_dropped"] == (os.geteuid() == 0)
    assert info["work_dir_tmpfs_mb"] == jail.max_workdir_mb
    assert info["tmpfs_in_user_namespace"] == (os.geteuid() != 0)
    assert jail.degraded == []


# ------------------------------------------------------------------ refusing a weaker jail


def test_old_landlock_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layers.lockdown, "landlock_abi", lambda: 3)
    reason = layers.unavailable_reason()
    assert reason == (
        "jail needs Landlock ABI >= 6 (file, TCP, signal and abstract-socket rules); "
        "this kernel has 3: use restricted or docker"
    )
    with pytest.raises(SandboxError, match="jail needs Landlock ABI >= 6.*has 3"):
        create_sandbox("jail")


def test_no_seccomp_table_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layers.os, "uname", lambda: os.uname_result(("", "", "", "", "riscv64")))
    reason = layers.unavailable_reason()
    assert reason is not None and "riscv64" in reason and "seccomp" in reason


def test_no_user_namespaces_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layers, "_user_namespace_problem", lambda: "Operation not permitted")
    monkeypatch.setattr(layers.lockdown, "landlock_abi", lambda: 7)
    reason = layers.unavailable_reason()
    assert reason is not None and "user namespaces" in reason and "restricted" in reason


def test_a_worker_missing_a_layer_is_refused() -> None:
    full = {
        "landlock_abi": 7,
        "seccomp": "allow-list",
        "network": True,
        "ipc": True,
        "privileges_dropped": True,
        "threads_at_lockdown": 1,
    }
    assert layers.missing_layers(full, root=True) == []
    assert layers.missing_layers({**full, "seccomp": False}, root=True) == [
        "the seccomp allow-list"
    ]
    assert "a network namespace" in layers.missing_layers({**full, "network": False}, True)
    assert layers.missing_layers({**full, "privileges_dropped": False}, root=False) == []
    assert layers.missing_layers({**full, "privileges_dropped": False}, root=True)
    assert layers.missing_layers({**full, "threads_at_lockdown": 2}, root=True)


# ------------------------------------------------------------------ the filter itself


def test_filter_is_an_allow_list_without_dangerous_calls() -> None:
    allowed = seccomp.allowed_names()
    for name in [
        "socket",
        "connect",
        "bind",
        "ptrace",
        "mount",
        "unshare",
        "setns",
        "keyctl",
        "bpf",
        "io_uring_setup",
        "userfaultfd",
        "perf_event_open",
        "memfd_create",
        "execve",
        "fork",
        "vfork",
        "clone3",
        "chmod",
        "chown",
        "fchmodat",
        "fchownat",
        "process_vm_readv",
        "pidfd_open",
        "open_by_handle_at",
    ]:
        assert name not in allowed, name
    program = seccomp.build_program(pid=4242)
    assert program[-1] == (0x06, 0, 0, 0x00050000 | 1)  # anything unlisted: EPERM
    assert len(program) < 4096


# ------------------------------------------------------------------ leaving nothing behind


def test_close_leaves_no_process_mount_or_work_dir(host_secret: str) -> None:
    require_backend("jail")
    box = create_sandbox("jail", limits=LIMITS, pool_size=1)
    assert box.run("open('left.txt', 'w').write('x')", session_id="s").ok
    servers = [slot.server.pid for slot in box._pool.slots]
    holder = box._holder.pid if box._holder is not None else None
    base = box._holder.base_dir if box._holder is not None else box._base_dir
    box.close()
    for pid in [*servers, *([holder] if holder else [])]:
        assert not os.path.exists(f"/proc/{pid}"), f"process {pid} outlived close()"
    assert not os.path.exists(base), f"{base} outlived close()"
    with open("/proc/self/mounts") as mounts:
        assert base not in mounts.read()
