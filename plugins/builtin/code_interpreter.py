"""Code interpreter: our local sandbox by default, Mistral's ``code_interpreter`` as an option.

The local sandbox is the default because it is the product's own, audited isolation and needs no
network. Mistral's hosted interpreter is used only when listed in
``MISTRAL_EXECUTOR_MISTRAL_CONNECTORS`` (and a key is set); if it fails, the sandbox answers.
"""

from __future__ import annotations

from typing import Any

from plugins import Connector, ConnectorContext, Tool, ToolOutput, hookimpl
from plugins.mistral_agents import run_connector
from sandbox import RunResult

INSTRUCTIONS = (
    "Run the Python code you are given with the code interpreter, exactly as written, and report "
    "its output verbatim."
)


class CodeInterpreter(Connector):
    name = "code_interpreter"
    description = "Run Python: the local sandbox, or Mistral's code_interpreter when enabled."
    mistral_tool = "code_interpreter"

    def tools(self, ctx: ConnectorContext) -> list[Tool]:
        def code_interpreter(code: str) -> ToolOutput:
            """Run a short Python program and return its printed output, errors and figures.

            Use it to check a fact or try an approach before planning; print what you need.

            Args:
                code: a complete Python program; print() the results you want to see.
            """
            return self.serve(ctx, code=code)

        return [Tool.from_function(code_interpreter, timeout_s=max(ctx.timeout_s, 30.0))]

    def primary(self, ctx: ConnectorContext, *, code: str) -> ToolOutput:
        prompt = f"Run this code:\n```python\n{code}\n```"
        reply = run_connector(ctx, {"type": "code_interpreter"}, prompt, INSTRUCTIONS)
        outputs = [
            str(run["info"].get("code_output", ""))
            for run in reply.executions
            if run["name"] == "code_interpreter" and run["info"].get("code_output")
        ]
        text = "\n".join(outputs) if outputs else reply.text
        return ToolOutput(text=f"output:\n{text}", data={"engine": "mistral code_interpreter"})

    def fallback(self, ctx: ConnectorContext, *, code: str) -> ToolOutput:
        with ctx.use_sandbox() as sandbox:
            result = sandbox.run(code)
        return ToolOutput(
            text=describe_run(result),
            ok=result.ok,
            images=list(result.images),
            files=dict(result.files),
            data={"engine": f"sandbox:{result.backend}"},
        )


def describe_run(result: RunResult) -> str:
    """A run as the model should read it: status, output, then the error precisely."""
    parts = ["status: " + ("ok" if result.ok else "failed")]
    if result.stdout:
        parts.append(f"stdout:\n{result.stdout.rstrip()}")
    if result.stderr:
        parts.append(f"stderr:\n{result.stderr.rstrip()}")
    if result.limit_hit:
        parts.append(f"limit hit: {result.limit_hit}")
    if result.error:
        parts.append(f"error: {result.error}")
    if result.images:
        parts.append(f"figures: {len(result.images)} image(s) produced")
    return "\n".join(parts)


@hookimpl
def register_connectors(register: Any) -> None:
    register(CodeInterpreter())
