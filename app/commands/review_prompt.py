"""``mistral-executor run --review`` and the live code: the terminal side of issue 16.

The reviewer shows the Mechanic's code (rich, on stderr) and asks on the terminal: [r]un it,
[e]dit it in ``$VISUAL``/``$EDITOR`` (then run the edited version), or re[j]ect it with a note
for the model. It runs on the executor's review thread while the progress spinner is paused,
and reads stdin, which must therefore be a terminal: ``run --review`` refuses to start without
one rather than hang or guess.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import click
from rich.console import Console, Group
from rich.syntax import Syntax
from rich.text import Text

if TYPE_CHECKING:  # the CLI starts fast: the executor is imported when a run begins
    from executor import ReviewDecision, ReviewRequest, TraceEvent

LIVE_CODE_LINES = 12  # the tail of the code being written, under the spinner
NO_TTY = (
    "error: --review asks you about each program on the terminal, but stdin is not a terminal. "
    "Run it from an interactive shell, or drop --review."
)
CHOICES = "[r]un  [e]dit in $EDITOR  re[j]ect with a note"


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def show_partial(status: Any, event: TraceEvent) -> None:
    """The code the Mechanic is writing, live under the spinner (last lines only)."""
    code = str(event.payload.get("code") or "")
    if not code:
        return
    tail = "\n".join(code.rstrip("\n").splitlines()[-LIVE_CODE_LINES:])
    label = Text.from_markup(f"[magenta]mechanic #{event.attempt}[/] {event.message}")
    status.update(Group(label, Syntax(tail, "python", theme="ansi_dark", word_wrap=True)))


class TerminalReviewer:
    """The ``review`` callable for the CLI. ``pause`` stops the progress spinner while it asks
    (set once the spinner exists); ``stdin`` and ``edit`` are seams for tests."""

    def __init__(
        self,
        console: Console,
        *,
        stdin: TextIO | None = None,
        edit: Callable[[str], str | None] | None = None,
    ) -> None:
        self.console = console
        self.stdin = stdin
        self.edit = edit or _edit_in_editor
        self.progress: Any = None  # run_cmd.Progress, whose spinner is paused while asking

    def __call__(self, request: ReviewRequest) -> ReviewDecision:
        status = getattr(self.progress, "status", None)
        if status is not None:
            status.stop()
        try:
            return self._ask(request)
        finally:
            if status is not None and not request.closed.is_set():
                status.start()

    def _ask(self, request: ReviewRequest) -> ReviewDecision:
        from executor import ReviewDecision

        console = self.console
        console.rule(f"review · attempt {request.attempt}")
        if request.previous_failure is not None:
            failure = request.previous_failure
            console.print(f"previous attempt: {failure.kind}: {failure.message}", markup=False)
        console.print(Syntax(request.code, "python", line_numbers=True, word_wrap=True))
        console.print(f"The run waits up to {request.timeout_s:g} s for your decision.")
        while True:
            answer = self._read(f"{CHOICES}? ").strip().lower()
            if answer in ("r", "run"):
                return ReviewDecision.run()
            if answer in ("e", "edit"):
                decision = self._edited(request)
                if decision is not None:
                    return decision
                continue
            if answer in ("j", "reject"):
                note = ""
                while not note:
                    note = self._read("Note for the model (what to change): ").strip()
                return ReviewDecision.reject(note)
            console.print(f"Please answer r, e or j ({CHOICES}).")

    def _edited(self, request: ReviewRequest) -> ReviewDecision | None:
        from executor import ReviewDecision

        try:
            text = self.edit(request.code)
        except click.ClickException as exc:
            self.console.print(f"The editor failed: {exc.format_message()}", markup=False)
            return None
        if text is None or text.strip() == request.code.strip():
            self.console.print("No change: running the code as written.")
            return ReviewDecision.run()
        if not text.strip():
            self.console.print("The edited code is empty; choose again.")
            return None
        return ReviewDecision.edit(text)

    def _read(self, prompt: str) -> str:
        self.console.print(prompt, end="", markup=False)
        self.console.file.flush()
        line = (self.stdin or sys.stdin).readline()
        if not line:  # end of input: nobody left to ask
            raise EOFError("stdin closed before a review decision was given")
        return line


def _edit_in_editor(code: str) -> str | None:
    """``$VISUAL`` / ``$EDITOR`` (click's choice when unset) on a temporary ``.py`` file."""
    return click.edit(code, extension=".py", require_save=False)
