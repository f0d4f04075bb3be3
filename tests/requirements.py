"""What a test needs from the machine: skipped on a developer's machine that lacks it, a failure
in CI (CI=true), where scripts/test.sh must have installed it -- a skip there would hide a
missing install step."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires {what}")
    pytest.skip(what)
