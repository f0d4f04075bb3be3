"""The restricted backend: a RestrictedPython policy in locked-down, pre-forked worker processes."""

from sandbox.restricted.backend import RestrictedSandbox

__all__ = ["RestrictedSandbox"]
