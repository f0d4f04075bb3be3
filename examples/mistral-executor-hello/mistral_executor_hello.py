"""An example mistral-executor plugin: a tool the model can call while it plans.

Install it next to mistral-executor (``pip install -e examples/mistral-executor-hello``) and it is
loaded through its entry point in the ``mistral_executor`` group.
"""

from __future__ import annotations

from plugins import hookimpl


def hello(name: str, excited: bool = False) -> str:
    """Greet someone by name, the way this team likes greetings written.

    Args:
        name: who to greet.
        excited: end with an exclamation mark instead of a full stop.
    """
    return f"Hello, {name}{'!' if excited else '.'} (from the hello plugin)"


@hookimpl
def register_tools(register):
    register(hello)
