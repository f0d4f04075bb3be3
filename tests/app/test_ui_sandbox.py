"""The Sandbox tab runs code directly, with no model and no key configured at all."""

from __future__ import annotations

import pytest
from PIL import Image

from app.ui.sandbox_tab import EXAMPLE_CODE, backend_status_markdown, run_in_sandbox


@pytest.fixture(autouse=True)
def no_key_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_SERVER_URL", raising=False)
    monkeypatch.delenv("MISTRAL_EXECUTOR_SANDBOX", raising=False)


def test_the_example_runs_and_its_figure_is_returned() -> None:
    status, stdout, errors, images = run_in_sandbox(EXAMPLE_CODE, "restricted", 10, 512)
    assert "Finished" in status and "restricted" in status
    assert "asked for by name" in status  # which backend ran, and why
    assert "sum of squares 1..10 = 385" in stdout
    assert errors == ""
    assert len(images) == 1 and isinstance(images[0], Image.Image)
    assert images[0].size[0] > 100


def test_an_exception_shows_the_users_line_not_ours() -> None:
    status, stdout, errors, images = run_in_sandbox(
        "print('before')\nvalue = 1 / 0\n", "restricted", 10, 512
    )
    assert "Failed" in status
    assert stdout.startswith("before")
    assert "ZeroDivisionError" in errors
    assert "line 2" in errors
    assert images == []


def test_a_runaway_loop_is_stopped_by_the_timeout_chosen() -> None:
    status, _, _, _ = run_in_sandbox("while True:\n    pass\n", "restricted", 1, 256)
    assert "timeout limit was hit" in status


def test_requests_outside_the_caps_are_clamped_or_refused() -> None:
    assert "Nothing to run" in run_in_sandbox("   ", "restricted", 10, 512)[0]
    assert "too long" in run_in_sandbox("x = 1\n" * 30_000, "restricted", 10, 512)[0]
    assert "Unknown backend" in run_in_sandbox("print(1)", "no-such", 10, 512)[0]
    # An absurd timeout or memory request is clamped, not passed through.
    status, stdout, _, _ = run_in_sandbox("print('ok')", "restricted", 10**9, 10**9)
    assert stdout.strip() == "ok", status


def test_the_backends_are_listed_with_their_availability() -> None:
    status = backend_status_markdown()
    assert "`restricted`" in status and "available" in status
    assert "`docker`" in status and "`jail`" in status
    assert "`auto` currently means" in status and "auto:" in status


def test_sessions_share_one_warm_sandbox_but_keep_their_own_limits() -> None:
    from executor.sandbox_access import shared_sandbox
    from sandbox import Limits

    quick = shared_sandbox("restricted", Limits(timeout_s=1))
    patient = shared_sandbox("restricted", Limits(timeout_s=5))
    assert quick.inner is patient.inner  # no new pool per combination of limits
    assert quick.run("while True:\n    pass\n").limit_hit == "timeout"
    quick.close()  # a session's view closing leaves the shared sandbox running
    assert patient.run("print('still warm')").stdout == "still warm\n"
