"""The Mechanic: turns the plan into a program, and a failure into a corrected program.

Code models answer most reliably with the program in a fenced ```python block, so that is the
contract; ``extract_code`` is forgiving about how the fence looks (language tag variants,
indentation, a reply cut off before its closing fence) but never guesses code out of prose.
Before anything runs, the sandbox's pre-flight check turns a doomed program (syntax, blocked
import, refused construct) into precise feedback without spending a run.
"""

from __future__ import annotations

import re
import textwrap
import time
from dataclasses import dataclass
from typing import Any

from executor import profiling, prompts
from executor.results import Attempt, Plan
from executor.run_context import RunContext
from executor.throttle import PARTIAL_INTERVAL_S, Throttle

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.#-]*)[^\n]*\n"
    r"(?P<body>.*?)"
    r"(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


@dataclass
class CodeBlock:
    lang: str
    code: str


def find_blocks(text: str) -> list[CodeBlock]:
    blocks = []
    for match in _FENCE.finditer(text.replace("\r\n", "\n")):
        body = textwrap.dedent(match.group("body")).strip("\n")
        blocks.append(CodeBlock(lang=match.group("lang").lower(), code=body))
    return blocks


def extract_code(text: str) -> tuple[str | None, str]:
    """The program in a reply and the prose around it.

    Python-tagged blocks win over untagged ones; of several, the longest is the program (models
    sometimes add a short usage example after it). Blocks tagged with another language never
    count. Returns ``(None, prose)`` when there is no usable block.
    """
    text = text or ""
    blocks = [b for b in find_blocks(text) if b.code.strip()]
    tagged = [b for b in blocks if b.lang in _PYTHON_TAGS]
    untagged = [b for b in blocks if not b.lang]
    candidates = tagged or untagged
    prose = re.sub(r"\n{3,}", "\n\n", _FENCE.sub("", text.replace("\r\n", "\n"))).strip()
    if not candidates:
        return None, prose
    return max(candidates, key=lambda b: len(b.code)).code + "\n", prose


@dataclass
class MechanicBrief:
    """Everything the Mechanic sees that stays the same across attempts."""

    task: str
    plan: Plan
    context: str = ""
    history: str = ""
    tool_context: str = ""


class LiveCode:
    """Turns the Mechanic's streamed reply into throttled "partial" events carrying the code
    written so far (the fenced block as it grows; prose before the fence is not code yet).
    ``Throttle`` sends at most one per ``interval_s``, the latest text when the interval is
    over, and nothing once the reply is complete (``close``)."""

    def __init__(self, ctx: RunContext, attempt: int, interval_s: float = PARTIAL_INTERVAL_S):
        self.ctx = ctx
        self.attempt = attempt
        self._text = ""
        self._last_code = ""
        self._throttle = Throttle(self._emit, interval_s)

    def close(self) -> None:
        """The step is over: nothing partial is sent after this."""
        self._throttle.close()

    def update(self, text: str) -> None:
        with self._throttle.lock:
            self._text = text
            self._throttle.changed()

    def _emit(self) -> bool:
        code, _prose = extract_code(self._text)
        if not code or code == self._last_code:
            return False
        self._last_code = code
        lines = len(code.splitlines())
        self.ctx.emit_partial(
            "mechanic",
            "code",
            attempt=self.attempt,
            payload={"code": code},
            message=f"writing code ({lines} line{'s' if lines != 1 else ''} so far)",
        )
        return True


class Mechanic:
    def write(
        self,
        ctx: RunContext,
        brief: MechanicBrief,
        number: int,
        previous: Attempt | None = None,
        earlier_failures: list[str] | None = None,
    ) -> Attempt:
        """Ask the coder model for a program (or a fix of ``previous``) and pre-flight it."""
        messages = self.messages(ctx, brief, previous, earlier_failures or [])
        started = time.perf_counter()
        ctx.emit("mechanic", "code", "started", attempt=number, message="writing code")
        if ctx.live:
            live = LiveCode(ctx, number)
            try:
                reply, tokens = ctx.chat_stream("mechanic", messages, live.update, role="coder")
            finally:
                live.close()
        else:
            reply, tokens = ctx.chat("mechanic", messages, role="coder")
        code, prose = extract_code(reply.content or "")
        attempt = Attempt(number=number, code=code or "", explanation=prose[:2000])
        if code is None:
            attempt.explanation = (reply.content or "")[:2000]
        else:
            attempt.preflight_error = ctx.preflight(code)
        payload: dict[str, Any] = {
            "code": attempt.code,
            "explanation": attempt.explanation,
            "model": reply.model,
            "finish_reason": reply.finish_reason,
        }
        if code is None:
            status, message = "failed", "the reply had no ```python block"
        elif attempt.preflight_error is not None:
            status = "failed"
            message = f"pre-flight refused it: {attempt.preflight_error}"
            payload["preflight_error"] = _error_dict(attempt.preflight_error)
        else:
            status, message = "ok", f"{len(code.splitlines())} lines of code"
        ctx.emit(
            "mechanic",
            "code",
            status,
            attempt=number,
            duration_ms=(time.perf_counter() - started) * 1000,
            tokens=tokens,
            payload=payload,
            message=message,
        )
        return attempt

    def messages(
        self,
        ctx: RunContext,
        brief: MechanicBrief,
        previous: Attempt | None,
        earlier_failures: list[str],
    ) -> list[dict[str, Any]]:
        user = prompts.mechanic_user_prompt(
            brief.task, brief.context, brief.history, brief.plan, brief.tool_context, ctx.rules
        )
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.MECHANIC_SYSTEM},
            {"role": "user", "content": user},
        ]
        if previous is not None:
            if previous.code:
                assistant = prompts.assistant_code_message(previous)
            else:
                assistant = previous.explanation or "(no code)"
            messages.append({"role": "assistant", "content": assistant})
            messages.append(
                {
                    "role": "user",
                    "content": prompts.repair_prompt(previous, ctx.rules, earlier_failures)
                    + profiling.repair_note(ctx, previous),
                }
            )
        return messages


def _error_dict(error: Any) -> dict[str, Any]:
    return {
        "type": error.type,
        "message": error.message,
        "traceback": error.traceback,
        "lineno": error.lineno,
        "kind": error.kind,
    }
