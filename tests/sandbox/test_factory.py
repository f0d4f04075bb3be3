"""Choosing a backend by name: unknown names, per-call options reaching the availability check,
what 'auto' picks (docker, else jail, else restricted; never docker on a Hugging Face Space),
why, and a host's pin."""

from __future__ import annotations

import pytest

from sandbox import BackendSpec, Sandbox, SandboxError, create_sandbox, register_backend
from sandbox.factory import (
    _BACKENDS,
    _OWNERS,
    SANDBOX_ENV,
    explain_auto,
    explain_backend,
    resolve_auto,
)


class _Recorder(Sandbox):
    name = "recorder"

    def __init__(self, limits=None, **options):
        super().__init__(limits)
        self.options = options

    def run(self, code, *, files=None, session_id=None, limits=None):  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


@pytest.fixture
def recorder_backend():
    seen: list[dict] = []

    def reason(**options):
        seen.append(options)
        return None if options.get("image") != "missing:1" else "image missing:1 is not built"

    register_backend(BackendSpec("recorder", _Recorder, reason))
    yield seen
    _BACKENDS.pop("recorder", None)
    _OWNERS.pop("recorder", None)


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(SandboxError, match="unknown sandbox backend 'nope'.*restricted"):
        create_sandbox("nope")


def test_options_reach_the_availability_check_and_the_backend(recorder_backend) -> None:
    sandbox = create_sandbox("recorder", image="custom:2")
    assert recorder_backend == [{"image": "custom:2"}]
    assert sandbox.options == {"image": "custom:2"}
    with pytest.raises(SandboxError, match="image missing:1 is not built"):
        create_sandbox("recorder", image="missing:1")


def test_auto_is_reserved() -> None:
    with pytest.raises(ValueError, match="reserved"):
        register_backend(BackendSpec("auto", _Recorder))


def _availability(monkeypatch: pytest.MonkeyPatch, **reasons: str | None) -> None:
    """Make the named built-in backends report these reasons (None: usable)."""
    for name, reason in reasons.items():
        spec = BackendSpec(name, _Recorder, lambda reason=reason, **_options: reason)
        monkeypatch.setitem(_BACKENDS, name, spec)


@pytest.fixture
def unpinned(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    return monkeypatch


def test_auto_prefers_docker_then_jail_then_restricted(unpinned: pytest.MonkeyPatch) -> None:
    _availability(unpinned, docker=None, jail=None)
    assert explain_auto().backend == "docker"
    _availability(unpinned, docker="no engine here", jail=None)
    choice = explain_auto()
    assert choice.backend == "jail"
    assert "no engine here" in choice.reason
    _availability(
        unpinned, docker="no engine here", jail="jail needs Landlock ABI >= 6; this kernel has 3"
    )
    choice = explain_auto()
    assert choice.backend == "restricted"
    assert "no engine here" in choice.reason and "Landlock ABI >= 6" in choice.reason


def test_auto_never_picks_docker_on_a_space(unpinned: pytest.MonkeyPatch) -> None:
    unpinned.setenv("SPACE_ID", "someone/mistral-executor")
    _availability(unpinned, docker=None, jail=None)
    choice = explain_auto()
    assert choice.backend == "jail" and "Hugging Face Space" in choice.reason
    _availability(unpinned, docker=None, jail="no Landlock")
    assert resolve_auto() == "restricted"


def test_a_broken_availability_check_is_a_reason_not_a_crash(unpinned: pytest.MonkeyPatch) -> None:
    def broken(**_options):
        raise RuntimeError("engine exploded")

    unpinned.setitem(_BACKENDS, "docker", BackendSpec("docker", _Recorder, broken))
    _availability(unpinned, jail="no Landlock")
    choice = explain_auto()
    assert choice.backend == "restricted" and "engine exploded" in choice.reason


def test_a_host_pins_what_auto_means(unpinned: pytest.MonkeyPatch) -> None:
    _availability(unpinned, docker=None, jail=None)
    unpinned.setenv(SANDBOX_ENV, "restricted")
    choice = explain_auto()
    assert choice == explain_backend("auto")
    assert choice.backend == "restricted" and SANDBOX_ENV in choice.reason
    # A name given explicitly still wins over the pin.
    assert explain_backend("jail").backend == "jail"


def test_a_pinned_backend_that_cannot_run_fails_instead_of_falling_back(
    unpinned: pytest.MonkeyPatch,
) -> None:
    _availability(unpinned, docker=None, jail="jail needs Landlock ABI >= 6; this kernel has 0")
    unpinned.setenv(SANDBOX_ENV, "jail")
    with pytest.raises(SandboxError, match="Landlock ABI >= 6"):
        create_sandbox("auto")


def test_a_pin_naming_no_backend_is_a_clear_error(unpinned: pytest.MonkeyPatch) -> None:
    unpinned.setenv(SANDBOX_ENV, "jial")
    with pytest.raises(SandboxError, match=f"{SANDBOX_ENV}='jial' names no sandbox backend"):
        explain_auto()


def test_explicit_names_say_so_and_unknown_names_fail() -> None:
    assert explain_backend("restricted").reason == "asked for by name"
    with pytest.raises(SandboxError, match="unknown sandbox backend 'nope'.*jail"):
        explain_backend("nope")


# -- what the executor may ask a backend: the contract, not attribute guessing -------------------


class _Declared(Sandbox):
    name = "restricted"  # the name alone must not make the executor assume RestrictedPython
    allowed_imports = ("math", "json")

    def run(self, code, **options):  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_the_rules_told_to_the_model_come_from_the_contract() -> None:
    from executor.sandbox_access import sandbox_rules
    from sandbox.shared import SharedSandboxView

    rules = sandbox_rules(_Declared())
    assert rules.allowed_modules == ("json", "math") and rules.restricted is False
    shared = SharedSandboxView(_Declared(), _Declared().limits)
    assert sandbox_rules(shared).allowed_modules == ("json", "math")
    assert Sandbox.allowed_imports is None and Sandbox.restricted_python is False


def test_restricted_declares_its_allow_list() -> None:
    from executor.sandbox_access import sandbox_rules
    from sandbox.restricted.policy import DEFAULT_ALLOWED_IMPORTS

    with create_sandbox("restricted", pool_size=1) as box:
        assert box.restricted_python is True
        assert box.allowed_imports == tuple(sorted(DEFAULT_ALLOWED_IMPORTS))
        assert sandbox_rules(box).restricted is True
    with create_sandbox("restricted", pool_size=1, allowed_imports=["math"]) as box:
        assert box.allowed_imports == ("math",)


def test_the_shared_cache_has_a_public_accessor(recorder_backend) -> None:
    from sandbox import shared

    assert shared.running_shared("recorder") is None  # looking never starts one
    view = shared.shared_sandbox("recorder")
    try:
        assert shared.running_shared("recorder") is view.inner
        assert shared.shared_sandbox("recorder").inner is view.inner  # one per backend
    finally:
        shared._SHARED.pop("recorder", None)


def test_built_in_names_belong_to_the_built_ins() -> None:
    from sandbox.builtin_backends import BUILTIN_BACKENDS
    from sandbox.factory import BackendNameTaken, backend_owner, backend_specs

    for spec in BUILTIN_BACKENDS:
        assert backend_specs()[spec.name] is spec
        assert backend_owner(spec.name) == "plugins.builtin.sandboxes"
        with pytest.raises(BackendNameTaken, match="reserved by the built-in backends"):
            register_backend(BackendSpec(spec.name, _Recorder))
        with pytest.raises(BackendNameTaken):
            register_backend(BackendSpec(spec.name, _Recorder), owner="plugin 'x' (directory)")
