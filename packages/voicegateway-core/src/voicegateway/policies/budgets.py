"""Budgets: ``projects.<p>.budget`` enforced at admission and settled with the real cost.

One middleware step, :class:`Budgets`, placed after ``CostTracking``:

- ``on_call_start``: for a ``block`` budget, in one transaction on the shared state, every limit
  the call falls under (the project's daily, monthly and per-session limits, and the same for its
  provider under ``budget.providers``) must have room for the settled spend, the reservations of
  calls in flight and this call's worst-case estimate; the estimate is then reserved. Otherwise
  :class:`BudgetExceeded`. So N processes racing one budget never admit more than it allows, and
  the overshoot is at most what admitted calls cost beyond their estimates.
- ``on_usage``: the record's cost (priced by ``CostTracking``) is added to each limit's settled
  spend and taken off the call's reservation; crossing a threshold logs one warning (whichever
  process crosses it) and records a budget event.
- ``on_call_end``: what is left of the reservation is released.

Estimates (:meth:`Budgets.estimate`): an LLM call on a priced model is its prompt (estimated from
the chat context) plus ``max_output_tokens`` output tokens at the model's rates; any other call is
``budget.reserve_usd`` (default $0.01).

``warn`` and ``throttle`` budgets reserve nothing: they only settle and report. A throttled project
is served by ``budget.throttle_to``; the resolution step asks :meth:`Budgets.exhausted`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from voicegateway.metering.estimate import prompt_tokens
from voicegateway.metering.middleware import Middleware
from voicegateway.metering.records import Call, UsageRecord
from voicegateway.policies.errors import BudgetExceeded
from voicegateway.policies.state import SharedState, from_nano, to_nano

log = logging.getLogger("voicegateway.policies")

Rehydrate = Callable[[str, "str | None", float], Decimal]
"""(project, provider or None, since epoch seconds) -> the spend the ledger already holds."""


@dataclass(slots=True, frozen=True)
class Scope:
    """One limit a call falls under."""

    key: str
    limit: int  # nano-dollars
    period: str  # "daily (2026-11-25)"
    since: float | None  # start of the period (epoch seconds), None for a session


@dataclass(slots=True)
class _Admitted:
    scopes: tuple[Scope, ...]
    holds: tuple[str, ...]
    thresholds: tuple[float, ...]
    action: str


class Budgets(Middleware):
    """The budget step. ``config`` is the loaded voicegw.yaml or a function returning it;
    ``state`` defaults to ``SharedState.for_storage(config.storage)``; ``rates(provider, model,
    modality)`` returns ``pricing.Rates`` for LLM estimates (optional); ``rehydrate`` reloads a
    period's spend from the ledger the first time the state sees that period (default: the
    ledger at ``storage.path`` if it exists)."""

    name = "budgets"

    def __init__(
        self,
        config: Any,
        state: SharedState | None = None,
        *,
        rates: Callable[[str, str, str], Any] | None = None,
        rehydrate: Rehydrate | bool | None = True,
        max_output_tokens: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config if callable(config) else (lambda: config)
        self._state = state
        self._rates = rates
        self._rehydrate = rehydrate
        self.max_output_tokens = max_output_tokens
        self._clock = clock
        self._calls: dict[str, _Admitted] = {}
        self._plans: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.events: Counter[tuple[str, str, float]] = Counter()
        """Threshold crossings seen by this process: (project, period, threshold) -> count."""

    @property
    def state(self) -> SharedState:
        if self._state is None:
            self._state = SharedState.for_storage(self._config().storage)
        return self._state

    # -- the chain -------------------------------------------------------------------------------

    def on_call_start(self, call: Call) -> None:
        budget = self._budget(call.project)
        if budget is None:
            return
        scopes = self._scopes(call, budget)
        if not scopes:
            return
        for scope in scopes:  # read the ledger before any transaction: it may take a while
            if scope.since is not None:
                self._ensure_rehydrated(call.project, scope)
        holds: tuple[str, ...] = ()
        if budget.action == "block":
            holds = self._admit(call, scopes, to_nano(self.estimate(call, budget)))
        self._calls[call.call_id] = _Admitted(
            scopes, holds, tuple(budget.thresholds), budget.action
        )

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        if not record.cost_usd:
            return
        admitted = self._calls.get(call.call_id)
        if admitted is None:  # a call this step did not admit (refused, or started elsewhere):
            budget = self._budget(call.project)  # what it cost still counts
            if budget is None:
                return
            scopes = tuple(self._scopes(call, budget))
            admitted = _Admitted(scopes, (), tuple(budget.thresholds), budget.action)
        amount = to_nano(record.cost_usd)
        crossed = []
        with self.state.transaction() as con:
            holds = admitted.holds or (None,) * len(admitted.scopes)
            for scope, hold in zip(admitted.scopes, holds, strict=True):
                total = self.state.add_spend(con, scope.key, amount)
                if hold is not None:
                    self.state.shrink_hold(con, hold, amount)
                crossed += self._crossings(con, call.project, scope, total, amount, admitted)
        self._warn(call.project, crossed, admitted.action)

    def _crossings(self, con, project: str, scope: Scope, total: int, amount: int, admitted):
        """The thresholds ``amount`` took ``scope``'s spend across (now ``total``), recorded."""
        crossed = []
        for threshold in admitted.thresholds:
            mark = scope.limit * threshold
            if total - amount < mark <= total:
                crossed.append((scope, threshold, total))
                con.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        self._clock(),
                        project,
                        scope.period,
                        threshold,
                        total,
                        scope.limit,
                        admitted.action,
                    ),
                )
        return crossed

    def _warn(self, project: str, crossed, action: str) -> None:
        for scope, threshold, total in crossed:
            self.events[(project, scope.period, threshold)] += 1
            log.warning(
                "budget: project %r has spent $%.4f of its %s limit of $%.2f (%d%%); action %s",
                project,
                from_nano(total),
                scope.period,
                from_nano(scope.limit),
                round(threshold * 100),
                action,
            )

    def on_call_end(self, call: Call) -> None:
        admitted = self._calls.pop(call.call_id, None)
        if admitted is not None and admitted.holds:
            with self.state.transaction() as con:
                self.state.release(con, list(admitted.holds))

    # -- questions -------------------------------------------------------------------------------

    def estimate(self, call: Call, budget: Any) -> Decimal:
        """The most the call is assumed to cost, reserved at admission."""
        if call.modality == "llm" and self._rates is not None:
            try:
                rates = self._rates(call.provider, call.model, call.modality)
                units = {
                    "input_tokens": prompt_tokens(call.chat_ctx),
                    "output_tokens": self.max_output_tokens,
                }
                cost = rates.cost(units)
            except Exception:  # an unpriced model: fall back to the flat reservation
                log.debug("no LLM estimate for %s/%s", call.provider, call.model, exc_info=True)
                cost = None
            if cost:
                return cost
        return budget.reserve_usd

    def exhausted(self, project: str, provider: str | None = None) -> str | None:
        """Why new calls of ``project`` (on ``provider``) must not go to it, or None.

        A ``block`` budget is exhausted when its spend plus reservations reach a limit; a
        ``throttle`` or ``warn`` budget when spend reaches its last threshold. For the resolution
        step: a throttled project then uses ``budget.throttle_to``.
        """
        budget = self._budget(project)
        if budget is None:
            return None
        call = Call(modality="llm", provider=provider or "*", model="", project=project)
        scopes = [
            scope
            for scope in self._scopes(call, budget, provider_scopes=provider is not None)
            if scope.since is not None
        ]
        fraction = 1.0 if budget.action == "block" else budget.thresholds[-1]
        for scope in scopes:
            self._ensure_rehydrated(project, scope)
        with self.state.transaction() as con:
            self.state.reap(con, force=False)
            for scope in scopes:
                spent = self._settled(con, project, scope) + self.state.held(con, scope.key)
                if spent >= scope.limit * fraction:
                    return (
                        f"project {project!r}: {scope.period} budget ${from_nano(scope.limit):.2f} "
                        f"{'spent' if fraction >= 1 else f'at {fraction:.0%}'} "
                        f"(${from_nano(spent):.4f}); action {budget.action}"
                    )
        return None

    # -- inside ----------------------------------------------------------------------------------

    def _budget(self, project: str) -> Any:
        try:
            return self._plans[project]
        except KeyError:
            pass
        try:
            budget = self._config().project(project).budget
        except ValueError:  # an unknown project: resolution reports it, not us
            budget = None
        self._plans[project] = budget
        return budget

    def _scopes(self, call: Call, budget: Any, *, provider_scopes: bool = True) -> list[Scope]:
        zone = self._zone()
        now = datetime.fromtimestamp(self._clock(), zone)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        blocks = [("*", budget)]
        if provider_scopes and call.provider in budget.providers:
            blocks.append((call.provider, budget.providers[call.provider]))
        scopes = []
        for who, limits in blocks:
            base = f"{call.project}|{who}|"
            if limits.daily_usd is not None:
                label = f"daily ({day:%Y-%m-%d})" + ("" if who == "*" else f" {who}")
                scopes.append(
                    Scope(
                        f"{base}day:{day:%Y-%m-%d}",
                        to_nano(limits.daily_usd),
                        label,
                        day.timestamp(),
                    )
                )
            if limits.monthly_usd is not None:
                label = f"monthly ({month:%Y-%m})" + ("" if who == "*" else f" {who}")
                scopes.append(
                    Scope(
                        f"{base}month:{month:%Y-%m}",
                        to_nano(limits.monthly_usd),
                        label,
                        month.timestamp(),
                    )
                )
            if limits.per_session_usd is not None and call.session_id:
                label = f"per-session ({call.session_id})" + ("" if who == "*" else f" {who}")
                scopes.append(
                    Scope(
                        f"{base}session:{call.session_id}",
                        to_nano(limits.per_session_usd),
                        label,
                        None,
                    )
                )
        return scopes

    def _zone(self) -> ZoneInfo:
        zone = self._plans.get("\0zone")
        if zone is None:
            zone = self._plans["\0zone"] = ZoneInfo(self._config().storage.timezone)
        return zone

    def _admit(self, call: Call, scopes: list[Scope], estimate: int) -> tuple[str, ...]:
        holds = tuple(f"{call.call_id}:{i}" for i in range(len(scopes)))
        with self.state.transaction() as con:
            self.state.reap(con, force=False)
            for attempt in (0, 1):
                over = None
                for scope in scopes:
                    spent = self._settled(con, call.project, scope) + self.state.held(
                        con, scope.key
                    )
                    if spent + estimate > scope.limit:
                        over = (scope, spent)
                        break
                if over is None:
                    break
                if attempt == 0 and self.state.reap(con):  # a dead process held some: retry
                    continue
                scope, spent = over
                raise BudgetExceeded(
                    call.project,
                    scope.period,
                    from_nano(scope.limit),
                    from_nano(spent),
                    from_nano(estimate),
                )
            for hold, scope in zip(holds, scopes, strict=True):
                self.state.hold(con, hold, scope.key, estimate)
        return holds

    def _settled(self, con, project: str, scope: Scope) -> int:
        settled = self.state.settled(con, scope.key)
        return 0 if settled is None else settled

    _rehydrated: set[str]

    def _ensure_rehydrated(self, project: str, scope: Scope) -> None:
        seen = self.__dict__.setdefault("_rehydrated", set())
        if scope.key in seen:
            return
        seen.add(scope.key)
        with self.state.transaction() as con:
            if self.state.settled(con, scope.key) is not None:
                return
        provider = scope.key.split("|")[1]
        amount = self._ledger_spend(project, None if provider == "*" else provider, scope.since)
        with self.state.transaction() as con:
            self.state.init_spend(con, scope.key, to_nano(amount))

    def _ledger_spend(self, project: str, provider: str | None, since: float) -> Decimal:
        if self._rehydrate is False or self._rehydrate is None:
            return Decimal(0)
        if callable(self._rehydrate):
            return self._rehydrate(project, provider, since)
        return ledger_spend(self._config().storage, project, provider, since)


def ledger_spend(storage: Any, project: str, provider: str | None, since: float) -> Decimal:
    """What the ledger records ``project`` (on ``provider``) spent since ``since``; 0 when there
    is no ledger yet. Opens the ledger (ingesting pending spool files first)."""
    if not storage.path.exists():
        return Decimal(0)
    from datetime import UTC

    from voicegateway.ledger import Ledger

    sql = "SELECT sum(cost_usd) FROM usage WHERE project = ? AND ts >= ?"
    params: list[object] = [project, datetime.fromtimestamp(since, UTC)]
    if provider is not None:
        sql += " AND provider = ?"
        params.append(provider)
    try:
        with Ledger.from_config(storage).open() as con:
            (total,) = con.execute(sql, params).fetchone()
    except Exception:
        log.warning("budget: could not read past spend from the ledger", exc_info=True)
        return Decimal(0)
    return total or Decimal(0)
