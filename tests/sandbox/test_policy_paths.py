"""Every path-taking API of the allowed modules: only relative paths inside the work dir.

A refused path must give the same error whether or not the file exists (no existence oracle:
"Permission denied" from the kernel versus "No such file" would tell code what is outside).
"""

from __future__ import annotations

import os

import pytest

from sandbox.restricted.policy import Policy, PolicyError
from tests.sandbox.test_policy import output_of, run

# Each template names the path as {p}; run once with an existing and once with a missing file.
PATH_APIS = [
    "np.load({p})",
    "np.save({p}, np.zeros(2))",
    "np.savez({p}, a=np.zeros(2))",
    "np.savez_compressed({p}, a=np.zeros(2))",
    "np.savetxt({p}, np.zeros(2))",
    "np.loadtxt({p})",
    "np.genfromtxt({p})",
    "np.fromregex({p}, 'x', [('a', int)])",
    "np.fromfile({p})",
    "np.memmap({p})",
    "np.zeros(2).tofile({p})",
    "np.zeros(2).dump({p})",
    "plt.savefig({p})",
    "plt.imread({p})",
    "plt.imsave({p}, np.zeros((2, 2)))",
    "plt.figure().savefig({p})",
    "plt.figure().canvas.print_png({p})",
    "plt.figure().canvas.print_figure({p})",
    "plt.style.use({p})",
    "plt.title('t', fontproperties={{'fname': {p}}})",
    "plt.legend(['a'], prop={{'fname': {p}}})",
    "type(plt.text(0, 0, 'x').get_fontproperties())(fname={p})",
    "plt.text(0, 0, 'x').set_fontproperties({{'fname': {p}}})",
]
PREAMBLE = "import numpy as np\nimport matplotlib.pyplot as plt\n"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


@pytest.fixture
def work_dir(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "exists.bin").write_bytes(b"\x93NUMPY secret")
    os.symlink(outside / "exists.bin", work / "link-exists")
    os.symlink(outside / "missing.bin", work / "link-missing")
    monkeypatch.chdir(work)
    return outside


def refusal(policy: Policy, api: str, path: str) -> str:
    source = PREAMBLE + api.format(p=repr(path))
    with pytest.raises(PolicyError) as caught:
        run(policy, source)
    assert caught.value.kind == "policy"
    return str(caught.value).replace(path, "<path>")


@pytest.mark.parametrize("api", PATH_APIS)
def test_absolute_paths_are_refused_alike_whether_or_not_the_file_exists(policy, work_dir, api):
    existing = refusal(policy, api, str(work_dir / "exists.bin"))
    missing = refusal(policy, api, str(work_dir / "missing.bin"))
    assert existing == missing
    assert "relative paths inside the work directory" in existing or "style" in existing


def test_a_fontconfig_pattern_cannot_name_a_font_file(policy):
    api = "type(plt.text(0, 0, 'x').get_fontproperties())('Sans:file=' + {p})"
    assert refusal(policy, api, "/etc/passwd") == refusal(policy, api, "/etc/nonexistent")


@pytest.mark.parametrize("api", PATH_APIS)
def test_escaping_relative_paths_and_symlinks_are_refused_alike(policy, work_dir, api):
    assert refusal(policy, api, "../outside/exists.bin") == refusal(
        policy, api, "../outside/missing.bin"
    )
    assert refusal(policy, api, "link-exists") == refusal(policy, api, "link-missing")


def test_relative_paths_inside_the_work_dir_work(policy, work_dir):
    source = (
        PREAMBLE + "np.save('a.npy', np.arange(3))\nnp.savetxt('a.txt', np.arange(2))\n"
        "plt.plot([1, 2])\nplt.savefig('plot.png')\n"
        "print(np.load('a.npy').tolist(), np.loadtxt('a.txt').tolist(), plt.imread('plot.png').ndim)"
    )
    assert output_of(policy, source) == "[0, 1, 2] [0.0, 1.0] 3\n"
    assert (work_dir.parent / "work" / "plot.png").exists()


@pytest.mark.parametrize(
    "source",
    [
        "plt.text(0, 0, 'x', usetex=True)",
        "plt.rcParams['text.usetex'] = True\nplt.title('x')",
        "dict.__setitem__(plt.rcParams, 'text.usetex', True)\nplt.xlabel('y')",
        "import io\nplt.plot([1])\nplt.savefig(io.BytesIO(), format='pgf')",
    ],
)
def test_matplotlib_never_runs_latex_on_the_codes_text(policy, source):
    try:
        with pytest.raises((PolicyError, ValueError), match="LaTeX|usetex|pgf"):
            run(policy, PREAMBLE + source)
    finally:
        output_of(policy, PREAMBLE + "plt.rcParams['text.usetex'] = False\nplt.close('all')")


def test_ghostscript_distilling_finds_no_program(policy):
    import matplotlib

    source = (
        PREAMBLE + "import io\nplt.rcParams['ps.usedistiller'] = 'ghostscript'\n"
        "plt.plot([1])\nb = io.BytesIO()\nplt.savefig(b, format='ps')\n"
        "plt.rcParams['ps.usedistiller'] = None\nprint(b.getvalue()[:4])"
    )
    assert output_of(policy, source) == "b'%!PS'\n"  # written, not distilled
    with pytest.raises(matplotlib.ExecutableNotFoundError):
        matplotlib._get_executable_info("gs")
