"""Docker failures translated into SandboxErrors that say what to do about them.

The docker SDK reports an absent engine as a ConnectionError buried three exceptions deep and a
missing image as a 404; a user of the CLI or the UI needs "start the engine with ..." instead.
"""

from __future__ import annotations

import docker.errors
import requests.exceptions

from mistral_executor.settings import get_settings
from sandbox.contract import SandboxError

BUILD_COMMAND = "bash sandbox/docker/build-image.sh"
ENGINE_COMMAND = "bash scripts/docker-engine.sh"


class DockerUnavailableError(SandboxError):
    """No Docker engine answers (not installed, not running, wrong DOCKER_HOST)."""


class DockerPermissionError(SandboxError):
    """An engine runs but this user may not talk to its socket."""


class ImageMissingError(SandboxError):
    """The sandbox image is not on the engine; it is never pulled silently."""


class ContainerStartError(SandboxError):
    """The engine refused or failed to start a sandbox container."""


def engine_address() -> str:
    return get_settings().docker_host or "unix:///var/run/docker.sock"


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        chain.append(current)
        stack += [current.__cause__, current.__context__]
        stack += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
    return chain


def is_permission_problem(exc: BaseException) -> bool:
    return any(
        isinstance(cause, PermissionError) or "permission denied" in str(cause).lower()
        for cause in _causes(exc)
    )


def engine_error(exc: BaseException) -> SandboxError:
    """An error from connecting to the engine, as the fix the user needs."""
    address = engine_address()
    if is_permission_problem(exc):
        return DockerPermissionError(
            f"permission denied on the Docker socket {address}: add this user to the 'docker' "
            "group (sudo usermod -aG docker $USER, then log in again) or run as root"
        )
    return DockerUnavailableError(
        f"no Docker engine answers at {address} ({_short(exc)}): start one with "
        f"`{ENGINE_COMMAND}` (installs and starts dockerd), or point DOCKER_HOST at a running "
        "engine, or use the 'restricted' backend"
    )


def image_missing(image: str) -> ImageMissingError:
    return ImageMissingError(
        f"the sandbox image {image!r} is not on the Docker engine: build it with "
        f"`{BUILD_COMMAND}` (a Debian base and the host's own library versions as wheels; "
        "no registry needed); set MISTRAL_EXECUTOR_DOCKER_IMAGE to use another image"
    )


def start_failed(image: str, detail: str) -> ContainerStartError:
    return ContainerStartError(
        f"a sandbox container from {image!r} failed to start: {detail}. Check the engine with "
        f"`docker info`; if the image is stale, rebuild it with `{BUILD_COMMAND}`"
    )


def translate(exc: BaseException, image: str) -> SandboxError:
    """Any docker SDK exception raised while preparing a container, as a SandboxError."""
    if isinstance(exc, SandboxError):
        return exc
    if isinstance(exc, docker.errors.ImageNotFound):
        return image_missing(image)
    if isinstance(exc, docker.errors.APIError):
        if is_permission_problem(exc) and exc.status_code is None:
            return engine_error(exc)
        return start_failed(image, _short(exc))
    if isinstance(
        exc, docker.errors.DockerException | requests.exceptions.RequestException | OSError
    ):
        return engine_error(exc)
    raise exc  # a bug of ours, not a state of the engine: let it show as itself


def _short(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
