"""Token counting per call and per run, and cost estimates."""

from __future__ import annotations

import pytest

from executor.mistral import MistralClient, Usage, UsageTracker
from executor.mistral.usage import estimate_cost, price_for
from tests.fake_mistral import reply

USER = [{"role": "user", "content": "hi"}]


def test_each_reply_carries_its_usage_and_cost(fake_mistral):
    fake_mistral.queue(reply("x", usage={"prompt_tokens": 1_000_000, "completion_tokens": 500_000}))
    usage = MistralClient().chat(USER, model="mistral-small-latest").usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        1_000_000,
        500_000,
        1_500_000,
    )
    in_price, out_price = price_for("mistral-small-latest")
    assert usage.cost_usd == pytest.approx(in_price + out_price / 2)
    assert usage.priced


def test_client_totals_and_per_run_child_trackers(fake_mistral):
    client = MistralClient()
    fake_mistral.queue(
        reply("a", usage={"prompt_tokens": 10, "completion_tokens": 5}),
        reply("b", usage={"prompt_tokens": 20, "completion_tokens": 7}),
        reply("c", usage={"prompt_tokens": 1, "completion_tokens": 1}),
    )
    run = client.with_usage()
    run.chat(USER, model="codestral-latest")
    run.chat(USER, model="mistral-large-latest")
    client.chat(USER, model="codestral-latest")  # outside the run

    per_run = run.usage.snapshot()
    assert (per_run.calls, per_run.prompt_tokens, per_run.completion_tokens) == (2, 30, 12)
    assert set(per_run.by_model) == {"codestral-latest", "mistral-large-latest"}
    total = client.usage.snapshot()
    assert (total.calls, total.total_tokens) == (3, 44)
    assert total.by_model["codestral-latest"].calls == 2
    assert total.cost_usd > per_run.cost_usd > 0
    assert total.to_dict()["by_model"]["codestral-latest"]["prompt_tokens"] == 11


def test_streamed_calls_are_counted(fake_mistral):
    fake_mistral.queue(reply("one two", usage={"prompt_tokens": 3, "completion_tokens": 2}))
    client = MistralClient()
    list(client.stream(USER, model="mistral-small-latest"))
    assert client.usage.total_tokens == 5


def test_unknown_models_are_counted_but_unpriced():
    tracker = UsageTracker()
    usage = Usage.for_model("my-local-llama", 100, 50)
    assert (usage.cost_usd, usage.priced) == (0.0, False)
    tracker.record("my-local-llama", usage)
    snapshot = tracker.snapshot()
    assert (snapshot.total_tokens, snapshot.unpriced_calls) == (150, 1)


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("mistral-large-2411", "mistral-large"),
        ("codestral-latest", "codestral"),
        ("codestral-embed", "codestral-embed"),
        ("ft:open-mistral-nemo:abc:123", "open-mistral-nemo"),
        ("devstral-small-2507", "devstral-small"),
    ],
)
def test_prices_follow_the_model_family(model, family):
    from executor.mistral.usage import PRICES_PER_MILLION

    assert price_for(model) == PRICES_PER_MILLION[family]
    assert estimate_cost(model, 0, 0) == 0
