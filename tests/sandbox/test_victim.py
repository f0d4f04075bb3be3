"""A victim session outlives every hostile case of the batteries, run by other visitors.

One anonymous visitor of a public Space must not be able to cost another anything: a session
sets state (a variable and a file), then every case of the adversarial battery
(test_adversarial.py) and of the red-team battery (test_redteam.py) runs in sessions of its
own -- crashes, floods, bombs, forged replies, escapes -- and after each one the victim's state
and its next run's result must be intact, and (restricted) the fork-server holding it must be
the same process: a restart would have wiped every session on it.

Affordable: every hostile run gets a short timeout (whether a case is contained is asserted by
the batteries themselves; here only the victim matters). On docker every session is a container
of its own, so there the cases run as one-shot runs and every tenth in a session.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from sandbox import Sandbox
from sandbox.restricted import RestrictedSandbox
from tests.sandbox import test_adversarial, test_redteam, test_run_isolation
from tests.sandbox.conftest import Containment, describe

HOSTILE_TIMEOUT_S = 2.0
DOCKER_SESSION_EVERY = 10
VICTIM_CODE = (
    "import numpy as np\n"
    "state = {'visits': 41}\n"
    "np.save('victim.npy', np.array([7, 7]))\n"
    "def bump():\n"
    "    state['visits'] += 1\n"
    "    return state['visits']\n"
)
VICTIM_CHECK = "print(bump(), int(np.load('victim.npy').sum()))"


@dataclasses.dataclass(frozen=True)
class Hostile:
    id: str
    code: str
    files: object = None


def hostile_cases(backend: str) -> list[Hostile]:
    cases = []
    for case in test_adversarial.CASES:
        if (case.restricted if backend == "restricted" else case.docker) is not None:
            cases.append(Hostile(f"adversarial:{case.id}", case.code, case.files))
    for param in test_redteam.ALL_CASES:
        attempt = param.values[0]
        cases.append(Hostile(f"redteam:{attempt.id}", attempt.code))
    for name in ("SAVEFIG_NOT_PNG", "FORGED_FRAME", "OVERSIZED_FRAME", "NOT_JSON_FRAME"):
        cases.append(Hostile(f"bad-reply:{name}", getattr(test_run_isolation, name)))
    return cases


def _identity(sandbox: Sandbox, victim: str) -> object:
    if isinstance(sandbox, RestrictedSandbox):
        slot = sandbox._sessions[victim].slot
        return sandbox._pool.slots[slot].server.pid
    session = sandbox._sessions._sessions.get(victim)  # type: ignore[attr-defined]
    return session.container.id if session and session.container else None


# Hundreds of hostile runs, each docker session a fresh container: generous on a loaded machine.
@pytest.mark.timeout(1800)
def test_a_victim_session_survives_every_hostile_case(
    backend: str, sandbox: Sandbox, containment: Containment
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    planted = sandbox.run(VICTIM_CODE, session_id=victim)
    assert planted.ok, describe(planted)
    identity = _identity(sandbox, victim)
    limits = dataclasses.replace(sandbox.limits, timeout_s=HOSTILE_TIMEOUT_S)
    visits = 41
    harmed = []
    for index, case in enumerate(hostile_cases(backend)):
        in_session = backend == "restricted" or index % DOCKER_SESSION_EVERY == 0
        session = f"hostile-{index}-{uuid.uuid4().hex[:6]}" if in_session else None
        code = containment.fill(case.code)
        files = case.files(containment.fill) if callable(case.files) else None
        try:
            sandbox.run(code, files=files, session_id=session, limits=limits)
        except Exception as exc:  # noqa: BLE001 - nothing may be raised into the host
            harmed.append(f"{case.id}: run() raised {type(exc).__name__}: {exc}")
        finally:
            if session is not None:
                sandbox.close_session(session)
        check = sandbox.run(VICTIM_CHECK, session_id=victim)
        visits += 1
        if not (check.ok and check.stdout == f"{visits} 14\n"):
            harmed.append(f"{case.id}: the victim saw {describe(check)}")
            break
        if _identity(sandbox, victim) != identity:
            harmed.append(f"{case.id}: the process holding the victim's session was replaced")
            break
    sandbox.close_session(victim)
    assert not harmed, "\n".join(harmed)
    assert containment.canary.problems() == []


def test_the_batteries_are_not_empty() -> None:
    assert len(hostile_cases("restricted")) > 300
    assert len(hostile_cases("docker")) > 200
