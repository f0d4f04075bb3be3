"""Runs untrusted code. Knows nothing of models or UI."""

from sandbox.builtin_backends import BackendSpec
from sandbox.contract import ErrorInfo, Limits, RunResult, Sandbox, SandboxError
from sandbox.factory import backend_names, backend_specs, create_sandbox, register_backend

__all__ = [
    "BackendSpec",
    "ErrorInfo",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "backend_names",
    "backend_specs",
    "create_sandbox",
    "register_backend",
]
