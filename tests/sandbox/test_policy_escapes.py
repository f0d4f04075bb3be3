"""Confirmed escapes of the restricted policy, fixed: each case is the reproducer, in-process.

The worker-level versions (with Landlock and the fork-server) live in test_redteam.py; here
the policy alone must refuse, so a regression shows up without the worker's second wall.
"""

from __future__ import annotations

import pytest

from tests.sandbox.test_policy import run
from tests.sandbox.test_policy_adversarial import refused


@pytest.fixture(scope="module")
def policy():
    from sandbox.restricted.policy import Policy

    return Policy()


# --------------------------------------------------------------------------- metaclass privates


@pytest.mark.parametrize(
    "source",
    [
        'import enum\nclass E(enum.Enum):\n    pass\nX = E._convert_("X", "builtins", lambda n: True)',
        'import enum\nclass E(enum.Enum):\n    pass\nX = getattr(E, "_convert_")',
        "import enum\nclass E(enum.Enum):\n    pass\nX = E._create_",
        "import collections.abc as c\nclass S(c.Sequence):\n    pass\nS._abc_registry_clear",
        "import collections.abc as c\nclass S(c.Sequence):\n    pass\nS._dump_registry()",
    ],
)
def test_private_names_of_a_library_metaclass_are_refused_on_user_classes(policy, source):
    refused(policy, source, match="_")


def test_enum_convert_refuses_user_enums_even_when_reached_directly(policy):
    import enum

    from sandbox.restricted.guards import register_user_class

    class Mine(enum.Enum):
        pass

    register_user_class(Mine)
    with pytest.raises(Exception, match="_convert_"):
        Mine._convert_("X", "builtins", lambda n: n == "open")


def test_user_enums_keep_their_own_and_protocol_private_names(policy):
    _, out = run(
        policy,
        "import enum\nclass E(enum.Enum):\n    A = 1\n    def _twice(self):\n"
        "        return self._value_ * 2\nprint(E.A._twice(), E.A._name_, list(E._member_map_))",
    )
    assert out == "2 A ['A']\n"


# --------------------------------------------------------------------------- super subclasses


@pytest.mark.parametrize(
    "source",
    [
        "class S(super):\n    pass",
        "class A:\n    pass\nclass S(A, super):\n    pass",
        "B = super\nclass S(B):\n    pass",
    ],
)
def test_super_cannot_be_a_base_class(policy, source):
    refused(policy, source, match="super")


def test_super_proxies_keep_the_rules_of_their_instance(policy):
    refused(
        policy,
        "import random\nclass R(random.Random):\n    def peek(self):\n"
        "        return super()._randbelow\nR().peek()",
    )
    refused(
        policy,
        "import numpy as np\nclass A(np.ndarray):\n    def peek(self):\n"
        "        return super().ctypes\nnp.zeros(2).view(A).peek()",
    )
    _, out = run(
        policy,
        "class A:\n    def _x(self):\n        return 1\nclass B(A):\n"
        "    def _x(self):\n        return super()._x() + 1\nprint(B()._x())",
    )
    assert out == "2\n"


# --------------------------------------------------------------------------- numpy pickle switch


@pytest.fixture
def in_work_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


NPZ = (
    "import numpy as np\n"
    "np.savez('e.npz', a=np.array([1, None], dtype=object))\n"
    "z = np.load('e.npz')\n"
)


@pytest.mark.parametrize(
    "attack",
    [
        "z.allow_pickle = True",
        "setattr(z, 'allow_pickle', True)",
        "object.__setattr__(z, 'allow_pickle', True)",
        "z.pickle_kwargs = {'encoding': 'latin1'}",
        "z.__init__('e.npz', allow_pickle=True)",
        "getattr(z, '__init__')('e.npz', allow_pickle=True)",
        "z = type(z)('e.npz', allow_pickle=True)",
        "z = z.__class__('e.npz', allow_pickle=True)",
    ],
)
def test_an_npz_archive_cannot_be_switched_to_unpickling(policy, in_work_dir, attack):
    refused(policy, f"{NPZ}{attack}\nprint(z['a'])", match="sandbox")


def test_npz_archives_still_load_and_user_objects_keep_the_names(policy, in_work_dir):
    _, out = run(
        policy,
        "import numpy as np\nnp.savez('n.npz', a=np.arange(3))\nz = np.load('n.npz')\n"
        "print(z['a'].tolist(), isinstance(z, type(z)), z.allow_pickle)\n"
        "class Box:\n    pass\nb = Box()\nb.allow_pickle = 1\nprint(b.allow_pickle)",
    )
    assert out == "[0, 1, 2] True False\n1\n"


# --------------------------------------------------------------------------- numpy dispatch


def test_array_function_cannot_be_defined_to_receive_real_numpy_functions(policy):
    refused_at = policy.check(
        "class Grab:\n    def __array_function__(self, func, types, args, kwargs):\n"
        "        return func\n"
    )
    assert refused_at is not None and "__array_function__" in refused_at["message"]
    assert policy.check("class Grab:\n    __array_function__ = print\n") is not None


# --------------------------------------------------------------------------- backend imports


@pytest.mark.parametrize(
    "call",
    [
        "fig.savefig('ok.png', backend='module://this')",
        "fig.canvas.print_figure('ok.png', backend='module://this')",
        "fig.canvas.print_png('ok.png', backend='module://this')",
        "plt.savefig('ok.png', backend='module://this')",
        "type(fig).savefig(fig, 'ok.png', backend='module://this')",
    ],
)
def test_saving_a_figure_cannot_pick_a_backend_module(policy, in_work_dir, call):
    import sys

    sys.modules.pop("this", None)
    refused(policy, f"import matplotlib.pyplot as plt\nfig = plt.figure()\n{call}", "backend")
    assert "this" not in sys.modules
    assert not (in_work_dir / "ok.png").exists()


# --------------------------------------------------------------------------- matplotlib templates

MPL = (
    "import matplotlib.pyplot as plt\nfrom matplotlib.ticker import StrMethodFormatter\n"
    "class A:\n    def __init__(self):\n        self.a = 1\nfig, ax = plt.subplots()\n"
)
WALK = "'{x.__init__.__globals__[__builtins__]}'"


@pytest.mark.parametrize(
    "call",
    [
        f"print(StrMethodFormatter({WALK})(A()))",
        "print(StrMethodFormatter('{x.a.__class__}')(A()))",
        f"ax.xaxis.set_major_formatter({WALK})\nax.plot([1, 2])\nfig.canvas.draw()",
        "b = ax.bar([1], [2])\nax.bar_label(b, fmt='{0.__class__.__mro__}')",
    ],
)
def test_matplotlib_templates_cannot_walk_attributes(policy, call):
    refused(policy, MPL + call, match="attribute")


def test_matplotlib_templates_still_format(policy):
    _, out = run(
        policy,
        MPL + "print(StrMethodFormatter('{x:.2f} km {pos}')(-3.14159, 2))\n"
        "print(StrMethodFormatter('{x.a}')(A()))\n"
        "b = ax.bar([1, 2], [3, -4])\n"
        "print([t.get_text() for t in ax.bar_label(b, fmt='{:.1f}')])\n"
        "print([t.get_text() for t in ax.bar_label(b, fmt='%.2f')])",
    )
    assert out == "\u22123.14 km 2\n1\n['3.0', '-4.0']\n['3.00', '-4.00']\n"


@pytest.mark.parametrize(
    "source",
    [
        "import matplotlib.style\nmatplotlib.style.read_style_directory('/etc')",
        "import matplotlib.pyplot as plt\nplt.style.read_style_directory('/etc')",
        "import matplotlib.style\nmatplotlib.style.update_user_library({})",
        "import matplotlib.style\nmatplotlib.style.USER_LIBRARY_PATHS.append('/etc')",
        "from matplotlib.style import read_style_directory",
    ],
)
def test_style_directories_cannot_be_read(policy, source):
    from sandbox.restricted.policy import PolicyViolation

    if policy.check(source) is None:
        refused(policy, source, also=(AttributeError, ImportError))
    else:
        with pytest.raises(PolicyViolation):
            policy.compile(source)


# --------------------------------------------------------------------------- source size


def test_sources_over_the_size_cap_are_refused_before_parsing(policy):
    from sandbox.restricted.policy import MAX_SOURCE_BYTES, PolicyViolation

    huge = "x = 1\n" * (MAX_SOURCE_BYTES // 6 + 1)
    info = policy.check(huge)
    assert info is not None and info["kind"] == "policy", info
    assert "too large" in info["message"]
    with pytest.raises(PolicyViolation):
        policy.compile(huge)
    # multi-byte characters count as bytes: a quarter of the cap in 4-byte characters passes
    wide = "s = '" + "\U0001f600" * (MAX_SOURCE_BYTES // 4 - 10) + "'\n"
    assert policy.check(wide) is None
    assert policy.check("s = '" + "\U0001f600" * (MAX_SOURCE_BYTES // 4) + "'\n") is not None
