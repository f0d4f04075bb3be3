"""Runs untrusted code. Knows nothing of models or UI."""

from sandbox.contract import ErrorInfo, Limits, RunResult, Sandbox, SandboxError
from sandbox.factory import BackendSpec, backend_names, create_sandbox, register_backend

__all__ = [
    "BackendSpec",
    "ErrorInfo",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "backend_names",
    "create_sandbox",
    "register_backend",
]
