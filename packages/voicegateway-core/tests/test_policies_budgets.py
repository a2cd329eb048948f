"""Budgets: admit from a lease, refuse only when spent (or unknowable), settle with the real cost,
warn once, never from the event loop."""

import logging
import os
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from voicegateway.config.schema import Config
from voicegateway.errors import VoiceGatewayError
from voicegateway.metering.middleware import Middleware, MiddlewareChain
from voicegateway.policies import BudgetExceeded, Budgets, BudgetUnknown, Policies, SharedState
from voicegateway.records import Call, UsageRecord


def config(budget: dict, **extra) -> Config:
    return Config.model_validate(
        {"default_project": "app", "projects": {"app": {"budget": budget}}, **extra}
    )


@pytest.fixture
def state(tmp_path):
    state = SharedState(tmp_path / "policies.sqlite")
    yield state
    state.close()


def run(step: Budgets, cost: str | None, *, provider="fake", session=None, sync=True) -> Call:
    call = Call(modality="tts", provider=provider, model="m", project="app")
    call.session_id = session
    step.on_call_start(call)
    if cost is not None:
        record = UsageRecord.for_call(call)
        record.cost_usd = Decimal(cost)
        step.on_usage(call, record)
    step.on_call_end(call)
    if sync:
        step.sync()
    return call


def spent(state: SharedState, period: str, provider=None) -> int:
    with state.transaction() as con:
        return state.spent(con, "app", provider, period)


def held(state: SharedState) -> int:
    with state.transaction() as con:
        return con.execute("SELECT coalesce(sum(amount), 0) FROM holds").fetchone()[0]


def test_block_refuses_only_once_spend_reaches_the_limit_in_full_precision(state):
    step = Budgets(config({"daily_usd": "0.05", "action": "block", "reserve_usd": "0.02"}), state)
    for _ in range(5):  # the last calls are admitted against what remains of the budget
        run(step, "0.01")
    with pytest.raises(BudgetExceeded) as caught:
        run(step, "0.01")
    error = caught.value
    assert isinstance(error, VoiceGatewayError)
    message = str(error)
    assert "'app'" in message and "daily" in message and "$0.05 " in message
    assert error.spend == Decimal("0.05") and error.limit == Decimal("0.05")
    day = datetime.now(UTC).date().isoformat()
    assert spent(state, f"day:{day}") == 50_000_000


def test_a_tiny_limit_is_named_exactly(state):
    step = Budgets(config({"daily_usd": "0.001", "action": "block"}), state)
    run(step, "0.001")
    with pytest.raises(BudgetExceeded, match=r"budget of \$0\.001 is used up"):
        run(step, "0.0001")


def test_reservations_of_calls_in_flight_count(state):
    step = Budgets(config({"daily_usd": "0.03", "action": "block", "reserve_usd": "0.01"}), state)
    calls = [Call(modality="stt", provider="fake", model="m", project="app") for _ in range(3)]
    for call in calls:
        step.on_call_start(call)
    with pytest.raises(BudgetExceeded):
        step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))
    step.on_call_end(calls[0])  # ended without cost: its reservation goes back to the lease
    step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))


def test_settled_spend_is_written_and_the_lease_shrinks(state):
    step = Budgets(config({"monthly_usd": 1, "action": "block", "reserve_usd": "0.5"}), state)
    call = Call(modality="stt", provider="fake", model="m", project="app")
    step.on_call_start(call)
    record = UsageRecord.for_call(call)
    record.cost_usd = Decimal("0.2")
    step.on_usage(call, record)
    step.sync()
    month = datetime.now(UTC).strftime("%Y-%m")
    assert spent(state, f"month:{month}") == 200_000_000
    assert held(state) >= 300_000_000  # the rest of the reservation and the lease
    step.on_call_end(call)
    step._releasing = True  # what exit does: unused leases go back
    step.sync()
    assert held(state) == 0 and spent(state, f"month:{month}") == 200_000_000


def test_a_record_is_counted_once_whoever_sees_it_first(state):
    step = Budgets(config({"daily_usd": 1, "action": "warn"}), state)
    call = run(step, "0.3", sync=False)
    record = UsageRecord.for_call(call)
    record.cost_usd = Decimal("0.3")
    step.on_usage(call, record)  # a second report of another record
    step.sync()
    day = datetime.now(UTC).date().isoformat()
    assert spent(state, f"day:{day}") == 600_000_000
    with state.transaction() as con:  # the ledger's ingest offers the same records again
        rows = con.execute("SELECT request_id, ts FROM settled").fetchall()
        again = [(rid, ts, "app", "fake", day, None, 300_000_000) for rid, ts in rows]
        assert state.settle(con, again) == []
    assert spent(state, f"day:{day}") == 600_000_000


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
    assert len(step.events) == 2
    other = Budgets(config({"daily_usd": "0.10", "action": "warn"}), SharedState(state.path))
    run(other, "0.01")  # another process past the same thresholds: recorded once, not again
    assert other.events == []
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


def test_a_project_without_budget_holds_nothing(state):
    step = Budgets(config({"daily_usd": 1, "action": "block"}), state)
    call = Call(modality="llm", provider="fake", model="m", project="nobudget")
    step.on_call_start(call)
    step.sync()
    assert held(state) == 0


def ledger_with_spend(tmp_path, cost: str) -> Config:
    """A config whose ledger already holds ``cost`` of today's spend (ingested for real)."""
    from voicegateway.ledger import Ledger, Spooler

    cfg = config(
        {"daily_usd": "0.05", "action": "block", "reserve_usd": "0.01"},
        storage={"path": str(tmp_path / "usage.duckdb")},
    )
    spool = Spooler(cfg.storage.spool_dir)
    spool.append(UsageRecord("c", "tts", "fake", "m", "app", cost_usd=Decimal(cost)))
    spool.close()
    with Ledger.from_config(cfg.storage).open():
        pass
    return cfg


def test_a_lost_state_fails_closed_until_the_ledger_seeds_it(tmp_path):
    from voicegateway.ledger import Ledger
    from voicegateway.policy_state import state_path

    cfg = ledger_with_spend(tmp_path, "0.03")
    state_path(cfg.storage).unlink()  # the policy state is lost; the ledger is not
    step = Budgets(cfg)
    with pytest.raises(BudgetUnknown, match="voicegw ingest"):
        run(step, "0.01")
    with Ledger.from_config(cfg.storage).open():  # any ingest seeds it
        pass
    run(step, "0.01")  # 0.03 from the ledger + 0.01
    run(step, "0.01")  # + 0.01: exactly the limit
    with pytest.raises(BudgetExceeded):
        run(step, "0.01")


def test_warn_and_throttle_carry_on_and_say_the_budget_is_not_enforced(tmp_path, caplog):
    from voicegateway.policy_state import state_path

    cfg = ledger_with_spend(tmp_path, "0.03")
    state_path(cfg.storage).unlink()
    cfg.projects["app"].budget.action = "warn"
    step = Budgets(cfg)
    step.sync()
    with caplog.at_level(logging.WARNING, "voicegateway.policies"):
        run(step, "0.01")
        run(step, "0.01")
    told = [r.getMessage() for r in caplog.records if "not being enforced" in r.getMessage()]
    assert len(told) == 1 and "voicegw ingest" in told[0]


def test_a_corrupt_state_names_its_file_and_refuses_block_only(tmp_path):
    path = tmp_path / "policies.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    step = Budgets(config({"daily_usd": 1, "action": "block"}), SharedState(path))
    with pytest.raises(BudgetUnknown) as caught:
        run(step, "0.01")
    assert str(path) in str(caught.value) and "voicegw ingest" in str(caught.value)
    assert not isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    warn = Budgets(config({"daily_usd": 1, "action": "warn"}), SharedState(path))
    run(warn, "0.01")  # never refuses


def test_llm_reservation_learns_the_model_output_and_keeps_a_ceiling(state):
    class Rates:
        def cost(self, units):
            return Decimal(units["input_tokens"] + units["output_tokens"]) / 1000

    step = Budgets(
        config({"daily_usd": 100, "action": "block", "max_reserve_output_tokens": 2000}),
        state,
        rates=lambda *a: Rates(),
    )
    budget = step._budget("app")
    call = Call(modality="llm", provider="fake", model="m", project="app")
    step._rate_cache[("fake", "m", "llm")] = Rates()
    assert step.estimate(call, budget) == 256 * 1_000_000  # the default before anything is known
    call.output_cap = 5000
    assert step.estimate(call, budget) == 2000 * 1_000_000  # the plugin's cap, under the ceiling
    call.output_cap = None
    for tokens in [40] * 19 + [90]:
        done = Call(modality="llm", provider="fake", model="m", project="app")
        step.on_call_start(done)
        record = UsageRecord.for_call(done)
        record.output_tokens, record.cost_usd = tokens, Decimal("0.001")
        step.on_usage(done, record)
        step.on_call_end(done)
    step.sync()
    assert step.estimate(call, budget) == 90 * 1_000_000  # the 95th percentile of recent calls


def test_a_dead_process_lease_is_released(state):
    step = Budgets(config({"daily_usd": "0.02", "action": "block", "reserve_usd": "0.01"}), state)
    step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))
    step.on_call_start(Call(modality="stt", provider="fake", model="m", project="app"))
    with state.transaction() as con:  # pretend another process held them and died
        con.execute("UPDATE holds SET pid = ?", (2**22 + os.getpid(),))
    other = Budgets(
        config({"daily_usd": "0.02", "action": "block", "reserve_usd": "0.01"}),
        SharedState(state.path),
    )
    run(other, "0.01")


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
    assert "app" in out and "limit ($)" in out and "10.0000" in out and "monthly" in out
    assert main(["budgets", "--config", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["project"] == "app"


def test_a_finished_conversation_leaves_no_lease_behind(state, monkeypatch):
    from voicegateway.policies import budgets as module

    step = Budgets(config({"per_session_usd": "1", "action": "block"}), state)
    for session in ("s1", "s2", "s3"):
        run(step, "0.01", session=session)
    with state.transaction() as con:
        assert con.execute("SELECT count(*) FROM holds").fetchone()[0] == 3  # one per session
    monkeypatch.setattr(module, "LEASE_IDLE_S", 0.0)
    monkeypatch.setattr(module, "FORGET_S", 0.0)
    step.sync()  # leases given back, then forgotten: a process serving many calls stays small
    with state.transaction() as con:
        assert con.execute("SELECT count(*) FROM holds").fetchone()[0] == 0
    assert not step._leases
    run(step, "0.01", session="s1")  # the session's spend is still counted
    with state.transaction() as con:
        assert state.spent(con, "app", None, "session:s1") == 20_000_000


def test_another_programs_database_is_never_written_into(tmp_path):
    import sqlite3 as sqlite

    path = tmp_path / "policies.sqlite"
    with sqlite.connect(path) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
    step = Budgets(config({"daily_usd": 1, "action": "block"}), SharedState(path))
    with pytest.raises(BudgetUnknown) as caught:
        run(step, "0.01")
    assert "not a VoiceGateway policy state" in str(caught.value) and str(path) in str(caught.value)
    with sqlite.connect(path) as con:
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master")}
        (journal,) = con.execute("PRAGMA journal_mode").fetchone()
    assert tables == {"invoices"} and journal == "delete"  # untouched


class _RefuseFirst(Middleware):
    """A plugin's step placed after the budgets: refuses the first ``n`` calls it sees."""

    name = "refuse_first"

    def __init__(self, n: int) -> None:
        self.left = n
        self.ended: list[str] = []

    def on_call_start(self, call: Call) -> None:
        if self.left:
            self.left -= 1
            raise PermissionError("this plugin refuses the call")

    def on_call_end(self, call: Call) -> None:
        self.ended.append(call.call_id)


def test_a_step_after_the_budget_that_refuses_unwinds_its_reservation(state):
    budgets = Budgets(
        config({"daily_usd": "0.03", "action": "block", "reserve_usd": "0.01"}), state
    )
    plugin_step = _RefuseFirst(5)
    chain = MiddlewareChain([budgets, plugin_step])
    for _ in range(5):  # each takes $0.01 from the lease, then the later step refuses the call
        refused = Call(modality="stt", provider="fake", model="m", project="app")
        with pytest.raises(PermissionError):
            chain.start(refused)
        assert refused.status == "refused" and refused.ended
    assert plugin_step.ended == []  # a step that refused was never entered: nothing to unwind
    admitted = [Call(modality="stt", provider="fake", model="m", project="app") for _ in range(3)]
    for call in admitted:  # the whole $0.03 is still there: no refusal kept a reservation
        chain.start(call)
    with pytest.raises(BudgetExceeded):
        chain.start(Call(modality="stt", provider="fake", model="m", project="app"))
    for call in admitted:
        chain.end(call)
    assert plugin_step.ended == [call.call_id for call in admitted]
    budgets._releasing = True  # what exit does: unused leases go back
    budgets.sync()
    assert held(state) == 0


def test_a_step_after_the_policies_that_refuses_unwinds_them_too(state):
    """The same through ``Policies`` nested in a chain, as the gateway places it: budgets and
    rate limits, then a plugin's step that refuses."""
    policies = Policies(
        config({"daily_usd": "0.02", "action": "block", "reserve_usd": "0.01"}), state
    )
    chain = MiddlewareChain([policies, _RefuseFirst(4)])
    for _ in range(4):
        with pytest.raises(PermissionError):
            chain.start(Call(modality="stt", provider="fake", model="m", project="app"))
    admitted = [Call(modality="stt", provider="fake", model="m", project="app") for _ in range(2)]
    for call in admitted:
        chain.start(call)
    with pytest.raises(BudgetExceeded):
        chain.start(Call(modality="stt", provider="fake", model="m", project="app"))
    for call in admitted:
        chain.end(call)
    policies.budgets._releasing = True
    policies.budgets.sync()
    assert held(state) == 0
