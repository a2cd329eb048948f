"""``voicegw budgets``: each project's budget limits, spend, what calls in flight hold, what is
left, and the spend projected to the end of the period at the current rate.

Spend and ``held`` (what calls in flight and processes' leases hold) are read from the policy
state (``<storage.path>.policies.sqlite``), the source of truth budgets enforce, after an ingest
that brings it in step with the ledger (or seeds it). When it cannot be trusted (not seeded,
unreadable) the command says why in one line and exits 2. The projection is ``spend / elapsed
fraction of the period`` (a day or a calendar month in storage.timezone).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from voicegateway.cli.output import add_format, heading, print_csv, print_json, table

EXAMPLES = ("voicegw budgets", "voicegw budgets --project acme --format json")


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "budgets",
        parents=[common],
        help="budget limits, spend, remaining and projection",
        description="Each project's budget: limits, spend this period, reservations of calls in "
        "flight, remaining, and the spend projected to the end of the period at the current rate.",
    )
    p.add_argument("--project", help="only this project")
    add_format(p)
    p.set_defaults(run=run)


def rows(config, now: datetime | None = None) -> list[dict[str, object]]:
    """One row per (project, provider or all, period) limit."""
    from voicegateway.ledger import Ledger
    from voicegateway.policy_state import PolicyStateError, SharedState, from_nano

    zone = ZoneInfo(config.storage.timezone)
    local = (now or datetime.now(UTC)).astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    periods = {
        "daily": (day, day + timedelta(days=1), f"day:{day:%Y-%m-%d}"),
        "monthly": (month, next_month, f"month:{month:%Y-%m}"),
    }
    wanted = [(name, project) for name, project in config.projects.items() if project.budget]
    if not wanted:
        return []
    with Ledger.from_config(config.storage).open():  # ingests: the state is in step after it
        pass
    state = SharedState.for_storage(config.storage)
    try:
        with state.transaction() as con:
            if state.meta(con, "seeded") is None:
                raise PolicyStateError(
                    state.path,
                    "not seeded from the ledger yet (another process holds the ledger?); run "
                    "`voicegw ingest` and try again",
                )
            state.reap(con)
            held = dict(con.execute("SELECT key, sum(amount) FROM holds GROUP BY key"))
            spend = {
                (name, provider, period): from_nano(state.spent(con, name, provider, suffix))
                for name, project in wanted
                for provider in [None, *project.budget.providers]
                for period, (_, _, suffix) in periods.items()
            }
    finally:
        state.close()
    out = []
    for name, project in wanted:
        budget = project.budget
        blocks = [(None, budget), *budget.providers.items()]
        for provider, limits in blocks:
            for period, (start, end, suffix) in periods.items():
                limit = getattr(limits, f"{period}_usd")
                if limit is None:
                    continue
                spent = spend.get((name, provider, period), Decimal(0))
                elapsed = (local - start) / (end - start)
                projected = spent / Decimal(str(max(elapsed, 1e-6)))
                hold = from_nano(held.get(f"{name}|{provider or '*'}|{suffix}", 0))
                out.append(
                    {
                        "project": name,
                        "provider": provider or "*",
                        "period": period,
                        "limit_usd": limit,
                        "spend_usd": spent,
                        "held_usd": hold,
                        "remaining_usd": max(limit - spent - hold, Decimal(0)),
                        "projected_usd": projected.quantize(Decimal("0.0001")),
                        "action": budget.action,
                    }
                )
            if limits.per_session_usd is not None:
                out.append(
                    {
                        "project": name,
                        "provider": provider or "*",
                        "period": "per-session",
                        "limit_usd": limits.per_session_usd,
                        "spend_usd": None,
                        "held_usd": None,
                        "remaining_usd": None,
                        "projected_usd": None,
                        "action": budget.action,
                    }
                )
    return out


def run(args) -> int:
    from voicegateway.cli import load_config

    config = load_config(args)
    found = [row for row in rows(config) if args.project in (None, row["project"])]
    if args.format == "json":
        print_json(found)
        return 0
    if args.format == "csv":
        print_csv(list(found[0]) if found else [], found)
        return 0
    if not found:
        print("no project has a budget: add projects.<name>.budget to voicegw.yaml")
        return 0
    columns = ("project", "provider", "period", "limit_usd", "spend_usd", "held_usd")
    headers = [heading(n) for n in (*columns, "remaining_usd", "projected_usd", "action")]

    def money(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    print(
        table(
            headers,
            [
                [
                    row["project"],
                    row["provider"],
                    row["period"],
                    money(row["limit_usd"]),
                    money(row["spend_usd"]),
                    money(row["held_usd"]),
                    money(row["remaining_usd"]),
                    money(row["projected_usd"]),
                    row["action"],
                ]
                for row in found
            ],
        )
    )
    return 0
