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
