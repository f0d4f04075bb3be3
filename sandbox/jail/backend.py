"""The jail backend as the host sees it: the restricted backend's host side (warm pool of
fork-servers, work dirs on a size-capped tmpfs, sessions, reply checks) with another worker --
real CPython and the whole data stack, confined by the kernel alone (see ``worker_main``,
``executor`` and ``seccomp``).
"""

from __future__ import annotations

import json
import os
import sys
import weakref
from typing import Any

from sandbox.contract import ErrorInfo, Limits, SandboxError
from sandbox.jail.holder import NamespaceHolder
from sandbox.jail.layers import missing_layers, unavailable_reason
from sandbox.restricted import workdir
from sandbox.restricted.backend import (
    DEFAULT_MAX_WORKDIR_MB,
    DEFAULT_SESSION_TTL_S,
    MAX_WORKDIR_FILES,
    WORKER_ENV,
    RestrictedSandbox,
    _project_root,
)
from sandbox.restricted.pool import ForkServerProcess

BACKEND = "jail"
# Thread pools of every library the jail preloads, sized to one thread (each run may start only
# a few threads; see executor.THREAD_ALLOWANCE). JOBLIB_MULTIPROCESSING=0: scikit-learn's
# n_jobs then runs in the calling process instead of failing to fork workers.
JAIL_ENV = {
    **WORKER_ENV,
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "BLIS_NUM_THREADS": "1",
    "OMP_THREAD_LIMIT": "1",
    "ARROW_IO_THREADS": "1",
    "JOBLIB_MULTIPROCESSING": "0",
    # pyarrow's jemalloc would start a background thread at import, and a process with threads
    # can no longer enter namespaces.
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
    "LOKY_MAX_CPU_COUNT": "1",
}


class JailSandbox(RestrictedSandbox):
    """Real CPython with the host's site-packages; Landlock, a seccomp allow-list, namespaces
    and hard rlimits are the boundary. Refuses to start when any of them is missing."""

    name = BACKEND

    def __init__(
        self,
        limits: Limits | None = None,
        pool_size: int | None = None,
        session_ttl_s: float = DEFAULT_SESSION_TTL_S,
        max_workdir_mb: int = DEFAULT_MAX_WORKDIR_MB,
        **options: Any,
    ) -> None:
        reason = unavailable_reason()
        if reason:
            raise SandboxError(reason)
        self._holder: NamespaceHolder | None = None
        holder_dir = None
        if os.geteuid() != 0:
            holder_dir = workdir.make_base_dir("mistral-executor-jail-", False)
            try:
                self._holder = NamespaceHolder(holder_dir, max_workdir_mb, MAX_WORKDIR_FILES)
            except BaseException:
                workdir.remove_workdir(holder_dir)
                raise
        try:
            super().__init__(
                limits,
                pool_size=pool_size,
                session_ttl_s=session_ttl_s,
                max_workdir_mb=max_workdir_mb,
                **options,
            )
        except BaseException:
            if self._holder is not None:
                self._holder.close()
                workdir.remove_workdir(holder_dir or "")
            raise
        if self._holder is not None:
            # The work dirs live on the holder's tmpfs instead of the (uncapped) dir the
            # restricted host side made.
            self._release_base_dir()
            self._base_dir = self._holder.host_path
            self._size_cap_problem = None
            self._release_base_dir = weakref.finalize(
                self, _release_holder, self._holder, holder_dir
            )
        missing = missing_layers(self.isolation, root=os.geteuid() == 0)
        if self._size_cap_problem is not None:
            missing.append(f"a size-capped tmpfs for the work dirs ({self._size_cap_problem})")
        if missing:
            self.close()
            raise SandboxError(
                f"jail needs {', '.join(missing)}, which this host did not give: "
                "use restricted or docker"
            )

    def _spawn(self) -> ForkServerProcess:
        options = {"holder_pid": self._holder.pid if self._holder else None}
        boot = (
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from sandbox.jail.worker_main import main; main(sys.argv[2:])"
        )
        argv = [sys.executable, "-I", "-c", boot, _project_root(), json.dumps(options)]
        return ForkServerProcess(argv, {**JAIL_ENV, "MPLCONFIGDIR": self._mpl_dir})

    def _execute(self, code: str, run_dir: str, *args: Any, **kwargs: Any) -> Any:
        """The host reaches a holder's tmpfs through /proc; the workers see it where the base
        dir was made (they are in the holder's mount namespace), and are sent that path."""
        if self._holder is not None and run_dir.startswith(self._holder.host_path + "/"):
            run_dir = self._holder.base_dir + run_dir[len(self._holder.host_path) :]
        return super()._execute(code, run_dir, *args, **kwargs)

    @property
    def isolation(self) -> dict[str, Any]:
        """What the workers reported in force, plus the work dirs' size-capped tmpfs."""
        info = super().isolation
        if self._size_cap_problem is None:
            info["work_dir_tmpfs_mb"] = self.max_workdir_mb
            info["tmpfs_in_user_namespace"] = self._holder is not None
        return info

    @property
    def degraded(self) -> list[str]:
        """Always empty: the jail refuses to start rather than run with a layer missing."""
        return []

    def preflight(self, code: str) -> ErrorInfo | None:
        """Syntax only: there is no policy, every import is allowed."""
        from sandbox.jail.executor import check_source

        info = check_source(code)
        return ErrorInfo(**info) if info else None


def _release_holder(holder: NamespaceHolder, base_dir: str | None) -> None:
    holder.close()
    if base_dir:
        workdir.remove_workdir(base_dir)
