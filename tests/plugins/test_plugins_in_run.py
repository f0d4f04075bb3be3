"""End to end: the pip-installed example plugin is listed by the CLI and called during a run.

The model is the fake Mistral server: offered the tools in the Scout's plan call, it calls the
example plugin's ``hello`` tool and the built-in ``web_search`` connector in one reply (run in
parallel), then plans, writes code that uses what the tools returned, and judges the result
complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from plugins import ConnectorContext, load_plugins
from sandbox import create_sandbox
from tests.fake_mistral import FakeMistral, RecordedRequest, reply, tool_call
from tests.fake_mistral.agents import web_search_reply
from tests.plugins.conftest import REPO, write_plugin

GREETING = "Hello, Ada! (from the hello plugin)"
OBSERVER = """
from plugins import hookimpl
PHASES = []

@hookimpl
def on_trace_event(event):
    PHASES.append((event.phase, event.step))
"""


def test_the_cli_lists_the_installed_example_plugin(hello_site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hello_site), str(REPO)])}
    env.pop("MISTRAL_EXECUTOR_LOAD_PLUGINS", None)
    env["MISTRAL_EXECUTOR_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (hello,) = [entry for entry in report["plugins"] if entry["name"] == "hello"]
    assert hello["source"] == "entry_point"
    assert hello["distribution"] == "mistral-executor-hello"
    assert hello["hooks"] == ["register_commands", "register_tools"]
    assert hello["tools"] == [
        {
            "name": "hello",
            "description": "Greet someone by name, the way this team likes greetings written.",
            "connector": None,
        }
    ]


class Model:
    """Answers by phase, recognised from the request the way the real API would differ."""

    def __init__(self) -> None:
        self.by_kind: dict[str, list[RecordedRequest]] = {
            "tools": [],
            "plan": [],
            "verdict": [],
            "code": [],
        }

    def __call__(self, request: RecordedRequest) -> Any:
        schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        kind = schema if schema in ("plan", "verdict") else "code"
        answered = any(m["role"] == "tool" for m in request.messages)
        if kind == "plan" and request.get("tools") and not answered:
            kind = "tools"  # the plan call offers the tools: the model calls two of them first
        self.by_kind[kind].append(request)
        if kind == "tools":
            return reply(
                tool_calls=[
                    tool_call("hello", {"name": "Ada", "excited": True}),
                    tool_call("web_search", {"query": "greeting etiquette"}),
                ]
            )
        if kind == "plan":
            return reply(
                json={
                    "needs_code": True,
                    "answer": "",
                    "summary": "print the greeting",
                    "steps": ["print the greeting the hello tool returned"],
                    "edge_cases": [],
                    "success_criteria": ["prints the greeting"],
                    "checks": [],
                    "observations": "",
                }
            )
        if kind == "verdict":
            return reply(json={"complete": True, "reason": "prints the greeting"})
        return reply(f"```python\nprint({GREETING!r})\n```")


def test_the_model_calls_the_plugin_tool_during_a_run(
    fake_mistral: FakeMistral, hello_installed: Path, tmp_path: Path, clean_plugin_env: Path
) -> None:
    from executor import Executor

    write_plugin(tmp_path / "observers", "watcher", OBSERVER)
    plugins = load_plugins(tmp_path / "observers")
    assert plugins.failures == []
    model = Model()
    fake_mistral.on_chat(model)
    fake_mistral.agents.queue(
        web_search_reply("Say hello warmly.", [("Etiquette", "https://example.org/e", "Be warm.")])
    )

    with (
        create_sandbox("restricted") as sandbox,
        Executor(
            sandbox=sandbox,
            plugins=plugins,  # the executor binds their tools to its own client and sandbox
            store=False,
            max_retries=0,
        ) as executor,
    ):
        result = executor.execute("Greet Ada the way our team does")

    assert result.success, result.errors
    assert result.final_output.strip() == GREETING

    offered = {tool["function"]["name"] for tool in model.by_kind["tools"][0]["tools"]}
    assert {"hello", "web_search", "search_documents"} <= offered
    # Tool calls, plan, code, verdict (no checks to decide): one call fewer than a tool round.
    assert [len(model.by_kind[k]) for k in ("tools", "plan", "code", "verdict")] == [1, 1, 1, 1]
    tool_messages = [m for m in model.by_kind["plan"][0].messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages][0] == GREETING
    assert "Say hello warmly." in tool_messages[1]["content"]
    assert GREETING in json.dumps(model.by_kind["code"][0].messages)  # reached the Mechanic

    calls = [event for event in result.trace if event.step == "tool_call"]
    by_tool = {event.payload["tool"]: event.payload for event in calls}
    assert by_tool["hello"]["plugin"] == "hello" and by_tool["hello"]["ok"] is True
    assert by_tool["web_search"]["served_by"] == "mistral"
    assert by_tool["web_search"]["reason"] == "Mistral web_search connector"

    watcher = plugins.pm.get_plugin("watcher")
    assert ("scout", "tool_call") in watcher.PHASES
    assert watcher.PHASES[-1][0] == "final"


def test_the_registry_satisfies_the_executors_tool_seam(clean_plugin_env: Path) -> None:
    from executor.tools_seam import ToolProvider

    registry = load_plugins(load=[]).tool_registry(ConnectorContext(home=clean_plugin_env))
    assert isinstance(registry, ToolProvider)
