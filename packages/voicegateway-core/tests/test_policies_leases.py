"""``LeasedBudgets``: block budgets admitted from a local lease, the same bound as ``Budgets``."""

import logging
from decimal import Decimal

import pytest

from voicegateway.config.schema import Config
from voicegateway.metering.records import Call, UsageRecord
from voicegateway.policies import BudgetExceeded, SharedState
from voicegateway.policies.leases import LeasedBudgets


def config(budget: dict) -> Config:
    return Config.model_validate(
        {"default_project": "app", "projects": {"app": {"budget": budget}}}
    )


@pytest.fixture
def state(tmp_path):
    state = SharedState(tmp_path / "policies.sqlite")
    yield state
    state.close()


def run(step, cost: str | None) -> Call:
    call = Call(modality="tts", provider="fake", model="m", project="app")
    step.on_call_start(call)
    if cost is not None:
        record = UsageRecord.for_call(call)
        record.cost_usd = Decimal(cost)
        step.on_usage(call, record)
    step.on_call_end(call)
    return call


def held_and_settled(state) -> tuple[int, int]:
    ((settled, held),) = [v for k, v in state.snapshot().items() if "day:" in k]
    return settled, held


def test_admits_from_the_lease_and_refuses_at_the_limit(state):
    step = LeasedBudgets(
        config({"daily_usd": "0.10", "action": "block", "reserve_usd": "0.01"}), state, lease=0.5
    )
    for _ in range(10):
        run(step, "0.01")
    with pytest.raises(BudgetExceeded, match="daily"):
        run(step, "0.01")
    step.flush(release=True)
    assert held_and_settled(state) == (100_000_000, 0)


def test_another_process_sees_the_lease_as_held(state, tmp_path):
    cfg = config({"daily_usd": "0.10", "action": "block", "reserve_usd": "0.01"})
    one = LeasedBudgets(cfg, state, lease=1.0)
    run(one, "0.01")  # leases the whole room
    other = LeasedBudgets(cfg, SharedState(tmp_path / "policies.sqlite"), lease=1.0)
    with pytest.raises(BudgetExceeded):
        run(other, "0.01")
    one.flush(release=True)  # gives back the unassigned lease
    run(other, "0.01")


def test_settled_costs_reach_the_state_on_flush_and_warn_once(state, caplog):
    step = LeasedBudgets(
        config({"daily_usd": "0.10", "action": "block", "reserve_usd": "0.02"}),
        state,
        lease=0.2,
        flush_interval=3600,
    )
    with caplog.at_level(logging.WARNING, "voicegateway.policies"):
        for _ in range(9):
            run(step, "0.01")
        step.flush()
    settled, held = held_and_settled(state)
    assert settled == 90_000_000
    assert held >= 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "80%" in warnings[0]


def test_a_cost_above_the_estimate_comes_out_of_the_lease(state):
    step = LeasedBudgets(
        config({"daily_usd": "0.10", "action": "block", "reserve_usd": "0.01"}), state, lease=1.0
    )
    run(step, "0.05")
    step.flush(release=True)
    assert held_and_settled(state) == (50_000_000, 0)
    for _ in range(5):
        run(step, "0.01")
    with pytest.raises(BudgetExceeded):
        run(step, "0.01")


def test_warn_budgets_are_not_leased(state):
    step = LeasedBudgets(config({"daily_usd": "0.10", "action": "warn"}), state)
    run(step, "0.01")
    assert held_and_settled(state) == (10_000_000, 0)


def test_a_dead_process_lease_is_reclaimed(state, tmp_path):
    import os

    cfg = config({"daily_usd": "0.10", "action": "block", "reserve_usd": "0.01"})
    one = LeasedBudgets(cfg, state, lease=1.0)
    one.on_call_start(Call(modality="tts", provider="fake", model="m", project="app"))
    with state.transaction() as con:  # pretend its process was killed: another pid, gone
        con.execute("UPDATE holds SET pid = ?", (2**22 + os.getpid(),))
    other = LeasedBudgets(cfg, SharedState(tmp_path / "policies.sqlite"), lease=1.0)
    run(other, "0.01")
