"""What one forked child of the fork-server does: confine itself to one work dir and run code.

The child is forked while the fork-server is idle, so by the time a request arrives only the
per-run steps remain (limits, Landlock with the work dir, compile, exec). Output goes into a
shared memory file the fork-server reads even after killing the child: a run stopped by its
timeout still shows what it printed before.
"""

from __future__ import annotations

import io
import linecache
import math
import os
import re
import resource
import signal
import sys
import traceback
from typing import Any, NoReturn, Protocol

from sandbox.runtime import lockdown
from sandbox.runtime.capture import (
    USER_FILENAME,
    cap_error,
    collect_figures,
    error_from_exception,
)
from sandbox.runtime.output import (  # noqa: F401 - re-exported for the fork-server
    OutputLimitExceeded,
    SharedOutput,
    create_shared_output,
    read_shared_output,
    size_shared_output,
)
from sandbox.runtime.protocol import FrameReader, write_frame

MAX_IMAGES = 20
MAX_IMAGE_CHARS = 16 * 1024 * 1024  # base64 characters over all images of one run
CHILD_MAX_OPEN_FILES = 256
_MB = 1024 * 1024


class Executor(Protocol):
    """How code becomes something to ``exec``: a RestrictedPython policy, or plain CPython."""

    def compile(self, source: str) -> Any: ...

    def new_namespace(self) -> dict[str, Any]: ...


# --------------------------------------------------------------------------- running code


_INFO_TYPES = {"type": str, "message": str, "traceback": str, "kind": str}
_KINDS_FROM_INFO = ("syntax", "policy", "import", "runtime")


def _trusted_info(exc: BaseException) -> dict[str, Any]:
    """The ``info`` dict of the executor's own exceptions (a policy's refusals). An exception
    class the user's code defined could carry one too, so only plain fields of a class that
    is not the user's are taken, and never a kind that would pass for a limit or a crash."""
    info = getattr(exc, "info", None)
    if not isinstance(info, dict) or type(exc).__module__ in ("__main__", "builtins"):
        return {}
    trusted = {
        key: info[key] for key, kind in _INFO_TYPES.items() if isinstance(info.get(key), kind)
    }
    if trusted.get("kind") not in _KINDS_FROM_INFO:
        trusted.pop("kind", None)
    lineno = info.get("lineno")
    if type(lineno) is int and lineno > 0:
        trusted["lineno"] = lineno
    return trusted


def describe_exception(exc: BaseException, kind: str = "runtime") -> dict[str, Any]:
    """Error dict for the host; a policy's own exceptions carry a ready ``info`` dict."""
    if isinstance(exc, ImportError) and kind == "runtime":
        kind = "import"
    try:
        described = error_from_exception(exc, kind=kind)
    except Exception as failure:  # the user's own __str__ may raise
        described = {
            "type": type(exc).__name__,
            "message": f"<the exception could not be printed: {type(failure).__name__}>",
            "traceback": "",
            "lineno": None,
            "kind": kind,
        }
    info = _trusted_info(exc)
    if "traceback" in info and not info["traceback"]:
        del info["traceback"]  # ours names the user's frames; keep it over an empty one
    return cap_error({**described, **info})


_PROCESS_MODULES = ("subprocess.py", "popen_fork.py", "popen_spawn_posix.py", "pty.py", "os.py")
_PROCESS_CALL = re.compile(r"\b(fork|forkpty|posix_spawnp?|spawn\w*|system|popen)\s*\(")


def _is_process_limit(exc: BaseException) -> bool:
    """A refused fork or thread. Fork fails with EAGAIN, a BlockingIOError like any busy
    non-blocking socket: only the one raised where a process is started counts."""
    if isinstance(exc, RuntimeError):
        return "can't start new thread" in str(exc)
    if not isinstance(exc, BlockingIOError) or exc.__traceback__ is None:
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    deepest = frames[-1] if frames else None
    if deepest is None:
        return False
    if deepest.filename.endswith(_PROCESS_MODULES):
        return True
    return bool(_PROCESS_CALL.search(deepest.line or ""))


def run_code(
    executor: Executor, source: str, namespace: dict[str, Any] | None, output: SharedOutput
) -> dict[str, Any]:
    """Compile and run ``source``; the result dict lacks stdout/stderr (they are in ``output``)."""
    reserve = bytearray(_MB)  # freed on MemoryError so the error can still be reported
    linecache.cache[USER_FILENAME] = (len(source), None, source.splitlines(True), USER_FILENAME)
    try:
        code = executor.compile(source)
    except MemoryError as exc:
        del reserve
        return _result(describe_exception(exc, "limit"), "memory")
    except Exception as exc:
        return _result(describe_exception(exc, "policy"), None)
    own_namespace = namespace is None
    if namespace is None:
        namespace = executor.new_namespace()
    error: dict[str, Any] | None = None
    limit: str | None = None
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = output.stdout, output.stderr
    try:
        exec(code, namespace)
    except OutputLimitExceeded as exc:
        limit = "output"
        error = {
            "type": "OutputLimitExceeded",
            "message": f"{exc} exceeded the {output.cap}-byte output limit; the rest was cut",
            "traceback": "",
            "lineno": None,
            "kind": "limit",
        }
    except MemoryError as exc:
        del reserve
        if own_namespace:  # a session keeps its state; a one-shot run frees it for the report
            namespace.clear()
        limit = "memory"
        error = describe_exception(exc, "limit")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = describe_exception(exc)
    except BaseException as exc:
        error = describe_exception(exc)
        if _is_process_limit(exc):
            limit = "processes"
            error["kind"] = "limit"
    finally:
        sys.stdout, sys.stderr = saved
    images = [] if limit == "memory" else _figures(output)
    return _result(error, limit, images)


def _result(
    error: dict[str, Any] | None, limit: str | None, images: list[str] | None = None
) -> dict[str, Any]:
    return {
        "ok": error is None and limit is None,
        "error": error,
        "limit_hit": limit,
        "images": images or [],
    }


def _figures(output: SharedOutput) -> list[str]:
    try:
        images = collect_figures(max_images=MAX_IMAGES)
    except BaseException as exc:  # a broken figure must not lose the run's result
        _note(output, f"\n[figures could not be rendered: {type(exc).__name__}: {exc}]\n")
        return []
    kept, total = [], 0
    for image in images:
        total += len(image)
        if total > MAX_IMAGE_CHARS:
            _note(output, f"\n[only {len(kept)} of {len(images)} figures returned: size cap]\n")
            break
        kept.append(image)
    return kept


def _note(output: SharedOutput, text: str) -> None:
    try:
        output.stderr.write(text)
    except OutputLimitExceeded:
        pass


# --------------------------------------------------------------------------- the child process


def _close_all_fds_except(keep: set[int]) -> None:
    low = 3
    for fd in sorted(f for f in keep if f >= 3):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _reseed_random_generators() -> None:
    """Every child starts as a copy of the fork-server: without this, numpy's global generator
    would hand every run the same "random" numbers (``random`` reseeds itself at fork)."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


class ChildSettings(Protocol):
    landlock_abi: int
    block_new_processes: bool
    seccomp: bool
    deny_sockets: bool


def child_main(
    executor: Executor,
    settings: ChildSettings,
    request_fd: int,
    reply_fd: int,
    output_fd: int,
    path_fds: list[int],
    server_pid: int,
) -> NoReturn:
    """Body of a forked child; never returns. Exit code 70 means our own setup failed."""
    try:
        lockdown.die_with_parent()
        if os.getppid() != server_pid:
            os._exit(0)
        _close_all_fds_except({request_fd, reply_fd, output_fd, *path_fds})
        _reseed_random_generators()
        if settings.block_new_processes:
            lockdown.set_limit(resource.RLIMIT_NPROC, 0, 0)
        ruleset = None
        if settings.landlock_abi:
            ruleset = lockdown.Landlock(settings.landlock_abi)
            for fd in path_fds:
                ruleset.allow(fd, lockdown.READ_ONLY)
        for fd in path_fds:
            os.close(fd)
        if settings.seccomp:
            lockdown.deny_risky_syscalls(
                deny_sockets=settings.deny_sockets, self_only=settings.block_new_processes
            )
    except BaseException:
        traceback.print_exc()  # still the fork-server's diagnostics channel
        os._exit(70)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # from here on, nothing the code does reaches the host's stderr
        os.close(devnull)
        _serve_requests(executor, ruleset, request_fd, reply_fd, output_fd)
    except BaseException as exc:
        _report_internal_error(reply_fd, exc)
        os._exit(70)
    os._exit(0)


def _report_internal_error(reply_fd: int, exc: BaseException) -> None:
    """Our own code failed (not the user's): say so with our traceback instead of dying mutely."""
    try:
        error = {
            "type": type(exc).__name__,
            "message": f"sandbox worker failure: {exc}",
            "traceback": traceback.format_exc(),
            "lineno": None,
            "kind": "internal",
        }
        write_frame(reply_fd, {**_result(cap_error(error), None), "run": _current_run[0]})
    except BaseException:
        pass


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


class _WarmUpOutput:
    cap = 0
    stdout = stderr = _Discard()


def _warm_up(executor: Executor) -> None:
    """Run a trivial snippet while idle. A fresh fork shares every page with the fork-server,
    and the first touch of each (refcounts are writes) costs a copy: paying those for the
    compile/exec path now takes about half a millisecond off the next real run."""
    try:
        run_code(executor, "print(1)", None, _WarmUpOutput())  # type: ignore[arg-type]
    except BaseException:
        pass


def _serve_requests(
    executor: Executor,
    ruleset: lockdown.Landlock | None,
    request_fd: int,
    reply_fd: int,
    output_fd: int,
) -> None:
    _warm_up(executor)
    baseline = lockdown.address_space_bytes()
    reader = FrameReader(request_fd, 256 * _MB)
    output: SharedOutput | None = None
    namespace: dict[str, Any] | None = None
    session_cpu_hard: int | None = None
    while True:
        request = reader.read()
        if request is None:
            return
        _current_run[0] = request.get("run")
        limits = request["limits"]
        session = request.get("session") is not None
        timeout_s = float(limits["timeout_s"])
        if output is None:
            output = _confine(request["workdir"], limits, ruleset, output_fd, baseline)
            if session:
                namespace = executor.new_namespace()
                session_cpu_hard = _session_cpu_budget(timeout_s)
        output.reset()
        _limit_cpu(timeout_s, session_cpu_hard)
        result = run_code(executor, request["code"], namespace, output)
        if session:
            _disarm_timers()
        write_frame(reply_fd, {**result, "run": _current_run[0]})
        if not session:
            return


_current_run: list[Any] = [None]  # the nonce of the request being served, for error reports


def _confine(
    workdir: str,
    limits: dict[str, Any],
    ruleset: lockdown.Landlock | None,
    output_fd: int,
    baseline: int,
) -> SharedOutput:
    """The first request's one-time steps: work dir, Landlock, memory and file limits."""
    os.chdir(workdir)
    output = SharedOutput(output_fd)
    memory = baseline + output.map.size() + int(limits["memory_mb"]) * _MB
    if ruleset is not None:
        ruleset.allow_path(workdir, lockdown.READ_WRITE)
        ruleset.restrict_self()
    lockdown.set_limit(resource.RLIMIT_AS, memory)
    lockdown.set_limit(resource.RLIMIT_FSIZE, int(limits["max_file_bytes"]))
    lockdown.set_limit(resource.RLIMIT_NOFILE, CHILD_MAX_OPEN_FILES)
    return output


SESSION_CPU_BUDGET_RUNS = 20
MIN_SESSION_CPU_BUDGET_S = 300


def _session_cpu_budget(timeout_s: float) -> int:
    """A session process's HARD CPU limit for its whole life, set at its first run and never
    raised (it cannot be: raising a hard limit needs a privilege nobody here has). Per run the
    wall clock stops the code, and between runs the process is stopped, so real sessions use
    a small part of it; code that raises its own soft limit gets no further than this."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    budget = max(MIN_SESSION_CPU_BUDGET_S, SESSION_CPU_BUDGET_RUNS * timeout_s)
    return math.ceil(usage.ru_utime + usage.ru_stime + budget)


def _limit_cpu(timeout_s: float, session_hard: int | None) -> None:
    """CPU-time backstop a second past the wall-clock timeout the fork-server enforces: the
    soft limit (SIGXCPU) per run, the hard one (SIGKILL) just above it for a one-shot child
    and at the session's lifetime budget for a session child."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + timeout_s) + 1
    hard = soft + 1 if session_hard is None else session_hard
    lockdown.set_limit(resource.RLIMIT_CPU, min(soft, hard), hard)


def _disarm_timers() -> None:
    """Interval timers the code armed would fire into the session's next run: stop them."""
    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
        try:
            signal.setitimer(timer, 0)
        except (OSError, ValueError):
            pass
