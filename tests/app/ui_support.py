"""Shared by the UI tests: a scripted model on the fake Mistral server, and the app on a free port.

The model recognises the phase asking (as tests/executor/executor_script.py does) and picks the
Mechanic's program from words in the task, so one server can serve every scenario of a browser
session: a plain computation, a plot, a task the model is slow to answer (to be stopped).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.executor.executor_script import code_reply, kind_of, plan, verdict
from tests.fake_mistral import FakeMistral, RecordedRequest, reply

FAKE_KEY = "test-key"
SLOW_REPLY_S = 25.0
# The plot's code arrives a little late so a browser can watch the steps stream in.
PLOT_REPLY_DELAY_S = 1.5

FIBONACCI_CODE = """\
a, b = 0, 1
numbers = []
for _ in range(11):
    numbers.append(a)
    a, b = b, a + b
print("fibonacci:", numbers)
"""

PLOT_CODE = """\
import math
import matplotlib.pyplot as plt

xs = [i / 20 for i in range(126)]
plt.figure(figsize=(6, 3.5))
plt.plot(xs, [math.sin(x) for x in xs], label="sin(x)")
plt.plot(xs, [math.cos(x) for x in xs], label="cos(x)")
plt.legend()
plt.title("sin and cos")
print("plotted", len(xs), "points")
"""

BROKEN_CODE = "print('total:', totl)\n"
# What the "vision model" reads from a receipt in the UI tests.
RECEIPT_OBSERVATIONS = "Receipt from Café Lumière: 2 croissants 3.20, coffee 2.50; TOTAL 5.70 EUR."
RECEIPT_CODE = (
    "items = {'croissants': 3.20, 'coffee': 2.50}\nprint('total:', round(sum(items.values()), 2))\n"
)
FIXED_CODE = "total = sum(range(1, 11))\nprint('total:', total)\n"


def broken_code(number: int) -> str:
    """A program that fails with a different NameError each time (so Iterate keeps trying)."""
    return f"print('total:', totl{number})\n"


def _request_text(request: RecordedRequest) -> str:
    parts = []
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict)]
        elif isinstance(content, str):
            parts.append(content)
    return "\n".join(parts)


def current_task(request: RecordedRequest) -> str:
    """The task being worked on, as the Scout and Mechanic prompts quote it ("Task:" + newline);
    earlier turns of the conversation are quoted on one line, so they do not match."""
    found = re.search(r"Task:\n(.+?)(?:\n\n|$)", _request_text(request), re.S)
    return found.group(1).strip().lower() if found else ""


class UiModel:
    """The fake model's brain for the UI tests (installed with ``fake.on_chat``)."""

    def __init__(self) -> None:
        self.code_requests = 0
        # A task with "hold" in it waits here before the plan is answered, so a test can look at
        # the page while the model has not replied yet (instead of racing a clock).
        self.release = threading.Event()
        self.held = threading.Event()

    def __call__(self, request: RecordedRequest) -> Any:
        kind = kind_of(request)
        task = current_task(request)
        if kind == "tools":
            return reply("READY")
        if kind == "plan":
            if "hold" in task:
                self.held.set()
                self.release.wait(120)
            if "receipt" in task:
                return reply(json=plan(observations=RECEIPT_OBSERVATIONS))
            if "capital of france" in task:
                return reply(json=plan(needs_code=False, answer="Paris is the capital of France."))
            return reply(json=plan(criteria=["prints the result"]))
        if kind == "verdict":
            return reply(json=verdict(True, "the output answers the task"))
        self.code_requests += 1
        if "slowly" in task:
            return reply(code_reply(FIBONACCI_CODE), delay_s=SLOW_REPLY_S)
        if "plot" in task:
            return reply(code_reply(PLOT_CODE, "It draws both curves."), delay_s=PLOT_REPLY_DELAY_S)
        if "receipt" in task:
            return reply(code_reply(RECEIPT_CODE))
        if "never works" in task:  # every attempt fails, each differently: "Not solved"
            return reply(code_reply(broken_code(self.code_requests)))
        if "heal" in task:
            # The first attempt is broken; the retry's repair prompt quotes the NameError.
            retry = "NameError" in _request_text(request)
            return reply(code_reply(FIXED_CODE if retry else BROKEN_CODE))
        return reply(code_reply(FIBONACCI_CODE))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


@contextlib.contextmanager
def patched_env(**values: str | None) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def running_app(home: Path) -> Iterator[tuple[str, FakeMistral, UiModel]]:
    """The app served on a free localhost port against a fake Mistral that wants ``FAKE_KEY``.

    No key in the environment and private mode on: a visitor has to add a key in Settings, as on
    a fresh hosted deployment.
    """
    from app.ui import launch

    model = UiModel()
    with FakeMistral(api_key=FAKE_KEY) as fake:
        fake.on_chat(model)
        env = {
            "MISTRAL_SERVER_URL": fake.url,
            "MISTRAL_API_KEY": None,
            "MISTRAL_EXECUTOR_HOME": str(home),
            "MISTRAL_EXECUTOR_SANDBOX": "restricted",
            # As on a hosted Space: visitors bring their key, and see only their own runs.
            "MISTRAL_EXECUTOR_UI_PRIVATE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        with patched_env(**env):
            port = free_port()
            demo = launch("127.0.0.1", port, block=False, quiet=True)
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for_http(url + "/")
                yield url, fake, model
            finally:
                demo.close()
