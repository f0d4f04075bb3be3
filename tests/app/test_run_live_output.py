"""``mistral-executor run`` shows the program's output so far under its spinner (stderr)."""

from __future__ import annotations

import io

from rich.console import Console

from app.commands.live_output import LIVE_OUTPUT_LINES, live_output_view
from app.commands.run_cmd import Progress
from executor import TraceEvent


def partial(stdout: str, phase: str = "inspector") -> TraceEvent:
    return TraceEvent(phase, "run", "partial", attempt=2, payload={"stdout": stdout})


def rendered(view) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(view)
    return out.getvalue()


def test_the_last_lines_of_the_output_so_far_are_shown():
    text = "".join(f"line {i}\n" for i in range(30))
    shown = rendered(live_output_view(partial(text)))
    assert "inspector #2" in shown
    assert f"line {29 - LIVE_OUTPUT_LINES}\n" not in shown
    assert all(f"line {i}" in shown for i in range(30 - LIVE_OUTPUT_LINES, 30))


def test_the_programs_text_is_never_markup_nor_terminal_control():
    shown = rendered(live_output_view(partial("[bold]x[/bold] [/oops]\n\x1b[2J\x1b]0;title\x07\n")))
    assert "[bold]x[/bold] [/oops]" in shown
    assert "\x1b" not in shown and "\x07" not in shown


def test_other_partial_events_are_not_output():
    assert live_output_view(partial("1\n", phase="mechanic")) is None
    code = TraceEvent("mechanic", "code", "partial", attempt=1, payload={"code": "a = 1"})
    assert live_output_view(code) is None


def test_progress_puts_the_output_under_the_spinner_and_prints_no_line():
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None, force_terminal=False)
    progress = Progress(console)
    updates = []
    progress.status.update = updates.append  # type: ignore[method-assign]
    progress.show(partial("hello from the program\n"))
    assert len(updates) == 1 and "hello from the program" in rendered(updates[0])
    assert out.getvalue() == ""  # no finished-step line for a partial event
