"""Fixtures shared by the sandbox tests: one sandbox per backend, and the traps escapes would spring.

Every backend-facing test takes the ``backend`` fixture, parametrized over the built-in backends,
so the same test body runs against each. Docker params carry the ``docker`` marker and are skipped
with the engine's own reason when it is unavailable -- except under ``CI=true``, where a missing
engine fails instead, because CI must run the Docker tests for real.

Pools are slow to start (worker processes, containers), so one sandbox per backend is shared by
the whole package; tests that need their own (close(), the context manager) use ``make_sandbox``.

The traps (``canary``, ``host_secret``, ``host_listener``) are set before any sandbox starts, so a
worker inheriting the host's environment or reaching the host's files or network would be caught.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import Limits, RunResult, Sandbox, create_sandbox
from sandbox.contract import LIMIT_KINDS
from sandbox.factory import backend_specs
from tests.requirements import unavailable

BACKENDS = ("restricted", "jail", "docker")
SECRET_ENV_NAME = "MISTRAL_API_KEY"
# Limits of the shared sandbox; single runs narrow timeout/output through ``run(limits=...)``.
SHARED_LIMITS = Limits(timeout_s=10, memory_mb=512, max_output_bytes=100_000)
# Output may exceed the cap by a truncation notice, never by more.
OUTPUT_SLACK_BYTES = 1024
REPO_ROOT = Path(__file__).resolve().parents[2]
# A line of a host project file: seeing it in a result means a host file was read.
HOST_FILE = REPO_ROOT / "sandbox" / "contract.py"
HOST_FILE_MARKER = "The one contract every sandbox backend honours"

_docker_reason_cache: list[str | None] = []


def docker_unavailable_reason() -> str | None:
    """The docker backend's own reason it cannot run here (None when it can), asked once."""
    if not _docker_reason_cache:
        try:
            reason = backend_specs()["docker"].unavailable_reason()
        except Exception as exc:  # the backend module itself fails to load
            reason = f"the docker backend cannot be loaded: {type(exc).__name__}: {exc}"
        _docker_reason_cache.append(reason)
    return _docker_reason_cache[0]


def require_backend(name: str) -> None:
    """Skip (or, in CI, fail) a test whose backend cannot run on this machine."""
    if name == "jail":
        reason = backend_specs()["jail"].unavailable_reason()
        if reason is not None:
            unavailable(f"the jail backend, which is unavailable: {reason}")
        return
    if name != "docker":
        return
    reason = docker_unavailable_reason()
    if reason is None:
        return
    unavailable(f"the docker backend, which is unavailable: {reason}")


def backend_params() -> list:
    return [
        pytest.param(name, id=name, marks=[pytest.mark.docker] if name == "docker" else [])
        for name in BACKENDS
    ]


def run_limits(sandbox: Sandbox, **changes: float) -> Limits:
    """The sandbox's limits with a few changed (memory stays: warm workers are sized for it)."""
    return dataclasses.replace(sandbox.limits, **changes)


# --------------------------------------------------------------------------------------- traps


@pytest.fixture(scope="package", autouse=True)
def host_secret() -> Iterator[str]:
    """A fake API key in the host's environment, set before any sandbox starts."""
    secret = f"sk-canary-{uuid.uuid4().hex}"
    previous = os.environ.get(SECRET_ENV_NAME)
    os.environ[SECRET_ENV_NAME] = secret
    yield secret
    if previous is None:
        os.environ.pop(SECRET_ENV_NAME, None)
    else:
        os.environ[SECRET_ENV_NAME] = previous


@dataclasses.dataclass
class Canary:
    """Host files an escape would read or write.

    The directory and file are world-writable on purpose: a worker that dropped to another user
    could still write them, so only the sandbox itself -- not file permissions -- keeps them intact.
    """

    drop_dir: Path  # nothing may appear in here
    file: Path  # its content must never change nor show up in a result
    content: str
    outside: Path  # a path in the host's /tmp that must never come into existence

    def tokens(self) -> dict[str, str]:
        up = "../" * 30
        return {
            "@CANARY@": str(self.file),
            "@CANARY_REL@": up + str(self.file).lstrip("/"),
            "@DROP_DIR@": str(self.drop_dir),
            "@DROP_REL@": up + str(self.drop_dir).lstrip("/"),
            "@OUTSIDE@": str(self.outside),
            "@HOST_FILE@": str(HOST_FILE),
            "@HOST_PID@": str(os.getpid()),
        }

    def problems(self) -> list[str]:
        found = []
        if not self.file.is_file():
            found.append(f"canary file {self.file} is gone")
        elif self.file.read_text(errors="replace") != self.content:
            found.append(f"canary file {self.file} was changed")
        if self.drop_dir.is_dir():
            extra = sorted(p.name for p in self.drop_dir.iterdir() if p != self.file)
            if extra:
                found.append(f"files appeared in the host drop dir: {extra}")
        else:
            found.append(f"host drop dir {self.drop_dir} is gone")
        leaked = sorted(str(p) for p in self.outside.parent.glob(self.outside.name + "*"))
        if leaked:
            found.append(f"files appeared in the host's /tmp: {leaked}")
        return found

    def reset(self) -> None:
        """Put the traps back after a failed case, so one escape does not fail every later case."""
        self.drop_dir.mkdir(mode=0o777, exist_ok=True)
        os.chmod(self.drop_dir, 0o777)
        for path in self.drop_dir.iterdir():
            if path != self.file:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.file.write_text(self.content)
        os.chmod(self.file, 0o666)
        for path in self.outside.parent.glob(self.outside.name + "*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


@pytest.fixture(scope="package")
def canary() -> Iterator[Canary]:
    drop_dir = Path(tempfile.mkdtemp(prefix="sandbox-canary-", dir="/tmp"))
    canary = Canary(
        drop_dir=drop_dir,
        file=drop_dir / "canary.txt",
        content=f"canary-file-{uuid.uuid4().hex}\n",
        outside=Path("/tmp") / f"sandbox-escape-{uuid.uuid4().hex}",
    )
    canary.reset()
    yield canary
    shutil.rmtree(drop_dir, ignore_errors=True)
    for path in canary.outside.parent.glob(canary.outside.name + "*"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


class Listener:
    """A TCP server on all host interfaces that counts who connects: nobody should."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="escape-listener", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self.peers.append(str(peer))
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="package")
def host_listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


# ------------------------------------------------------------------------------------ backends


@pytest.fixture(scope="package", params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    require_backend(request.param)
    return request.param


@pytest.fixture(scope="package")
def sandbox(backend: str, host_secret: str, canary: Canary) -> Iterator[Sandbox]:
    """One warm sandbox per backend for the whole package (pools are slow to start)."""
    box = create_sandbox(backend, limits=SHARED_LIMITS)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def make_sandbox(backend: str, host_secret: str) -> Iterator[Callable[..., Sandbox]]:
    """Build private sandboxes for tests about a sandbox's life cycle; closed afterwards."""
    made: list[Sandbox] = []

    def make(**options: object) -> Sandbox:
        box = create_sandbox(backend, **options)
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


# ------------------------------------------------------------------------------ outcome checks


@dataclasses.dataclass
class Containment:
    """Asserts a run stayed inside: the outcomes every adversarial case must show."""

    backend: str
    sandbox: Sandbox
    secret: str
    canary: Canary
    listener: Listener
    host_cwd: str

    def fill(self, code: str) -> str:
        for token, value in self.canary.tokens().items():
            code = code.replace(token, value)
        return code.replace("@PORT@", str(self.listener.port))

    def leaks(self, result: RunResult) -> list[str]:
        texts = {"stdout": result.stdout, "stderr": result.stderr}
        if result.error is not None:
            texts["error.message"] = result.error.message
            texts["error.traceback"] = result.error.traceback
        for name, content in result.files.items():
            texts[f"files[{name!r}]"] = content.decode("latin-1")
        forbidden = {
            "the host secret": self.secret,
            "the host canary file's content": self.canary.content.strip(),
            "a host project file's content": HOST_FILE_MARKER,
        }
        return [
            f"{what} appeared in {where}"
            for what, needle in forbidden.items()
            for where, text in texts.items()
            if needle in text
        ]

    def problems(self, result: object) -> list[str]:
        if not isinstance(result, RunResult):
            return [f"run() returned {type(result).__name__}, not RunResult"]
        found = self.leaks(result) + self.canary.problems()
        if result.backend != self.backend:
            found.append(f"backend is {result.backend!r}, expected {self.backend!r}")
        if result.limit_hit is not None and result.limit_hit not in LIMIT_KINDS:
            found.append(f"limit_hit {result.limit_hit!r} is not one of {LIMIT_KINDS}")
        if not result.ok and result.error is None and result.limit_hit is None:
            found.append("ok is False but there is neither an error nor a limit_hit")
        cap = self.sandbox.limits.max_output_bytes + OUTPUT_SLACK_BYTES
        for name in ("stdout", "stderr"):
            size = len(getattr(result, name).encode("utf-8", "replace"))
            if size > cap:
                found.append(f"{name} holds {size} bytes, over the {cap}-byte cap")
        for name, content in result.files.items():
            if len(content) > self.sandbox.limits.max_file_bytes:
                found.append(f"file {name!r} of {len(content)} bytes exceeds max_file_bytes")
        if self.listener.connections:
            found.append(f"something connected to the host listener: {self.listener.peers}")
        if os.environ.get(SECRET_ENV_NAME) != self.secret:
            found.append("the host's own environment was changed")
        if os.getcwd() != self.host_cwd:
            found.append(f"the host's cwd changed to {os.getcwd()}")
        return found

    def still_works(self) -> list[str]:
        after = self.sandbox.run("print(len([1, 2, 3]) * 14)")
        if after.ok and after.stdout == "42\n":
            return []
        return [f"the sandbox is broken for the next run: {describe(after)}"]


def describe(result: object) -> str:
    """A one-line account of a result for assertion messages."""
    if not isinstance(result, RunResult):
        return repr(result)
    parts = [f"ok={result.ok}", f"limit_hit={result.limit_hit!r}"]
    if result.error is not None:
        parts.append(
            f"error={result.error.type}(kind={result.error.kind}, "
            f"line={result.error.lineno}): {result.error.message[:300]!r}"
        )
    if result.stdout:
        parts.append(f"stdout={result.stdout[:300]!r}")
    if result.stderr:
        parts.append(f"stderr={result.stderr[:300]!r}")
    return ", ".join(parts)


@pytest.fixture
def containment(
    backend: str, sandbox: Sandbox, host_secret: str, canary: Canary, host_listener: Listener
) -> Iterator[Containment]:
    checker = Containment(backend, sandbox, host_secret, canary, host_listener, os.getcwd())
    yield checker
    # One case's escape must not make every later case fail too.
    canary.reset()
    host_listener.connections = 0
    host_listener.peers.clear()
