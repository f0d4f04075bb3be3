"""The task scenarios of ``bench_executor.py`` and the scripted model that plays them.

The model answers at once, by what each request asks for (a plan, a verdict, the tools round or
code), so the benchmark measures the executor and nothing else; it counts the requests it gets
and estimates their prompt tokens the same way for every tree measured.

Standard library only at import: ``bench_executor.py``'s worker imports this module from beside
the script, then measures an older tree (``--baseline``) put first on sys.path, which has no
such module. What it needs of the executor and the fake server (``executor``,
``tests.fake_mistral``) is imported only when called, so it comes from the tree measured.
"""

from __future__ import annotations

import json
from typing import Any

TASK = "Print the sum of the squares of 1..10"
RIGHT = "total = sum(i * i for i in range(1, 11))\nprint(total)"
PLAN = {
    "needs_code": True,
    "answer": "",
    "summary": "sum the squares",
    "steps": ["square", "sum", "print"],
    "edge_cases": [],
    "success_criteria": ["prints the sum of the squares of 1..10"],
    "checks": ["assert total == 385", "assert '385' in program_output"],
    "checks_cover_criteria": True,
    "observations": "",
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "happy": {"codes": [RIGHT]},
    "happy, review": {"codes": [RIGHT], "plan": {"checks_cover_criteria": False}},
    "heal": {"codes": ["total = sum(i * i for i in range(1, 11))\nprint(totl)", RIGHT]},
    "tool use": {"codes": [RIGHT], "tool": True},
    "never fixes": {
        "codes": ["print(1 / 0)", "print([][1])", "print({}['k'])"],
    },
}


# ------------------------------------------------------------------------ the scripted model


def kind_of(request: Any) -> str:
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
    if schema in ("plan", "verdict"):
        return schema
    return "tools" if request.get("tools") else "code"


class Model:
    """Answers at once, by what is asked; calls the tool once when the scenario wants it."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.codes = list(scenario["codes"])
        self.plan = {**PLAN, **scenario.get("plan", {})}
        self.wants_tool = bool(scenario.get("tool"))
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        from tests.fake_mistral import reply, tool_call

        self.requests.append(request)
        kind = kind_of(request)
        offered = bool(request.get("tools")) and request.get("tool_choice") != "none"
        answered = any(m.get("role") == "tool" for m in request.messages)
        if self.wants_tool and offered and not answered and kind in ("plan", "tools"):
            return reply(tool_calls=[tool_call("exchange_rate", {"currency": "EUR"})])
        if kind == "tools":
            return reply("READY")
        if kind == "plan":
            return reply(json=self.plan)
        if kind == "verdict":
            return reply(json={"complete": True, "reason": "prints 385"})
        code = self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]
        return reply(f"```python\n{code}\n```")

    def prompt_tokens(self) -> int:
        keys = ("messages", "tools", "response_format")
        return sum(
            len(json.dumps({k: r.get(k) for k in keys}, ensure_ascii=False)) // 4
            for r in self.requests
        )


def tool_provider() -> Any:
    from executor import FunctionTool, SimpleToolProvider

    return SimpleToolProvider(
        [
            FunctionTool(
                name="exchange_rate",
                description="Today's exchange rate of a currency to USD.",
                parameters={
                    "type": "object",
                    "properties": {"currency": {"type": "string"}},
                    "required": ["currency"],
                },
                function=lambda currency: {"currency": currency, "rate_to_usd": 1.0842},
            )
        ]
    )
