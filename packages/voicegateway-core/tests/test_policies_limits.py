"""Rate limits: GCRA request rates, units per minute, concurrent calls, reject and wait."""

import pytest

from voicegateway.config.schema import Config
from voicegateway.errors import VoiceGatewayError
from voicegateway.policies import RateLimited, RateLimits, SharedState
from voicegateway.records import Call, UsageRecord


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def state(tmp_path):
    state = SharedState(tmp_path / "policies.sqlite")
    yield state
    state.close()


def limits(state, clock, top=None, project=None) -> RateLimits:
    data = {"default_project": "app", "projects": {"app": {"rate_limits": project or {}}}}
    data["rate_limits"] = top or {}
    return RateLimits(Config.model_validate(data), state, clock=clock, sleep=clock.sleep)


def call(provider="openai") -> Call:
    return Call(modality="llm", provider=provider, model="m", project="app")


def test_five_per_second_is_evenly_spaced_and_rejects_with_retry_after(state):
    clock = Clock()
    step = limits(state, clock, top={"openai": {"requests": "5/s"}})
    step.on_call_start(call())
    with pytest.raises(RateLimited) as caught:
        step.on_call_start(call())
    assert isinstance(caught.value, VoiceGatewayError)
    assert caught.value.retry_after == pytest.approx(0.2)
    assert "5/s" in str(caught.value)
    admitted = 1
    for _ in range(100):
        clock.now += 0.01
        try:
            step.on_call_start(call())
            admitted += 1
        except RateLimited:
            pass
    assert admitted == 6  # 1 s: the first and one every 0.2 s
    step.on_call_start(call("deepgram"))  # another provider is not limited


def test_burst(state):
    clock = Clock()
    step = limits(state, clock, top={"*": {"requests": "2/s", "burst": 3}})
    for _ in range(3):
        step.on_call_start(call())
    with pytest.raises(RateLimited):
        step.on_call_start(call())


def test_wait_sleeps_up_to_max_wait(state):
    clock = Clock()
    step = limits(
        state, clock, project={"openai": {"requests": "10/s", "on_limit": "wait", "max_wait": 1}}
    )
    start = clock.now
    for _ in range(11):
        step.on_call_start(call())
    assert clock.now - start == pytest.approx(1.0)


def test_wait_gives_up_after_max_wait(state):
    clock = Clock()
    step = limits(
        state, clock, project={"openai": {"requests": "1/s", "on_limit": "wait", "max_wait": 0.5}}
    )
    step.on_call_start(call())
    with pytest.raises(RateLimited) as caught:
        step.on_call_start(call())
    assert caught.value.retry_after == pytest.approx(1.0)


def test_concurrent_calls(state):
    clock = Clock()
    step = limits(state, clock, top={"openai": {"concurrent": 2}})
    first, second = call(), call()
    step.on_call_start(first)
    step.on_call_start(second)
    with pytest.raises(RateLimited, match="concurrent"):
        step.on_call_start(call())
    step.on_call_end(first)
    step.on_call_start(call())


def test_tokens_per_minute_are_charged_from_records(state):
    clock = Clock()
    step = limits(state, clock, project={"*": {"tokens_per_minute": 1000}})
    c = call()
    step.on_call_start(c)
    record = UsageRecord.for_call(c)
    record.input_tokens, record.output_tokens = 1500, 500  # two minutes' worth
    step.on_usage(c, record)
    step.on_call_end(c)
    with pytest.raises(RateLimited) as caught:
        step.on_call_start(call())
    assert caught.value.retry_after == pytest.approx(60.0)
    clock.now += 60
    step.on_call_start(call())


def test_no_limits_no_state(state):
    step = limits(state, Clock())
    step.on_call_start(call())
    assert not state.path.exists()


def test_policies_step_a_rate_refusal_gives_the_budget_reservation_back(tmp_path):
    from decimal import Decimal

    from voicegateway.policies import BudgetExceeded, Policies

    config = Config.model_validate(
        {
            "default_project": "app",
            "storage": {"path": str(tmp_path / "usage.duckdb")},
            "projects": {
                "app": {
                    "budget": {"daily_usd": "0.02", "action": "block", "reserve_usd": "0.01"},
                    "rate_limits": {"openai": {"concurrent": 1}},
                }
            },
        }
    )
    step = Policies(config)
    first = call()
    step.on_call_start(first)
    for _ in range(3):  # refused for its rate: each gives its $0.01 reservation back
        with pytest.raises(RateLimited):
            step.on_call_start(call())
    record = UsageRecord.for_call(first)
    record.cost_usd = Decimal("0.01")
    step.on_usage(first, record)
    step.on_call_end(first)
    second = call()
    step.on_call_start(second)  # the last $0.01: still there
    with pytest.raises(BudgetExceeded):  # not RateLimited: the refused call holds no slot
        step.on_call_start(call())
    record = UsageRecord.for_call(second)
    record.cost_usd = Decimal("0.01")
    step.on_usage(second, record)
    step.on_call_end(second)
    step.budgets.sync()
    assert step.budgets.exhausted("app")


def test_cost_of_a_call_the_budget_did_not_admit_still_counts(tmp_path):
    from decimal import Decimal

    from voicegateway.policies import Budgets

    config = Config.model_validate(
        {
            "default_project": "app",
            "storage": {"path": str(tmp_path / "usage.duckdb")},
            "projects": {"app": {"budget": {"daily_usd": "0.05", "action": "warn"}}},
        }
    )
    step = Budgets(config)
    adhoc = call()  # e.g. a report that arrived after its call ended
    record = UsageRecord.for_call(adhoc)
    record.cost_usd = Decimal("0.05")
    step.on_usage(adhoc, record)
    step.sync()
    assert step.exhausted("app")
