"""The Scout: gathers context (tools), reads attached images, and plans.

The plan is a JSON-schema reply so the rest of the loop can rely on its fields: the steps and
edge cases steer the Mechanic, the checks become real assertions the Inspector runs, and
``needs_code`` lets a plain question be answered without writing a program at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from executor import prompts
from executor.mistral import BadRequestError
from executor.results import Plan
from executor.run_context import RunContext
from plugins.tools import ToolOutcomeLike, ToolProvider

MAX_CHECKS = 8
# The plan fields a partial (schema-violating) reply must get right to be used at all.
PLAN_TYPES: dict[str, type | tuple[type, ...]] = {
    "needs_code": bool,
    "answer": str,
    "steps": list,
    "checks": list,
    "success_criteria": list,
    "checks_cover_criteria": bool,
}


@dataclass
class ScoutReport:
    plan: Plan
    tool_context: str = ""
    tool_outcomes: list[ToolOutcomeLike] = field(default_factory=list)
    model: str = ""
    dropped_checks: list[str] = field(default_factory=list)


class Scout:
    """Plans the task; with tools registered, the plan call itself offers them (the model calls
    them or plans at once), so a task that needs no tool costs no extra model call."""

    def __init__(self, tool_provider: ToolProvider | None = None, max_tool_rounds: int = 2) -> None:
        self.tool_provider = tool_provider
        self.max_tool_rounds = max_tool_rounds
        # False once a server refused tools and a JSON schema in one request: separate rounds.
        self.combined_tools = True

    def run(
        self,
        ctx: RunContext,
        task: str,
        *,
        context: str = "",
        history: str = "",
        image_chunks: list[dict[str, Any]] | None = None,
    ) -> ScoutReport:
        image_chunks = image_chunks or []
        role = "vision" if image_chunks else "planner"
        specs = self.tool_provider.definitions() if self.tool_provider else []
        tool_context, outcomes = "", []
        if specs and not self.combined_tools:
            tool_context, outcomes = self._gather(
                ctx, task, context, history, image_chunks, role, specs
            )
        user_text = prompts.scout_user_prompt(task, context, history, tool_context)
        system = prompts.SCOUT_SYSTEM
        tools = specs if specs and self.combined_tools else []
        if tools:
            system += prompts.SCOUT_TOOLS_NOTE
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": _with_images(user_text, image_chunks)},
        ]
        try:
            plan, model = self._plan(ctx, messages, role, task, tools, outcomes)
        except BadRequestError as exc:
            if not tools:
                raise
            # This server takes tools or a schema, not both: a tool round, then the plan.
            self.combined_tools = False
            ctx.notes.append(f"scout: the server refused tools with the plan schema ({exc})")
            return self.run(ctx, task, context=context, history=history, image_chunks=image_chunks)
        if tools:
            tool_context = _tool_context(outcomes, ctx)
        dropped = _drop_invalid_checks(ctx, plan)
        return ScoutReport(
            plan=plan,
            tool_context=tool_context,
            tool_outcomes=outcomes,
            model=model,
            dropped_checks=dropped,
        )

    def _plan(
        self,
        ctx: RunContext,
        messages: list[dict[str, Any]],
        role: str,
        task: str,
        tools: list[dict[str, Any]],
        outcomes: list[ToolOutcomeLike],
    ) -> tuple[Plan, str]:
        """The plan call; with ``tools``, the tool calls the model makes first are run and their
        results handed back (at most ``max_tool_rounds`` times) until it plans."""
        started = time.perf_counter()

        def malformed(error: str, try_number: int) -> None:
            ctx.emit(
                "scout",
                "plan",
                "failed",
                duration_ms=(time.perf_counter() - started) * 1000,
                payload={"error": error, "try": try_number},
                message="the plan was not valid JSON",
            )

        for round_number in range(self.max_tool_rounds + 1):
            offered = tools if tools else None
            got = ctx.chat_json(
                "scout",
                messages,
                role=role,
                schema=prompts.PLAN_SCHEMA,
                schema_name="plan",
                field_types=PLAN_TYPES,
                on_malformed=malformed,
                tools=offered,
                tool_choice="auto" if round_number < self.max_tool_rounds else "none",
            )
            if not got.tool_calls:
                break
            if round_number == self.max_tool_rounds:  # asked not to, and called tools anyway
                got.error = "the model kept calling tools instead of planning"
                break
            ctx.emit(
                "scout",
                "tools",
                "ok",
                duration_ms=(time.perf_counter() - started) * 1000,
                tokens=got.tokens,
                payload={
                    "calls": [{"name": c.name, "arguments": c.arguments} for c in got.tool_calls]
                },
                message=f"{len(got.tool_calls)} tool call(s)",
            )
            self._call_tools(ctx, messages, got.reply, got.tool_calls, outcomes)
            started = time.perf_counter()
        if got.value is None:
            note = (
                f"scout: the plan was not valid JSON twice ({got.error}); "
                "went on with a minimal plan"
            )
            ctx.notes.append(note)
            plan = Plan(
                needs_code=True, summary="Write a program that does the task.", steps=[task]
            )
            ctx.emit("scout", "plan", "degraded", payload={"plan": plan.to_dict()}, message=note)
            return plan, ""
        plan = _plan_from(got.value, task)
        payload: dict[str, Any] = {"plan": plan.to_dict()}
        if got.salvaged:
            # JSON that misses fields is still a plan: keep what is there.
            ctx.notes.append("scout: the plan did not match the schema; used its valid fields")
            payload["error"] = got.error
        else:
            payload["model"] = got.model
        ctx.emit(
            "scout",
            "plan",
            "degraded" if got.salvaged else "ok",
            duration_ms=(time.perf_counter() - started) * 1000,
            tokens=got.tokens,
            payload=payload,
            message=plan.summary or ("planned (partial)" if got.salvaged else "planned"),
        )
        return plan, got.model

    def _call_tools(
        self,
        ctx: RunContext,
        messages: list[dict[str, Any]],
        reply: Any,
        calls: list[Any],
        outcomes: list[ToolOutcomeLike],
    ) -> None:
        """Run one reply's tool calls; the call and the results join ``messages``."""
        assert self.tool_provider is not None
        messages.append(
            {
                "role": "assistant",
                "content": getattr(reply, "content", "") or "",
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.raw_arguments},
                    }
                    for c in calls
                ],
            }
        )
        round_outcomes = ctx.call_tools(self.tool_provider, calls)
        for call, outcome in zip(calls, round_outcomes, strict=False):
            ctx.emit(
                "scout",
                "tool_call",
                "ok" if outcome.ok else "failed",
                duration_ms=outcome.duration_ms,
                payload=_outcome_payload(call, outcome),
                message=f"{outcome.name}",
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": outcome.call_id,
                    "name": outcome.name,
                    "content": outcome.content,
                }
            )
        outcomes.extend(round_outcomes)
        for outcome in round_outcomes:  # e.g. generate_image: the user should see them
            ctx.tool_images.extend(getattr(getattr(outcome, "output", None), "images", ()))

    def _gather(
        self,
        ctx: RunContext,
        task: str,
        context: str,
        history: str,
        image_chunks: list[dict[str, Any]],
        role: str,
        specs: list[dict[str, Any]],
    ) -> tuple[str, list[ToolOutcomeLike]]:
        """A tool round of its own before the plan, for servers that refuse tools with a schema:
        the model calls tools until it stops asking (or the rounds run out)."""
        user_text = prompts.scout_user_prompt(task, context, history, "")
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.SCOUT_TOOLS_SYSTEM},
            {"role": "user", "content": _with_images(user_text, image_chunks)},
        ]
        outcomes: list[ToolOutcomeLike] = []
        for _ in range(self.max_tool_rounds):
            started = time.perf_counter()
            reply, tokens = ctx.chat("scout", messages, role=role, tools=specs, tool_choice="auto")
            calls = list(reply.tool_calls or [])
            ctx.emit(
                "scout",
                "tools",
                "ok",
                duration_ms=(time.perf_counter() - started) * 1000,
                tokens=tokens,
                payload={"calls": [{"name": c.name, "arguments": c.arguments} for c in calls]},
                message=f"{len(calls)} tool call(s)" if calls else "no tools needed",
            )
            if not calls:
                break
            self._call_tools(ctx, messages, reply, calls, outcomes)
        return _tool_context(outcomes, ctx), outcomes


def _with_images(text: str, image_chunks: list[dict[str, Any]]) -> Any:
    if not image_chunks:
        return text
    return [{"type": "text", "text": text}, *image_chunks]


def _outcome_payload(call: Any, outcome: ToolOutcomeLike) -> dict[str, Any]:
    payload_of = getattr(outcome, "to_event_payload", None)
    payload = dict(payload_of()) if callable(payload_of) else {}
    payload.setdefault("tool", outcome.name)
    payload.setdefault("arguments", call.arguments)
    payload["result"] = prompts.clip(str(payload.get("result", outcome.content)), 2000)
    return payload


def _tool_context(outcomes: list[ToolOutcomeLike], ctx: RunContext) -> str:
    parts = []
    for outcome in outcomes:
        status = "" if outcome.ok else " (failed)"
        parts.append(f"[{outcome.name}{status}]\n{outcome.content}")
    return "\n\n".join(parts)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def _plan_from(parsed: Any, task: str) -> Plan:
    data = parsed if isinstance(parsed, dict) else {}
    if isinstance(parsed, str):
        try:
            data = json.loads(parsed)
        except ValueError:
            data = {}
    plan = Plan(
        needs_code=bool(data.get("needs_code", True)),
        answer=str(data.get("answer") or "").strip(),
        summary=str(data.get("summary") or "").strip(),
        steps=_as_list(data.get("steps")),
        edge_cases=_as_list(data.get("edge_cases")),
        success_criteria=_as_list(data.get("success_criteria")),
        checks=_as_list(data.get("checks"))[:MAX_CHECKS],
        observations=str(data.get("observations") or "").strip(),
        checks_cover_criteria=data.get("checks_cover_criteria") is True,
    )
    if not plan.needs_code and not plan.answer:
        plan.needs_code = True  # "no code" with no answer would leave the user with nothing
    if not plan.steps and plan.needs_code:
        plan.steps = [task]
    return plan


def _drop_invalid_checks(ctx: RunContext, plan: Plan) -> list[str]:
    """A check that cannot even compile in the sandbox is the Scout's mistake, not the code's."""
    kept, dropped = [], []
    for check in plan.checks:
        error = ctx.preflight(check)
        (dropped if error else kept).append(check)
    plan.checks = kept
    if dropped:
        plan.checks_cover_criteria = False  # what the dropped checks proved is unproven now
        ctx.notes.append(f"scout: dropped {len(dropped)} check(s) the sandbox cannot run")
    return dropped
