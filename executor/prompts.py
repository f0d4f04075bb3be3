"""Every piece of prompt text the loop sends, in one place so it can be read and tuned as prose.

Prompts are plain functions of plain data: no client, no sandbox object. What the sandbox allows
arrives as a ``SandboxRules`` built by the loop from the live backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.results import Attempt, Plan

MAX_OUTPUT_IN_PROMPT = 4000
MAX_CODE_IN_PROMPT = 12000


def clip(text: str, limit: int = MAX_OUTPUT_IN_PROMPT) -> str:
    """Keep the head and tail of long text: errors and results usually sit at the ends."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


@dataclass
class SandboxRules:
    """What the code may do where it runs, told to the Mechanic up front."""

    backend: str
    timeout_s: float
    memory_mb: int
    max_output_bytes: int
    allowed_modules: Sequence[str] = field(default_factory=tuple)
    restricted: bool = False

    def describe(self) -> str:
        lines = [
            f"- It runs in a sandbox ({self.backend}): no network, no input(), no files outside "
            "its own working directory.",
            f"- Limits: {self.timeout_s:g} s wall time, {self.memory_mb} MB memory, "
            f"{self.max_output_bytes} bytes of output.",
        ]
        if self.allowed_modules:
            lines.append("- Only these modules can be imported: " + ", ".join(self.allowed_modules))
        if self.restricted:
            lines.append(
                "- Restricted Python: no open(), eval(), exec(), compile(), globals(), vars(), "
                "no names or attributes starting with an underscore (so no dunder methods "
                "and no `if __name__ == '__main__':` guard)."
            )
        lines.append("- matplotlib figures left open at the end are captured as images.")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- Scout

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "needs_code": {
            "type": "boolean",
            "description": "False only when the task is a plain question answerable without running code.",
        },
        "answer": {
            "type": "string",
            "description": "The direct answer when needs_code is false; otherwise empty.",
        },
        "summary": {"type": "string", "description": "The approach in one or two sentences."},
        "steps": {"type": "array", "items": {"type": "string"}},
        "edge_cases": {"type": "array", "items": {"type": "string"}},
        "success_criteria": {"type": "array", "items": {"type": "string"}},
        "checks": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Python assert statements run after the program in its namespace.",
        },
        "checks_cover_criteria": {
            "type": "boolean",
            "description": "True only when the checks, if they all pass, prove every success "
            "criterion, so the output needs no review.",
        },
        "observations": {
            "type": "string",
            "description": "Facts from the attached images or tool results the code needs; empty if none.",
        },
    },
    "required": [
        "needs_code",
        "answer",
        "summary",
        "steps",
        "edge_cases",
        "success_criteria",
        "checks",
        "checks_cover_criteria",
        "observations",
    ],
    "additionalProperties": False,
}

SCOUT_SYSTEM = """You are the Scout of a coding agent. You plan; another model writes the code.
Decide whether the task needs a program at all. A plain question (a definition, an explanation, \
a fact) gets a direct answer in `answer` with needs_code false. Anything that computes, \
transforms data, simulates, or draws needs code.

For code tasks, plan a single Python program that prints its result:
- steps: the concrete steps of the program.
- edge_cases: inputs or situations the program must handle.
- success_criteria: what the printed output must show for the task to be done.
- checks: 0-5 Python assert statements that prove the result is right. They run AFTER the \
program, in the same namespace: they can use the program's variables and functions, and the \
string `program_output` holding everything it printed. Name in the steps the variables or \
functions the checks rely on. Only assert what the task determines (known values, \
properties, invariants); never guess a value you are not sure of.
- checks_cover_criteria: true only when the checks, if they all pass, prove every success \
criterion (the values, and what must be printed, through `program_output`), so nobody needs \
to read the output; false when any criterion needs judgement (wording, completeness, a plot, \
a file) or there are no checks.
- observations: anything read from attached images or tool results that the code needs \
(numbers, labels, data), written out in full, because the programmer cannot see them.
Reply with JSON only."""

SCOUT_TOOLS_NOTE = """

Tools: before planning you may call the available tools to gather facts the task needs \
(current data, documents, search results). Call them only when the task needs outside \
information. Their results come back to you; then reply with the JSON plan, writing what the \
code needs from them into `observations`."""

# The separate tool round, for servers that refuse tools and a JSON schema in one request.
SCOUT_TOOLS_SYSTEM = """You are the Scout of a coding agent. Before planning, you may call the \
available tools to gather facts the task needs (current data, documents, search results). Call \
tools only when the task needs outside information; otherwise reply with the single word READY."""


def history_section(history: str) -> str:
    return f"Conversation so far (earlier turns):\n{history}\n\n" if history else ""


def scout_user_prompt(task: str, context: str, history: str, tool_context: str) -> str:
    parts = [history_section(history)]
    if context:
        parts.append(f"Context from the user:\n{clip(context)}\n\n")
    if tool_context:
        parts.append(f"Tool results gathered for this task:\n{clip(tool_context)}\n\n")
    parts.append(f"Task:\n{task}")
    return "".join(parts)


def json_retry(error: str) -> str:
    return (
        f"Your reply was not valid JSON for the required schema ({clip(error, 300)}). "
        "Reply again with one JSON object that has exactly the required fields."
    )


# ------------------------------------------------------------------------------------- Mechanic

MECHANIC_SYSTEM = """You are the Mechanic of a coding agent: you write one complete Python \
program that does the task and prints its result.
Reply with the whole program in a single ```python fenced block, then at most two sentences \
saying what it prints. Write the program to run top to bottom as a script: no placeholders, no \
input(), no `if __name__ == "__main__":` guard. Print the results the task asks for, clearly \
labelled. Define the variables and functions the checks use, at the top level."""


def plan_section(plan: Plan) -> str:
    lines = []
    if plan.summary:
        lines.append(f"Approach: {plan.summary}")
    if plan.steps:
        lines.append("Steps:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(plan.steps, 1)))
    if plan.edge_cases:
        lines.append("Edge cases:\n" + "\n".join(f"- {e}" for e in plan.edge_cases))
    if plan.success_criteria:
        lines.append("Success criteria:\n" + "\n".join(f"- {c}" for c in plan.success_criteria))
    if plan.checks:
        lines.append(
            "These checks run after your program, in its namespace (`program_output` is what it "
            "printed):\n" + "\n".join(plan.checks)
        )
    if plan.observations:
        lines.append(f"Observations (from images or tools):\n{plan.observations}")
    return "\n\n".join(lines)


def mechanic_user_prompt(
    task: str, context: str, history: str, plan: Plan, tool_context: str, rules: SandboxRules
) -> str:
    parts = [history_section(history)]
    if context:
        parts.append(f"Context from the user:\n{clip(context)}\n\n")
    if tool_context:
        parts.append(f"Context gathered by the Scout:\n{clip(tool_context)}\n\n")
    parts.append(f"Task:\n{task}\n\nPlan:\n{plan_section(plan)}\n\n")
    parts.append(f"Where the program runs:\n{rules.describe()}")
    return "".join(parts)


def assistant_code_message(attempt: Attempt) -> str:
    """The previous attempt as the model's own turn, so a retry reads as a conversation."""
    text = f"```python\n{clip(attempt.code, MAX_CODE_IN_PROMPT)}\n```"
    return f"{text}\n{attempt.explanation}" if attempt.explanation else text


# ------------------------------------------------------------------------------------ Inspector

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "complete": {"type": "boolean"},
        "reason": {"type": "string"},
    },
    "required": ["complete", "reason"],
    "additionalProperties": False,
}

VERDICT_SYSTEM = """You are the Inspector of a coding agent. A program was written for a task \
and has run. Judge from its code and its actual output whether the task is fully done and the \
success criteria are met. Be strict about missing parts and wrong results, lenient about \
formatting. Reply with JSON: complete (true/false) and a short reason naming what is missing \
or wrong when incomplete."""


def verdict_user_prompt(plan: Plan | None, task: str, attempt: Attempt) -> str:
    criteria = plan.success_criteria if plan else []
    parts = [f"Task:\n{task}\n"]
    if criteria:
        parts.append("Success criteria:\n" + "\n".join(f"- {c}" for c in criteria) + "\n")
    parts.append(f"Program:\n```python\n{clip(attempt.code, MAX_CODE_IN_PROMPT)}\n```\n")
    parts.append(f"Its output:\n```\n{clip(attempt.stdout) or '(nothing printed)'}\n```\n")
    if attempt.images:
        parts.append(f"It produced {len(attempt.images)} image(s), attached.\n")
    if attempt.files:
        parts.append("It wrote files: " + ", ".join(sorted(attempt.files)) + "\n")
    if attempt.checks:
        passed = sum(1 for c in attempt.checks if c.passed)
        parts.append(f"Automatic checks: {passed}/{len(attempt.checks)} passed.\n")
    return "\n".join(parts)


# -------------------------------------------------------------------------------------- Iterate


def _error_block(attempt: Attempt) -> str:
    error = attempt.preflight_error or attempt.error
    if error is None:
        return ""
    return f"```\n{clip(error.traceback or str(error), 3000)}\n```\n"


def _output_block(attempt: Attempt) -> str:
    return f"Its output was:\n```\n{clip(attempt.stdout) or '(nothing printed)'}\n```\n"


def repair_prompt(attempt: Attempt, rules: SandboxRules, earlier: Sequence[str]) -> str:
    """The next Mechanic turn, aimed at how the last attempt failed."""
    failure = attempt.failure
    assert failure is not None, "only failed attempts are repaired"
    where = f" (line {failure.lineno})" if failure.lineno else ""
    kind = failure.kind
    if kind == "no_code":
        body = (
            "Your reply had no ```python fenced block, so nothing could run. Reply with the "
            "complete program in one ```python block."
        )
    elif kind == "syntax":
        body = (
            f"The program does not parse{where}: {failure.message}\n{_error_block(attempt)}"
            "Fix the syntax and return the whole program."
        )
    elif kind == "import":
        allowed = ", ".join(rules.allowed_modules) or "the standard library"
        body = (
            f"An import is not available in this sandbox{where}: {failure.message}\n"
            f"Only these modules can be imported: {allowed}.\n"
            "Rewrite the program with those modules (or plain Python) instead."
        )
    elif kind == "policy":
        body = (
            f"The sandbox refused a construct{where}: {failure.message}\n{_error_block(attempt)}"
            f"Rules of the sandbox:\n{rules.describe()}\nRewrite the program without it."
        )
    elif kind == "runtime":
        body = (
            f"The program raised {failure.message}{where}.\n{_error_block(attempt)}"
            f"{_output_block(attempt)}Fix the cause of the error, not just the symptom."
        )
    elif kind == "timeout":
        body = (
            f"The program was stopped after {rules.timeout_s:g} s without finishing. Use a "
            "faster algorithm: avoid brute force and nested loops over large ranges, use "
            "closed-form math, memoization, sieves or dynamic programming, and never sleep or wait."
        )
    elif kind == "memory":
        body = (
            f"The program exceeded the {rules.memory_mb} MB memory limit. Use less memory: "
            "stream with generators, avoid building huge lists or matrices, keep only what is needed."
        )
    elif kind == "output_limit":
        body = (
            f"The program printed more than the {rules.max_output_bytes} bytes allowed. Print only "
            "what the task asks for: totals, summaries, or the first and last few items."
        )
    elif kind == "processes":
        body = "The program started too many processes or threads. Do the work in one process."
    elif kind == "crash":
        body = (
            f"The sandbox process died while running the program: {failure.message}. Avoid "
            "deep recursion and very large allocations; write a simpler iterative version."
        )
    elif kind == "failed_check":
        failed = [c for c in attempt.checks if not c.passed]
        listing = "\n".join(f"- `{c.check}` -> {c.message}" for c in failed)
        body = (
            f"The program ran but these checks failed:\n{listing}\n{_output_block(attempt)}"
            "Fix the program so the checks pass (the checks themselves stay as they are)."
        )
    elif kind == "rejected":
        body = (
            "A human reviewer read this program before it ran and rejected it (it was not "
            f"run). Their note:\n{clip(failure.message, 3000)}\n"
            "Write a new program that does what the note asks."
        )
    else:  # incomplete
        body = (
            f"The program ran, but the reviewer judged the task not complete: {failure.message}\n"
            f"{_output_block(attempt)}Change the program so it does everything the task asks."
        )
    if attempt.reviewed == "edit" and kind != "rejected":
        body = (
            "(A human reviewer edited the program before it ran: the version above is theirs, "
            "keep their changes.)\n" + body
        )
    history = ""
    if earlier:
        history = "\nEarlier attempts failed with: " + "; ".join(earlier) + ". Avoid those too."
    return f"{body}{history}\nReply with the complete corrected program in one ```python block."
