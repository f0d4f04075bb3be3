"""An attached image reaches the vision model; tools run through the Scout's seam."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from executor import FunctionTool, SimpleToolProvider
from tests.executor.executor_script import (
    code_reply,
    kind_of,
    last_user_text,
    new_executor,
    plan,
    scripted,
)
from tests.fake_mistral import error, reply, tool_call


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


def exchange_rate_provider(calls: list[str]) -> SimpleToolProvider:
    def exchange_rate(currency: str) -> dict:
        calls.append(currency)
        return {"currency": currency, "rate_to_usd": 1.0842}

    return SimpleToolProvider(
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


CONVERTED = plan(checks=["assert '108.42' in program_output"], cover=True)


def test_tools_are_offered_in_the_plan_call_and_their_results_reach_the_mechanic(fake_mistral):
    calls: list[str] = []
    model = scripted(fake_mistral, "print(round(100 * 1.0842, 2))", plan_=CONVERTED)
    model.tools.append(reply(tool_calls=[tool_call("exchange_rate", {"currency": "EUR"})]))
    with new_executor(tool_provider=exchange_rate_provider(calls)) as ex:
        result = ex.execute("convert 100 EUR to USD at today's rate")

    assert result.success and result.final_output == "108.42\n"
    assert calls == ["EUR"]
    # The plan call offered the tool; the model called it instead of planning.
    (first,) = model.seen["tools"]
    assert first["tools"][0]["function"]["name"] == "exchange_rate"
    assert first["tool_choice"] == "auto"
    assert first["response_format"]["json_schema"]["name"] == "plan"
    # Asked again, the plan call carries the call and its result back to the model.
    (planned,) = model.seen["plan"]
    assert planned.messages[-2]["tool_calls"][0]["function"]["name"] == "exchange_rate"
    assert planned.messages[-1]["role"] == "tool" and "1.0842" in planned.messages[-1]["content"]
    assert "1.0842" in last_user_text(model.seen["code"][0])
    # Tool call, plan, code: the checks decided, so no verdict was asked for.
    assert len(fake_mistral.chat_requests) == 3 and result.usage.model_calls == 3
    tool_events = [e for e in result.trace if e.step == "tool_call"]
    assert len(tool_events) == 1 and tool_events[0].payload["tool"] == "exchange_rate"
    assert [e.step for e in result.trace if e.phase == "scout"][:3] == [
        "plan",
        "tools",
        "tool_call",
    ]


def test_tools_that_are_not_needed_cost_no_model_call(fake_mistral):
    """Offered in the plan call, unused tools add nothing: plan and code, the checks decide."""
    calls: list[str] = []
    model = scripted(fake_mistral, "print(round(100 * 1.0842, 2))", plan_=CONVERTED)
    with new_executor(tool_provider=exchange_rate_provider(calls)) as ex:
        result = ex.execute("multiply 100 by 1.0842")
    assert result.success and calls == []
    assert [kind_of(r) for r in fake_mistral.chat_requests] == ["plan", "code"]
    assert model.seen["plan"][0]["tools"][0]["function"]["name"] == "exchange_rate"
    assert not [e for e in result.trace if e.step in ("tools", "tool_call")]


def test_a_server_refusing_tools_with_a_schema_gets_a_tool_round_of_its_own(fake_mistral):
    calls: list[str] = []
    kinds: list[str] = []

    def model(request):
        offered = bool(request.get("tools"))
        kind = kind_of(request)
        kinds.append(f"{kind}+tools" if offered and kind == "plan" else kind)
        if offered and request.get("response_format"):
            return error(400, "tools cannot be combined with response_format")
        if kind == "tools":
            if any(m["role"] == "tool" for m in request.messages):
                return reply("READY")
            return reply(tool_calls=[tool_call("exchange_rate", {"currency": "EUR"})])
        if kind == "plan":
            return reply(json=CONVERTED)
        return reply(code_reply("print(round(100 * 1.0842, 2))"))

    fake_mistral.on_chat(model)
    with new_executor(tool_provider=exchange_rate_provider(calls)) as ex:
        first = ex.execute("convert 100 EUR to USD at today's rate")
        second = ex.execute("convert 100 EUR to USD at today's rate")
    assert first.success and second.success and calls == ["EUR", "EUR"]
    assert any("refused tools with the plan schema" in e for e in first.errors)
    assert "1.0842" in last_user_text(fake_mistral.chat_requests[-1])
    # Refused once, then the executor remembers: a tool round, then the plan, for every run.
    assert kinds == ["plan+tools", "tools", "tools", "plan", "code"] + [
        "tools",
        "tools",
        "plan",
        "code",
    ]


def test_the_plugins_tool_registry_plugs_into_the_seam(fake_mistral):
    import plugins.tools as tools
    from executor import ToolProvider

    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())

    registry = tools.ToolRegistry([tools.Tool.from_function(word_count)])
    assert isinstance(registry, ToolProvider)
    model = scripted(fake_mistral, "print(3)")
    model.tools.append(reply(tool_calls=[tool_call("word_count", {"text": "a b c"})]))
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
