"""Image generation: Mistral's ``image_generation`` connector, falling back to drawing with code.

The primary asks an agent with the connector for the image and downloads the generated file. The
fallback asks a model to write matplotlib/PIL code for the picture and renders it in the local
sandbox: it cannot paint a photo, but charts, diagrams and simple illustrations come out right, and
the code never runs outside the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

from plugins import Connector, ConnectorContext, Tool, ToolOutput, hookimpl
from plugins.mistral_agents import download_file, run_connector
from sandbox import Sandbox

INSTRUCTIONS = "Generate the image the user describes with the image generation tool."
DRAWING_PROMPT = (
    "Write a short Python program that draws this image:\n{prompt}\n\n"
    "Draw with matplotlib.pyplot: the open figure is captured automatically, so do not call "
    "plt.show(), plt.savefig() or matplotlib.use().{pil} Use no other files and no network. "
    "{modules}Reply with the program in one ```python block."
)
PIL_OPTION = " Or build it with PIL and save it as 'image.png'."
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)
MAX_DRAWING_ATTEMPTS = 2


class ImageGeneration(Connector):
    name = "image_generation"
    description = "Generate an image: Mistral image_generation, else model-written matplotlib/PIL."
    mistral_tool = "image_generation"

    def tools(self, ctx: ConnectorContext) -> list[Tool]:
        def generate_image(prompt: str) -> ToolOutput:
            """Create an image from a description; the image is attached to the result.

            Args:
                prompt: a precise description of the picture to create.
            """
            return self.serve(ctx, prompt=prompt)

        return [Tool.from_function(generate_image, timeout_s=max(ctx.timeout_s, 120.0))]

    def primary(self, ctx: ConnectorContext, *, prompt: str) -> ToolOutput:
        reply = run_connector(ctx, {"type": "image_generation"}, prompt, INSTRUCTIONS)
        images = [download_file(ctx, item["file_id"]) for item in reply.files]
        if not images:
            raise RuntimeError("the image_generation conversation returned no file")
        names = ", ".join(item["file_name"] or item["file_id"] for item in reply.files)
        return ToolOutput(
            text=f"Generated {len(images)} image(s) ({names}). {reply.text}".strip(),
            images=images,
            data={
                "engine": "mistral image_generation",
                "file_ids": [item["file_id"] for item in reply.files],
            },
        )

    def fallback(self, ctx: ConnectorContext, *, prompt: str) -> ToolOutput:
        if ctx.chat is None and not ctx.api_key:  # fail before paying for a sandbox
            raise RuntimeError(
                "no model available to write drawing code: no MISTRAL_API_KEY is set"
            )
        with ctx.use_sandbox() as sandbox:
            return self._draw(ctx, sandbox, prompt)

    def _draw(self, ctx: ConnectorContext, sandbox: Sandbox, prompt: str) -> ToolOutput:
        """Ask for drawing code, run it, and on failure ask once more with the exact error."""
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": drawing_prompt(prompt, sandbox)}
        ]
        problem = ""
        for _attempt in range(MAX_DRAWING_ATTEMPTS):
            answer = ctx.complete(messages)
            match = _CODE_BLOCK.search(answer)
            code = match.group(1) if match else answer
            result = sandbox.run(code)
            images = list(result.images) + [
                data
                for name, data in result.files.items()
                if name.lower().endswith((".png", ".jpg", ".jpeg"))
            ]
            if result.ok and images:
                return ToolOutput(
                    text=f"Drew {len(images)} image(s) with code in the local sandbox.",
                    images=images,
                    data={"engine": "model-written code", "code": code},
                )
            problem = str(result.error) if result.error else "the program produced no image"
            messages += [
                {"role": "assistant", "content": answer},
                {
                    "role": "user",
                    "content": f"That failed: {problem}. Fix it and reply with the "
                    "whole program in one ```python block.",
                },
            ]
        raise RuntimeError(f"the drawing code failed: {problem}")


def drawing_prompt(prompt: str, sandbox: Sandbox) -> str:
    """The code-writing request, fitted to what the sandbox allows (a policy may forbid PIL)."""
    allowed = sorted(sandbox.allowed_imports or ())
    pil = PIL_OPTION if not allowed or "PIL" in allowed else ""
    modules = f"Only these modules can be imported: {', '.join(allowed)}. " if allowed else ""
    return DRAWING_PROMPT.format(prompt=prompt, pil=pil, modules=modules)


@hookimpl
def register_connectors(register: Any) -> None:
    register(ImageGeneration())
