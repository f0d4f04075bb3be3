"""An example mistral-executor plugin: a tool the model can call, and a CLI command.

Install it next to mistral-executor (``pip install -e examples/mistral-executor-hello``) and it is
loaded through its entry point in the ``mistral_executor`` group: the model gets the ``hello``
tool, and ``mistral-executor hello Ada`` greets from the command line.
"""

from __future__ import annotations

from mistral_executor import hookimpl


def hello(name: str, excited: bool = False) -> str:
    """Greet someone by name, the way this team likes greetings written.

    Args:
        name: who to greet.
        excited: end with an exclamation mark instead of a full stop.
    """
    return _greeting(name, excited) + " (from the hello plugin)"


def _greeting(name: str, excited: bool) -> str:
    return f"Hello, {name}{'!' if excited else '.'}"


@hookimpl
def register_tools(register):
    register(hello)


@hookimpl
def register_commands(cli):
    @cli.command()
    def hello(name: str, excited: bool = False) -> None:
        """Greet NAME from the command line (added by the hello plugin)."""
        print(_greeting(name, excited))
