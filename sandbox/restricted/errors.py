"""The policy's exceptions, its frozen classes, and the name helpers every other part uses.

Refusals at run time raise ``PolicyError`` subclasses (see policy.py for the kinds); classes
of ours that user code can see (the exceptions, ``type``, module proxies) are frozen so that
code cannot rewire them.
"""

from __future__ import annotations

import secrets
from typing import Any

USER_FILENAME = "<user>"  # the filename of every code object compiled from the policy's code
# The constant a compiled method compares ``type(self)`` with until its class is known (see
# transformer.visit_FunctionDef and classes.register_user_class); unguessable, and refused as
# a literal in user code.
OWN_CLASS_MARKER = f"sandbox-own-class-{secrets.token_hex(16)}"

# --------------------------------------------------------------------------- frozen classes


class FrozenMeta(type):
    """Classes of ours that user code can see but must not rewire."""

    def __setattr__(cls, name: str, value: Any) -> None:
        if cls in _FROZEN:
            raise PolicyAttributeError(f"class '{cls.__name__}' of the sandbox is read-only")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        if cls in _FROZEN:
            raise PolicyAttributeError(f"class '{cls.__name__}' of the sandbox is read-only")
        super().__delattr__(name)


_FROZEN: set[type] = set()
_PROXY_CLASSES: set[type] = set()  # module proxies: read-only, ``__name__`` served from here


def freeze(cls: type) -> type:
    _FROZEN.add(cls)
    return cls


def register_proxy_class(cls: type) -> None:
    _PROXY_CLASSES.add(cls)


# --------------------------------------------------------------------------- exceptions


class PolicyError(Exception, metaclass=FrozenMeta):
    """A construct or access the sandbox refuses at run time. ``kind`` feeds ErrorInfo.kind."""

    kind = "policy"

    @property
    def info(self) -> dict[str, Any]:
        """Partial ErrorInfo the worker merges over what it derives from the traceback."""
        return {"type": type(self).__name__, "message": str(self), "kind": self.kind}


class PolicyAttributeError(PolicyError, AttributeError):
    """Refused attribute access; an AttributeError, so ``hasattr``/``getattr(o, n, d)`` see it
    as a missing attribute and nothing about the refused object leaks."""


class PolicyImportError(PolicyError, ImportError):
    """Refused import; an ImportError so ``try: import x / except ImportError`` still works."""

    kind = "import"


class PolicyPathError(PolicyError, PermissionError):
    """A file path outside the run's work dir."""


def _present_as(cls: type, name: str) -> None:
    # ErrorInfo.type reads like the builtin error, tracebacks say ``sandbox.AttributeError``;
    # ``kind`` says it was the policy. (The worker trusts ``info`` only from classes whose
    # module is neither ``builtins`` nor ``__main__``, i.e. never from the user's own.)
    cls.__name__ = cls.__qualname__ = name
    cls.__module__ = "sandbox"


PolicyError.__module__ = "sandbox"
_present_as(PolicyAttributeError, "AttributeError")
_present_as(PolicyImportError, "ImportError")
_present_as(PolicyPathError, "PermissionError")
for _cls in (PolicyError, PolicyAttributeError, PolicyImportError, PolicyPathError):
    freeze(_cls)


def refuse_attribute(name: str, why: str = "") -> PolicyAttributeError:
    message = f"access to attribute '{name}' is not allowed"
    return PolicyAttributeError(f"{message} ({why})" if why else message, name=name)


# --------------------------------------------------------------------------- names


def words(text: str) -> list[str]:
    return text.split()


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name[:2] == "__" and name[-2:] == "__"


def exact_name(name: object) -> str:
    """``name`` as an exact str: a str subclass could override ``startswith`` or ``__eq__``."""
    if type(name) is str:
        return name
    if isinstance(name, str):
        return str.__str__(name)  # TypeError if ``name`` only pretends to be a str
    raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
