"""The top-level Dockerfile builds, and the app it packages answers on port 7860 as uid 1000.

No image registry is reachable on the machines this runs on, so the build uses a locally made
Debian base (``sandbox/docker/build-image.sh`` debootstraps one) unless ``APP_BASE_IMAGE`` names
another. Certificates the host trusts on top of the system ones (a TLS-intercepting proxy in
front of PyPI) are passed to the build for pip only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.requirements import unavailable

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "mistral-executor-app:test"
BASE_REPOSITORY = "mistral-executor-base"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


def _docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def _engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return _docker("info", timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def engine() -> None:
    if not _engine_answers():
        unavailable("a Docker engine (start one with scripts/docker-engine.sh)")


def _local_base_image() -> str | None:
    listed = _docker(
        "images", BASE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}", check=False
    ).stdout.split()
    return listed[0] if listed else None


def _base_image() -> str:
    """APP_BASE_IMAGE, else the debootstrapped base (built on first use), which has Python 3.11."""
    chosen = os.environ.get("APP_BASE_IMAGE")
    if chosen:
        return chosen
    base = _local_base_image()
    if base is None:
        subprocess.run(
            ["bash", str(REPO / "sandbox/docker/build-image.sh")], check=True, timeout=1100
        )
        base = _local_base_image()
    assert base, "sandbox/docker/build-image.sh did not leave a mistral-executor-base image"
    return base


def _extra_ca_pem() -> str:
    return "\n".join(
        path.read_text() for path in sorted(EXTRA_CA_DIR.glob("*.crt")) if path.is_file()
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    build = subprocess.run(
        [
            # Host networking: pip needs the network, and it works whether or not the engine
            # has its default bridge.
            "docker",
            "build",
            "--quiet",
            "--force-rm",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={_base_image()}",
            "--build-arg",
            f"EXTRA_CA_PEM={_extra_ca_pem()}",
            "-t",
            IMAGE,
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert build.returncode == 0, (
        f"docker build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    )
    return IMAGE


@pytest.fixture(scope="module")
def container(image: str):
    port = _free_port()
    # Host networking (no bridge needed); the port is moved off 7860 so runs cannot collide.
    run = _docker(
        "run", "-d", "--rm", "--network", "host", "-e", f"GRADIO_SERVER_PORT={port}", image
    )
    container_id = run.stdout.strip()
    try:
        yield container_id, f"http://127.0.0.1:{port}"
    finally:
        _docker("rm", "-f", container_id, check=False)


def _wait_until_up(base_url: str, container_id: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if _get(base_url + "/")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    logs = _docker("logs", container_id, check=False)
    pytest.fail(f"the app did not answer within {timeout_s:.0f} s:\n{logs.stdout}\n{logs.stderr}")


def test_the_container_serves_the_app_as_uid_1000(container) -> None:
    container_id, base_url = container
    _wait_until_up(base_url, container_id)

    status, body = _get(base_url + "/config")
    config = json.loads(body)
    assert status == 200
    assert config["title"] == "mistral-executor"
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Chat", "Sandbox", "Traces", "Settings"} <= labels

    uid = _docker("exec", container_id, "id", "-u").stdout.strip()
    assert uid == "1000"
    # The image never carries a key; the app must come up without one.
    env = _docker("exec", container_id, "env").stdout
    assert "MISTRAL_API_KEY" not in env


def test_the_image_declares_port_7860_and_a_non_root_user(image: str) -> None:
    inspect = json.loads(_docker("image", "inspect", image).stdout)[0]["Config"]
    assert "7860/tcp" in inspect["ExposedPorts"]
    assert inspect["User"] == "user"
