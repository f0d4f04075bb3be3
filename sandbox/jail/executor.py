"""How the jail's fork-server compiles and runs code: plain CPython, after confining the child.

There is no code policy here: the kernel is the boundary. Every forked child confines itself the
first time it is asked to compile (the fork-server's warm-up does that while the child waits as
the spare, so no run pays for it), and compiling refuses to go on if confinement failed -- user
code never runs in a child without the filter. In order:

1. its own user namespace, so that RLIMIT_NPROC counts only this process's tasks: the child may
   start ``THREAD_ALLOWANCE`` threads (pyarrow's readers and ``concurrent.futures`` need a few)
   and not one more, whatever else runs under the same uid;
2. every capability dropped (a fresh user namespace hands out a full set inside it);
3. the seccomp allow-list of ``sandbox.jail.seccomp`` (no fork, exec, socket...).

The runtime's child code then adds Landlock with the run's work dir and the memory, file-size
and open-file limits on the first request, as for every backend.
"""

from __future__ import annotations

import builtins
import ctypes
import os
import resource
from typing import Any

from sandbox.jail import seccomp
from sandbox.runtime import lockdown
from sandbox.runtime.capture import USER_FILENAME

# Threads a run may start besides its main thread (pyarrow needs 2 with the pools set to 1).
THREAD_ALLOWANCE = 8
MAX_SOURCE_BYTES = 1_000_000
_CLONE_NEWUSER = 0x10000000


class ConfinementError(RuntimeError):
    """A child could not confine itself: it must not run any code."""


_libc = ctypes.CDLL(None, use_errno=True)


def drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (no exec follows, so that is final)."""
    if not lockdown.drop_capabilities():
        code = ctypes.get_errno()
        raise OSError(code, f"capset: {os.strerror(code)}")


def confine_child(pid: int) -> None:
    """Steps 1-3 of the module docstring, on the calling (single-threaded) child."""
    if _libc.unshare(_CLONE_NEWUSER) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWUSER): {os.strerror(code)}")
    lockdown.set_limit(resource.RLIMIT_NPROC, 1 + THREAD_ALLOWANCE)
    drop_capabilities()
    seccomp.install(pid)


def check_source(source: str) -> dict[str, Any] | None:
    """The ErrorInfo fields of a syntax refusal, or None when ``source`` compiles. Compile bombs
    (deep nesting) come back as syntax errors instead of raising into the host."""
    if not isinstance(source, str):
        raise TypeError(f"code must be str, not {type(source).__name__}")
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        message = f"the code is too large ({size} bytes; at most {MAX_SOURCE_BYTES} are accepted)"
        return {"type": "SyntaxError", "message": message, "lineno": None, "kind": "syntax"}
    try:
        compile(source, USER_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return {
            "type": type(exc).__name__,
            "message": exc.msg or str(exc),
            "lineno": exc.lineno,
            "kind": "syntax",
        }
    except (ValueError, RecursionError, MemoryError) as exc:
        message = str(exc) or type(exc).__name__
        return {"type": "SyntaxError", "message": message, "lineno": None, "kind": "syntax"}
    return None


class JailExecutor:
    """The fork-server's ``Executor``: real builtins, real imports, a confined child."""

    def __init__(self) -> None:
        self.server_pid = os.getpid()
        self._confined_pid: int | None = None
        self._failed: tuple[int, str] | None = None  # a half-confined child is never retried

    def compile(self, source: str) -> Any:
        pid = os.getpid()
        if pid != self.server_pid and self._confined_pid != pid:
            if self._failed is not None and self._failed[0] == pid:
                raise ConfinementError(self._failed[1])
            try:
                confine_child(pid)
            except Exception as exc:
                reason = f"the jail could not confine this run: {type(exc).__name__}: {exc}"
                self._failed = (pid, reason)
                raise ConfinementError(reason) from None
            self._confined_pid = pid
        return compile(source, USER_FILENAME, "exec", dont_inherit=True)

    def new_namespace(self) -> dict[str, Any]:
        return {"__name__": "__main__", "__doc__": None, "__builtins__": builtins}
