"""A permissive stand-in for sandbox.restricted.policy: plain CPython plus an import list.

Tests use it to simulate a complete escape of the real policy (code that may import os,
socket, ctypes...), to show that the worker's kernel-level confinement holds on its own.
"""

from __future__ import annotations

import builtins

DEFAULT_ALLOWED_IMPORTS = ("math", "numpy", "matplotlib", "time", "json")


class PolicyViolation(Exception):
    def __init__(self, info):
        super().__init__(info["message"])
        self.info = info


class Policy:
    def __init__(self, allowed_imports=DEFAULT_ALLOWED_IMPORTS, preload=True):
        self.allowed = tuple(allowed_imports)
        for name in self.allowed if preload else ():
            __import__(name)

    def warmup_steps(self):
        """Imported by the fork-server after ready, as the real policy's modules are."""
        from sandbox.runtime.warmup import import_steps

        return import_steps(self.allowed)

    def _import(self, name, *args, **kwargs):
        if name.split(".")[0] not in self.allowed:
            raise ImportError(f"import of {name!r} is not allowed")
        return __import__(name, *args, **kwargs)

    def compile(self, source):
        if "__" in source:
            raise PolicyViolation(
                {
                    "type": "PolicyViolation",
                    "message": "dunder names are refused",
                    "traceback": "",
                    "lineno": 1,
                    "kind": "policy",
                }
            )
        return compile(source, "<user>", "exec", dont_inherit=True)

    def check(self, source):
        try:
            self.compile(source)
        except PolicyViolation as exc:
            return exc.info
        except SyntaxError as exc:
            return {
                "type": "SyntaxError",
                "message": exc.msg,
                "traceback": "",
                "lineno": exc.lineno,
                "kind": "syntax",
            }
        return None

    def new_namespace(self):
        safe = dict(vars(builtins))
        safe["__import__"] = self._import
        return {"__name__": "__main__", "__builtins__": safe}
