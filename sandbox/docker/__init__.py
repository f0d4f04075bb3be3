"""The Docker sandbox backend: real CPython in locked-down containers (see backend.py).

``unavailable_reason()`` is what ``create_sandbox("auto")`` asks before choosing docker, so it
answers from a cache for a few seconds instead of asking the engine every time.
"""

from __future__ import annotations

import threading
import time

from mistral_executor.settings import get_settings
from sandbox.docker.backend import DEFAULT_IMAGE, IMAGE_ENV, DockerSandbox, default_image
from sandbox.docker.errors import (
    ContainerStartError,
    DockerPermissionError,
    DockerUnavailableError,
    ImageMissingError,
)

__all__ = [
    "DEFAULT_IMAGE",
    "IMAGE_ENV",
    "ContainerStartError",
    "DockerPermissionError",
    "DockerSandbox",
    "DockerUnavailableError",
    "ImageMissingError",
    "default_image",
    "unavailable_reason",
]

CACHE_SECONDS = 5.0
PROBE_TIMEOUT_S = 3
_cache: dict[tuple[str | None, str], tuple[float, str | None]] = {}
_cache_lock = threading.Lock()


def unavailable_reason(image: str | None = None, **_options: object) -> str | None:
    """None when an engine answers and the image is on it; else a sentence naming the fix."""
    image = image or default_image()
    key = (get_settings().docker_host, image)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
    reason = _probe(image)
    with _cache_lock:
        _cache[key] = (time.monotonic(), reason)
    return reason


def _probe(image: str) -> str | None:
    import docker
    import docker.errors

    from sandbox.docker import errors

    try:
        client = docker.from_env(timeout=PROBE_TIMEOUT_S)
    except Exception as exc:
        return str(errors.engine_error(exc))
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return str(errors.image_missing(image))
    except docker.errors.APIError as exc:
        return str(errors.translate(exc, image))
    except Exception as exc:
        return str(errors.engine_error(exc))
    finally:
        client.close()
    return None
