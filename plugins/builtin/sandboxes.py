"""The built-in sandbox backends (restricted, jail, docker), registered as a plugin.

As datasette ships its core features as default plugins, the product's own backends go through
the same ``register_sandboxes`` hook as a third-party one, and ``mistral-executor plugins`` lists
them with this plugin. The specs themselves live in :mod:`sandbox.builtin_backends`, because
``from sandbox import create_sandbox`` must find them in a program that never loads plugins;
registering the same spec objects again here is a no-op for the registry's table.
"""

from __future__ import annotations

from plugins.hookspecs import hookimpl
from sandbox.builtin_backends import BUILTIN_BACKENDS


@hookimpl
def register_sandboxes(register):
    for spec in BUILTIN_BACKENDS:
        register(spec)
