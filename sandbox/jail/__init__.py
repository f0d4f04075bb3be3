"""The jail backend: real CPython and the host's data stack, with the kernel as the boundary."""

from sandbox.jail.backend import JailSandbox
from sandbox.jail.layers import unavailable_reason

__all__ = ["JailSandbox", "unavailable_reason"]
