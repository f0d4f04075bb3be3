"""The Vision tab: ask about an image, or OCR a document or photo to markdown.

Images attached in the Chat tab already reach the vision model inside the loop (the Scout plans
with them); this tab is the direct way in, without writing any code.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from app.ui import services
from app.ui.session import NO_KEY_MESSAGE, SessionSettings, resolve_credentials
from executor.mistral import MistralError, NotAnImageError, image_chunk, text_chunk

log = logging.getLogger(__name__)

VISION_CONCURRENCY = 4
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
DEFAULT_QUESTION = "Describe this image in detail."


def ask_image(
    image_path: str | None, question: str, settings: SessionSettings, api_key: str
) -> str:
    """Answer a question about one image with the session's vision model (markdown)."""
    if not image_path:
        return "Add an image first."
    credentials = resolve_credentials(api_key, settings)
    if not credentials.ready:
        return NO_KEY_MESSAGE
    question = (question or "").strip() or DEFAULT_QUESTION
    try:
        chunk = image_chunk(image_path)
    except (NotAnImageError, OSError) as exc:
        return f"**That file cannot be read as an image:** {exc}"
    messages = [{"role": "user", "content": [text_chunk(question), chunk]}]
    try:
        with services.mistral_client(credentials, settings) as client:
            reply = client.chat(messages, role="vision")
    except MistralError as exc:
        return f"**The vision model could not answer:** {exc}"
    answer = reply.content.strip() or "(the model returned an empty answer)"
    return f"{answer}\n\n<sub>model: {reply.model}</sub>" if reply.model else answer


def ocr_document(
    document_path: str | None, settings: SessionSettings, api_key: str
) -> tuple[str, str]:
    """OCR a PDF or an image; returns (rendered markdown, raw markdown)."""
    if not document_path:
        return "Add a PDF or an image first.", ""
    credentials = resolve_credentials(api_key, settings)
    if not credentials.ready:
        return NO_KEY_MESSAGE, ""
    path = Path(document_path)
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        return f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB.", ""
    try:
        with services.mistral_client(credentials, settings) as client:
            markdown = client.ocr(path)
    except MistralError as exc:
        return f"**OCR failed:** {exc}", ""
    except (ValueError, OSError) as exc:  # unreadable or unsupported file
        return f"**That file cannot be sent for OCR:** {exc}", ""
    markdown = markdown.strip()
    return (markdown or "_No text found._"), markdown


def build_vision_tab(settings_state: gr.State, api_key: gr.Textbox) -> None:
    """Lay out the tab and wire its events (inside an open ``gr.Tab``)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    gr.Markdown(
        "Ask the vision model about an image, or turn a document or a photo of one into "
        "markdown with OCR. (Images attached in the Chat tab reach the vision model too.)"
    )
    with gr.Tab("Ask about an image"):
        with gr.Row():
            with gr.Column():
                image = gr.Image(
                    type="filepath",
                    label="Image",
                    elem_id="vision-image",
                    sources=["upload", "clipboard"],
                )
                question = gr.Textbox(
                    label="Question", value=DEFAULT_QUESTION, lines=2, elem_id="vision-question"
                )
                ask = gr.Button("Ask", variant="primary", elem_id="vision-ask")
            answer = gr.Markdown(
                elem_id="vision-answer", container=True, label="Answer", show_label=True
            )
        gr.on(
            [ask.click, question.submit],
            ask_image,
            inputs=[image, question, settings_state, api_key],
            outputs=answer,
            concurrency_limit=VISION_CONCURRENCY,
            concurrency_id="vision",
            **private,
        )
    with gr.Tab("OCR to markdown"):
        with gr.Row():
            with gr.Column():
                document = gr.File(
                    label="PDF or image",
                    file_types=[".pdf", "image"],
                    type="filepath",
                    elem_id="ocr-file",
                )
                run_ocr = gr.Button("Extract text", variant="primary", elem_id="ocr-run")
            with gr.Column():
                rendered = gr.Markdown(elem_id="ocr-rendered", container=True)
                raw = gr.Code(
                    language="markdown",
                    label="Markdown source",
                    interactive=False,
                    elem_id="ocr-raw",
                )
        run_ocr.click(
            ocr_document,
            inputs=[document, settings_state, api_key],
            outputs=[rendered, raw],
            concurrency_limit=VISION_CONCURRENCY,
            concurrency_id="vision",
            **private,
        )
