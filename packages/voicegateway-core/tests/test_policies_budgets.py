"""Budgets: reserve at admission, refuse when spent, settle with the real cost, warn once."""

import logging
import os
from decimal import Decimal

import pytest

from voicegateway.config.schema import Config
from voicegateway.errors import VoiceGatewayError
from voicegateway.metering.records import Call, UsageRecord
from voicegateway.policies import BudgetExceeded, Budgets, SharedState


def config(budget: dict, **extra) -> Config:
    return Config.model_validate(
        {"default_project": "app", "projects": {"app": {"budget": budget}}, **extra}
    )


@pytest.fixture
def state(tmp_path):
    state = SharedState(tmp_path / "policies.sqlite")
    yield state
    state.close()


def run(step: Budgets, cost: str | None, *, provider="fake", session=None) -> Call:
    call = Call(modality="tts", provider=provider, model="m", project="app")
    call.session_id = session
    step.on_call_start(call)
    if cost is not None:
        record = UsageRecord.for_call(call)
        record.cost_usd = Decimal(cost)
        step.on_usage(call, record)
    step.on_call_end(call)
    return call


def test_block_refuses_once_spent_and_names_project_period_limit_spend(state):
    step = Budgets(config({"daily_usd": "0.05", "action": "block", "reserve_usd": "0.01"}), state)
    for _ in range(4):
        run(step, "0.01")
    run(step, "0.01")  # 0.04 spent + 0.01 estimate = 0.05: still fits
    with pytest.raises(BudgetExceeded) as caught:
        run(step, "0.01")
    error = caught.value
    assert isinstance(error, VoiceGatewayError)
    message = str(error)
    assert "'app'" in message and "daily" in message and "$0.05" in message
    assert "$0.0500" in message
    assert error.spend == Decimal("0.05") and error.limit == Decimal("0.05")


def test_reservations_of_calls_in_flight_count(state):
    step = Budgets(config({"daily_usd": "0.03", "action": "block", "reserve_usd": "0.01"}), state)
    calls = [Call(modality="stt", provider="fake", model="m", project="app") for _ in range(3)]
    for call in calls:
        step.on_call_start(call)
    with pytest.raises(BudgetExceeded):
        step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))
    step.on_call_end(calls[0])  # ended without cost: its reservation is released
    step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))


def test_settling_shrinks_the_reservation_and_adds_spend(state):
    step = Budgets(config({"monthly_usd": 1, "action": "block", "reserve_usd": "0.5"}), state)
    call = Call(modality="stt", provider="fake", model="m", project="app")
    step.on_call_start(call)
    record = UsageRecord.for_call(call)
    record.cost_usd = Decimal("0.2")
    step.on_usage(call, record)
    ((settled, held),) = [v for k, v in state.snapshot().items() if "month" in k]
    assert (settled, held) == (200_000_000, 300_000_000)
    step.on_call_end(call)
    ((settled, held),) = [v for k, v in state.snapshot().items() if "month" in k]
    assert (settled, held) == (200_000_000, 0)


def test_per_provider_and_per_session_limits(state):
    step = Budgets(
        config(
            {
                "per_session_usd": "0.02",
                "action": "block",
                "reserve_usd": "0.01",
                "providers": {"openai": {"daily_usd": "0.01"}},
            }
        ),
        state,
    )
    run(step, "0.01", provider="openai", session="s1")
    with pytest.raises(BudgetExceeded, match="openai"):
        run(step, "0.01", provider="openai", session="s2")
    run(step, "0.01", provider="fake", session="s1")
    with pytest.raises(BudgetExceeded, match="per-session"):
        run(step, "0.01", provider="fake", session="s1")
    run(step, "0.01", provider="fake", session="s3")


def test_warn_logs_once_per_threshold_and_never_refuses(state, caplog):
    step = Budgets(config({"daily_usd": "0.10", "action": "warn"}), state)
    with caplog.at_level(logging.WARNING, "voicegateway.policies"):
        for _ in range(15):
            run(step, "0.01")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert "80%" in warnings[0] and "100%" in warnings[1]
    assert sum(step.events.values()) == 2
    with state.transaction() as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 2


def test_exhausted_tells_the_resolution_step(state):
    step = Budgets(
        config({"daily_usd": "0.02", "action": "throttle", "throttle_to": ["fake/cheap"]}), state
    )
    assert step.exhausted("app") is None
    run(step, "0.01")
    assert step.exhausted("app") is None
    run(step, "0.01")
    reason = step.exhausted("app", "openai")
    assert reason and "daily" in reason and "throttle" in reason
    assert step.exhausted("other") is None


def test_a_project_without_budget_costs_nothing(state):
    step = Budgets(config({"daily_usd": 1, "action": "block"}), state)
    call = Call(modality="llm", provider="fake", model="m", project="nobudget")
    step.on_call_start(call)
    assert not state.path.exists() or not state.snapshot()


def test_rehydrates_spend_from_the_ledger_on_a_new_period(state):
    seen = []

    def ledger(project, provider, since):
        seen.append((project, provider))
        return Decimal("0.04")

    step = Budgets(config({"daily_usd": "0.05", "action": "block"}), state, rehydrate=ledger)
    run(step, "0.01")
    with pytest.raises(BudgetExceeded):
        run(step, "0.01")
    assert seen == [("app", None)]


def test_llm_estimate_uses_the_rate_card(state):
    class Rates:
        def cost(self, units):
            return Decimal(units["input_tokens"] + units["output_tokens"]) / 1000

    step = Budgets(
        config({"daily_usd": 100, "action": "block"}),
        state,
        rates=lambda *a: Rates(),
        max_output_tokens=1000,
    )
    call = Call(modality="llm", provider="fake", model="m", project="app")
    assert step.estimate(call, step._budget("app")) == Decimal(1)


def test_a_dead_process_reservation_is_released(state):
    step = Budgets(config({"daily_usd": "0.02", "action": "block", "reserve_usd": "0.01"}), state)
    step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))
    step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))
    with state.transaction() as con:  # pretend another process held them and died
        con.execute("UPDATE holds SET pid = ?", (2**22 + os.getpid(),))
    run(step, "0.01")


def test_voicegw_budgets_shows_limits_spend_remaining_projection(tmp_path, capsys):
    import json
    import textwrap
    from datetime import UTC, datetime

    from voicegateway.cli import main
    from voicegateway.cli.budgets import rows
    from voicegateway.ledger import Ledger, Spooler

    path = tmp_path / "voicegw.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            default_project: app
            storage: {{path: {tmp_path / "usage.duckdb"}}}
            projects:
              app:
                budget:
                  daily_usd: 10
                  monthly_usd: 100
                  per_session_usd: 1
                  action: block
                  providers: {{openai: {{daily_usd: 2}}}}
            """
        )
    )
    from voicegateway.config import load_config

    cfg = load_config(path, env={})
    spool = Spooler(cfg.storage.spool_dir)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for provider in ("openai", "fake"):
        spool.append(
            UsageRecord(
                "c", "llm", provider, "m", "app", ts=now.timestamp() - 60, cost_usd=Decimal("1.5")
            )
        )
    spool.close()
    with Ledger.from_config(cfg.storage).open():
        pass
    found = {(r["provider"], r["period"]): r for r in rows(cfg, now=now)}
    daily = found[("*", "daily")]
    assert daily["spend_usd"] == Decimal(3) and daily["remaining_usd"] == Decimal(7)
    assert daily["projected_usd"] == Decimal(6)  # half the day gone
    assert found[("openai", "daily")]["remaining_usd"] == Decimal("0.5")
    assert found[("*", "per-session")]["limit_usd"] == Decimal(1)
    assert main(["budgets", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "app" in out and "$10.0000" in out and "monthly" in out
    assert main(["budgets", "--config", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["project"] == "app"


def test_warn_and_throttle_budgets_rehydrate_too(state):
    step = Budgets(
        config({"daily_usd": "0.05", "action": "warn"}),
        state,
        rehydrate=lambda project, provider, since: Decimal("0.05"),
    )
    assert "daily" in step.exhausted("app")
