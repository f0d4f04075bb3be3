"""The program's output while it runs, live under ``mistral-executor run``'s spinner (stderr).

The Inspector streams what the program prints as "partial" events of its running step
(``payload["stdout"]``: everything so far); the spinner shows the last lines of it. The text is
the program's, so it is shown as plain text -- never as rich markup -- with control characters
(terminal escape sequences among them) made visible instead of sent to the terminal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text

if TYPE_CHECKING:
    from executor import TraceEvent

LIVE_OUTPUT_LINES = 8
MAX_LINE_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def live_output_view(event: TraceEvent) -> Group | None:
    """What the spinner shows for a partial event with the program's output, or None for any
    other event (e.g. the Mechanic's code being written)."""
    stdout = event.payload.get("stdout")
    if event.status != "partial" or event.phase != "inspector" or not isinstance(stdout, str):
        return None
    lines = stdout.rstrip("\n").splitlines()[-LIVE_OUTPUT_LINES:]
    tail = "\n".join(_CONTROL.sub("\ufffd", line)[:MAX_LINE_CHARS] for line in lines)
    label = Text(f"inspector #{event.attempt}", style="yellow")
    label.append(f" {event.message or 'running'}")
    return Group(label, Text(tail, style="dim"))


def show_live_output(status: Any, event: TraceEvent) -> bool:
    """Put the program's output so far under the spinner; False if ``event`` carries none."""
    view = live_output_view(event)
    if view is None:
        return False
    status.update(view)
    return True
