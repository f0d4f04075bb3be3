"""Choosing a backend by name: unknown names, per-call options reaching the availability check,
and 'auto' on a Hugging Face Space."""

from __future__ import annotations

import pytest

from sandbox import BackendSpec, Sandbox, SandboxError, create_sandbox, register_backend
from sandbox.factory import _BACKENDS, resolve_auto


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


def test_auto_picks_restricted_on_a_space(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACE_ID", "someone/mistral-executor")
    assert resolve_auto() == "restricted"
