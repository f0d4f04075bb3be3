"""Images a tool returns (e.g. a generated picture) reach the run's result, ahead of the figures
the program itself draws, including when the task needs no code at all."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from plugins import load_plugins
from sandbox import create_sandbox
from tests.fake_mistral import FakeMistral, RecordedRequest, reply, tool_call
from tests.plugins.conftest import write_plugin

DRAWER = """
import io
from PIL import Image
from plugins import ToolOutput, hookimpl

def draw_square(colour: str) -> ToolOutput:
    '''Draw a small square.

    Args:
        colour: its colour.
    '''
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return ToolOutput(text=f"drew a {colour} square", images=[buffer.getvalue()])

@hookimpl
def register_tools(register):
    register(draw_square)
"""


def _model(needs_code: bool):
    def answer(request: RecordedRequest) -> Any:
        schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        answered = any(m["role"] == "tool" for m in request.messages)
        if schema == "plan" and request.get("tools") and not answered:
            return reply(tool_calls=[tool_call("draw_square", {"colour": "red"})])
        if schema == "plan":
            return reply(
                json={
                    "needs_code": needs_code,
                    "answer": "" if needs_code else "Here is the square.",
                    "summary": "draw",
                    "steps": ["draw"],
                    "edge_cases": [],
                    "success_criteria": ["a square"],
                    "checks": [],
                    "observations": "",
                }
            )
        if schema == "verdict":
            return reply(json={"complete": True, "reason": "done"})
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('plotted')"
        return reply(f"```python\n{code}\n```")

    return answer


def _colour_of(png: bytes) -> tuple[int, ...]:
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))


def _run(fake: FakeMistral, plugins_dir: Path, needs_code: bool):
    from executor import Executor

    write_plugin(plugins_dir, "drawer", DRAWER)
    plugins = load_plugins(plugins_dir)
    assert plugins.failures == []
    fake.on_chat(_model(needs_code))
    with (
        create_sandbox("restricted") as sandbox,
        Executor(sandbox=sandbox, plugins=plugins, store=False, max_retries=0) as executor,
    ):
        return executor.execute("Draw a red square, then plot a line")


def test_tool_images_come_first_then_the_programs_figures(
    fake_mistral: FakeMistral, tmp_path: Path, clean_plugin_env: Path
) -> None:
    result = _run(fake_mistral, tmp_path / "plugins", needs_code=True)
    assert result.success, result.errors
    assert len(result.images) == 2
    assert _colour_of(result.images[0]) == (255, 0, 0)  # the tool's square
    assert result.images[1].startswith(b"\x89PNG")  # the program's figure


def test_tool_images_reach_an_answer_without_code(
    fake_mistral: FakeMistral, tmp_path: Path, clean_plugin_env: Path
) -> None:
    result = _run(fake_mistral, tmp_path / "plugins", needs_code=False)
    assert result.success and result.final_output == "Here is the square."
    assert [_colour_of(png) for png in result.images] == [(255, 0, 0)]
