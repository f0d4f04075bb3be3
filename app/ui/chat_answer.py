"""The answer after a run's steps: the outcome, the output, the program, figures, the cost.

The program is always there when there is one -- the accepted code, or the best attempt's code
with the error it hit -- collapsed, with the chat's copy button and a ``program.py`` download,
so a visitor can check, copy and reuse what ran.
"""

from __future__ import annotations

import gradio as gr

from app.ui.chat_markup import HOST_KEY_REJECTED, KEY_REJECTED, fenced
from app.ui.media import download_dir, pngs_to_images
from executor import ExecutionResult


def _best_attempt_error(result: ExecutionResult) -> str:
    """The error of the attempt whose code is shown when nothing was accepted."""
    if not result.best_attempt or not 0 < result.best_attempt <= len(result.iterations):
        return ""
    attempt = result.iterations[result.best_attempt - 1]
    if attempt.preflight_error:
        return f"pre-flight: {attempt.preflight_error.type}: {attempt.preflight_error.message}"
    if attempt.error:
        return attempt.error.traceback.strip() or f"{attempt.error.type}: {attempt.error.message}"
    if attempt.limit_hit:
        return f"limit hit: {attempt.limit_hit}"
    if attempt.failure:
        return f"{attempt.failure.kind}: {attempt.failure.message}"
    return ""


def program_file(code: str, max_age_s: float = 7200) -> str:
    """Write ``code`` as ``program.py`` in a fresh download dir (old ones are swept)."""
    directory = download_dir("mistral-executor-programs", max_age_s)
    path = directory / "program.py"
    path.write_text(code if code.endswith("\n") else code + "\n", encoding="utf-8")
    return str(path)


def program_messages(result: ExecutionResult) -> list[gr.ChatMessage]:
    """The program behind the answer, collapsed, then a ``program.py`` download.

    The accepted code on success; otherwise the best attempt's code with the error it hit, so a
    visitor can see (and copy, and fix) what was tried. Code blocks carry the chat's copy button.
    """
    code = result.code or ""
    if not code.strip():
        return []
    if result.success:
        title = "🐍 The program (accepted)"
        body = fenced_program(code)
    else:
        which = f" #{result.best_attempt}" if result.best_attempt else ""
        title = f"🐍 The best attempt's program{which} (not accepted)"
        body = fenced_program(code)
        error = _best_attempt_error(result)
        if error:
            body += "\n\n**Its error**\n" + fenced(error)
    lines = len(code.splitlines())
    return [
        gr.ChatMessage(
            content=body,
            metadata={"title": title, "status": "done", "log": f"{lines} lines · program.py"},
        ),
        gr.ChatMessage(content={"path": program_file(code), "alt_text": "program.py"}),
    ]


def fenced_program(code: str) -> str:
    """The whole program (never clipped: it is what the visitor copies)."""
    fence = "````" if "```" in code else "```"
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def key_rejected(result: ExecutionResult | None) -> bool:
    """Whether the run ended because the model server refused the key."""
    if result is None:
        return False
    return any(
        e.status == "error" and e.payload.get("type") == "AuthenticationError" for e in result.trace
    )


def final_messages(
    result: ExecutionResult | None, *, stopped: bool = False, key_source: str = "session"
) -> list[gr.ChatMessage]:
    """The answer after the steps: output, explanation, the program, figures, and the cost."""
    if result is None:
        return [gr.ChatMessage(content="The run ended without a result (see the server log).")]
    rejected = key_rejected(result)
    if result.cancelled or stopped:
        head = "■ **Stopped.** The run was cancelled."
    elif result.success:
        head = "✅ **Done.**"
    elif rejected:
        head = KEY_REJECTED if key_source == "session" else HOST_KEY_REJECTED
    else:
        head = f"❌ **Not solved** ({result.stop_reason or 'failed'})."
    parts = [head]
    if result.final_output.strip():
        if result.code:
            label = (
                "Output"
                if result.success
                else f"Output of the best attempt (#{result.best_attempt})"
            )
            parts.append(f"**{label}**\n" + fenced(result.final_output))
        else:
            parts.append(result.final_output.strip())
    if result.explanation.strip() and result.code:
        parts.append(result.explanation.strip())
    if not result.success and not result.cancelled and result.errors and not rejected:
        parts.append("**What went wrong**\n" + "\n".join(f"- {e}" for e in result.errors[:6]))
    stats = [f"{result.total_attempts} attempt(s)", f"{result.total_duration_ms / 1000:.1f} s"]
    if result.usage.total_tokens:
        stats.append(f"{result.usage.total_tokens} tokens")
    if result.backend:
        why = f" ({result.backend_reason})" if result.backend_reason else ""
        stats.append(f"sandbox: {result.backend}{why}")
    if result.run_id:
        stats.append(f"run `{result.run_id[:12]}` (Traces tab)")
    parts.append("<sub>" + " · ".join(stats) + "</sub>")
    messages = [gr.ChatMessage(content="\n\n".join(parts))]
    messages += program_messages(result)
    for image in pngs_to_images(result.images):
        messages.append(gr.ChatMessage(content=gr.Image(value=image, type="pil", format="png")))
    return messages
