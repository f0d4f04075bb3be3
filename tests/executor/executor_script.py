"""A scripted "model" for executor tests, served by the fake Mistral server.

The executor talks to the fake server through the real client layer and SDK; this module only
decides what the fake answers, by recognising which phase is asking: the Scout's plan and the
Inspector's verdict ask for a JSON schema (named "plan" / "verdict"), and everything else is
the Mechanic asking for code. With tools registered the plan request offers them too: scripted
``tools`` answers (tool calls) are given to plan requests that offer tools, before the plan.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fake_mistral import FakeMistral, RecordedRequest, reply
from tests.fake_mistral.scripts import Script


def plan(
    *,
    checks: list[str] | None = None,
    needs_code: bool = True,
    answer: str = "",
    criteria: list[str] | None = None,
    observations: str = "",
    cover: bool = False,
) -> dict[str, Any]:
    """A plan reply; ``cover``: the checks prove every criterion (no verdict call follows)."""
    return {
        "needs_code": needs_code,
        "answer": answer,
        "summary": "compute it and print it",
        "steps": ["compute", "print"],
        "edge_cases": [],
        "success_criteria": criteria or ["prints the result"],
        "checks": checks or [],
        "checks_cover_criteria": cover,
        "observations": observations,
    }


def verdict(complete: bool = True, reason: str = "done") -> dict[str, Any]:
    return {"complete": complete, "reason": reason}


def code_reply(code: str, note: str = "It prints the result.") -> str:
    return f"Here is the program.\n\n```python\n{code.strip()}\n```\n\n{note}"


def kind_of(request: RecordedRequest) -> str:
    response_format = request.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("name")
    if schema in ("plan", "verdict"):
        return schema
    if request.get("tools"):
        return "tools"  # a separate tool round (servers refusing tools with a schema)
    return "code"


def offers_tools(request: RecordedRequest) -> bool:
    return bool(request.get("tools")) and request.get("tool_choice") != "none"


Answer = Script | str | dict | Callable[[RecordedRequest], Any]


@dataclass
class ScriptedModel:
    """Queues of answers per kind; a kind with an empty queue falls back to its default."""

    plans: deque = field(default_factory=deque)
    codes: deque = field(default_factory=deque)
    verdicts: deque = field(default_factory=deque)
    tools: deque = field(default_factory=deque)
    default_plan: dict[str, Any] = field(default_factory=plan)
    default_verdict: dict[str, Any] = field(default_factory=verdict)
    seen: dict[str, list[RecordedRequest]] = field(
        default_factory=lambda: {"plan": [], "verdict": [], "tools": [], "code": []}
    )

    def install(self, fake: FakeMistral) -> ScriptedModel:
        fake.on_chat(self)
        return self

    def __call__(self, request: RecordedRequest) -> Script:
        kind = kind_of(request)
        if kind == "plan" and offers_tools(request) and self.tools:
            kind = "tools"  # the plan call offers tools; the script calls them first
        self.seen[kind].append(request)
        queue = {
            "plan": self.plans,
            "verdict": self.verdicts,
            "tools": self.tools,
            "code": self.codes,
        }[kind]
        if queue:
            answer = queue.popleft()
        elif kind == "plan":
            answer = self.default_plan
        elif kind == "verdict":
            answer = self.default_verdict
        elif kind == "tools":
            answer = "READY"
        else:
            raise AssertionError("the Mechanic asked for more code than the test scripted")
        if callable(answer) and not isinstance(answer, dict):
            answer = answer(request)
        if isinstance(answer, dict):
            return reply(json=answer)
        if isinstance(answer, str):
            return reply(answer)
        return answer


def scripted(
    fake: FakeMistral,
    *codes: Answer,
    plan_: dict[str, Any] | None = None,
    verdicts: list[Answer] | None = None,
) -> ScriptedModel:
    """Install a model answering with ``plan_``, then the Mechanic replies ``codes`` in order."""
    model = ScriptedModel()
    if plan_ is not None:
        model.default_plan = plan_
    model.codes.extend(code_reply(c) if isinstance(c, str) and "```" not in c else c for c in codes)
    model.verdicts.extend(verdicts or [])
    return model.install(fake)


def last_user_text(request: RecordedRequest) -> str:
    content = request.messages[-1]["content"]
    if isinstance(content, list):
        return "\n".join(c.get("text", "") for c in content if isinstance(c, dict))
    return content


# ------------------------------------------------------------------------- a shared sandbox

_SANDBOX: list[Any] = []


def shared_sandbox() -> Any:
    """One restricted sandbox for the whole test session: its workers start once."""
    if not _SANDBOX:
        import atexit

        from sandbox import Limits, create_sandbox

        box = create_sandbox("restricted", limits=Limits(timeout_s=1.0, memory_mb=256))
        _SANDBOX.append(box)
        atexit.register(box.close)
    return _SANDBOX[0]


def new_executor(**options: Any) -> Any:
    from executor import Executor

    options.setdefault("sandbox", shared_sandbox())
    options.setdefault("max_retries", 0)
    return Executor(**options)
