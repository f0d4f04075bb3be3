"""What people touch: the Gradio UI and the ``mistral-executor`` CLI."""
