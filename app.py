"""Entry point for a Hugging Face Space (``app_file: app.py``) and for ``python app.py``.

Spaces run this file directly; it serves the same app as ``mistral-executor ui`` on the address a
Space expects. Locally, ``mistral-executor ui`` is the usual way in. (Importing ``app`` below gets the
``app/`` package, not this file: a package directory wins over a module of the same name.)
"""

import os

from app.ui import launch

if __name__ == "__main__":
    launch(
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
