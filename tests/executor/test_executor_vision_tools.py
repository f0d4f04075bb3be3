"""An attached image reaches the vision model; tools run through the Scout's seam."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from executor import FunctionTool, SimpleToolProvider
from tests.executor.executor_script import (
    code_reply,
    last_user_text,
    new_executor,
    plan,
    scripted,
)
from tests.fake_mistral import reply, tool_call


@pytest.fixture(autouse=True)
def executor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MISTRAL_EXECUTOR_HOME", str(tmp_path / "home"))


def receipt_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (250, 250, 240)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_attached_image_goes_to_the_vision_model(fake_mistral, tmp_path):
    image = tmp_path / "receipt.png"
    image.write_bytes(receipt_png())
    model = scripted(
        fake_mistral,
        "items = [3.5, 2.25, 4.0]\nprint('total:', sum(items))",
        plan_=plan(observations="Receipt lines: bread 3.50, milk 2.25, eggs 4.00"),
    )
    with new_executor(models={"vision": "pixtral-large-latest"}) as ex:
        result = ex.execute("add up this receipt", images=[image])

    assert result.success and result.final_output == "total: 9.75\n"
    scout_request = model.seen["plan"][0]
    assert scout_request["model"] == "pixtral-large-latest"
    assert len(scout_request.images()) == 1
    assert scout_request.images()[0].startswith("data:image/png;base64,")
    # The coder cannot see images: it gets the Scout's observations instead.
    code_request = model.seen["code"][0]
    assert code_request.images() == [] and code_request["model"] == "codestral-latest"
    assert "bread 3.50, milk 2.25, eggs 4.00" in last_user_text(code_request)


def test_a_file_that_is_not_an_image_is_refused_before_the_run(fake_mistral, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("just text")
    with new_executor() as ex, pytest.raises(ValueError):
        ex.execute("read this", images=[not_image])
    assert fake_mistral.chat_requests == []


def test_tools_are_offered_called_and_their_results_reach_the_mechanic(fake_mistral):
    calls = []

    def exchange_rate(currency: str) -> dict:
        calls.append(currency)
        return {"currency": currency, "rate_to_usd": 1.0842}

    provider = SimpleToolProvider(
        [
            FunctionTool(
                name="exchange_rate",
                description="Today's exchange rate of a currency to USD.",
                parameters={
                    "type": "object",
                    "properties": {"currency": {"type": "string"}},
                    "required": ["currency"],
                },
                function=exchange_rate,
            )
        ]
    )
    model = scripted(fake_mistral, "print(round(100 * 1.0842, 2))")
    model.tools.extend(
        [reply(tool_calls=[tool_call("exchange_rate", {"currency": "EUR"})]), reply("READY")]
    )
    with new_executor(tool_provider=provider) as ex:
        result = ex.execute("convert 100 EUR to USD at today's rate")

    assert result.success and result.final_output == "108.42\n"
    assert calls == ["EUR"]
    first, second = model.seen["tools"]
    assert first["tools"][0]["function"]["name"] == "exchange_rate"
    # The second round carries the call and its result back to the model.
    assert second.messages[-2]["tool_calls"][0]["function"]["name"] == "exchange_rate"
    assert second.messages[-1]["role"] == "tool" and "1.0842" in second.messages[-1]["content"]
    assert "1.0842" in last_user_text(model.seen["code"][0])
    assert "1.0842" in last_user_text(model.seen["plan"][0])
    tool_events = [e for e in result.trace if e.step == "tool_call"]
    assert len(tool_events) == 1 and tool_events[0].payload["tool"] == "exchange_rate"


def test_the_plugins_tool_registry_plugs_into_the_seam(fake_mistral):
    import plugins.tools as tools
    from executor import ToolProvider

    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())

    registry = tools.ToolRegistry([tools.Tool.from_function(word_count)])
    assert isinstance(registry, ToolProvider)
    model = scripted(fake_mistral, "print(3)")
    model.tools.extend([reply(tool_calls=[tool_call("word_count", {"text": "a b c"})]), "READY"])
    with new_executor(tool_provider=registry) as ex:
        result = ex.execute("how many words are in 'a b c'?")
    assert result.success
    event = next(e for e in result.trace if e.step == "tool_call")
    assert event.status == "ok" and event.payload["result"] == "3"
    assert "[word_count]\n3" in last_user_text(model.seen["code"][0])


def test_a_failing_tool_is_reported_to_the_model_not_raised(fake_mistral):
    def broken() -> str:
        raise RuntimeError("service down")

    provider = SimpleToolProvider(
        [FunctionTool("lookup", "Look it up.", {"type": "object", "properties": {}}, broken)]
    )
    model = scripted(fake_mistral, code_reply("print('fallback')"))
    model.tools.extend([reply(tool_calls=[tool_call("lookup", {})])])
    with new_executor(tool_provider=provider) as ex:
        result = ex.execute("look it up")
    assert result.success
    event = next(e for e in result.trace if e.step == "tool_call")
    assert event.status == "failed" and "service down" in event.payload["result"]


def test_figures_the_code_draws_are_returned_and_shown_to_the_verdict(fake_mistral):
    model = scripted(
        fake_mistral,
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\n"
        "print('plotted')",
    )
    with new_executor(models={"vision": "pixtral-large-latest"}) as ex:
        result = ex.execute("plot the squares of 1..3")
    assert result.success and result.final_output == "plotted\n"
    assert len(result.images) == 1 and result.images[0].startswith(b"\x89PNG")
    judged = model.seen["verdict"][0]
    assert judged["model"] == "pixtral-large-latest" and len(judged.images()) == 1
    run_event = next(e for e in result.trace if e.step == "run" and e.status == "ok")
    assert len(run_event.payload["images"]) == 1  # the trace keeps the figure for the UI
