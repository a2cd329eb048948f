"""``LeasedBudgets``: ``block`` budgets admitted from a local lease, with no transaction per call.

A process takes a slice of a limit's remaining room (``lease`` times the room, at least one
call's estimate) from the shared state in one transaction, as one hold of its own per limit, and
admits calls locally from it: a dict check per limit. Per limit and process the invariant is

    lease hold in the shared state = unassigned lease + estimates still held by calls in flight
                                     + cost settled locally but not yet written

so every other process still sees the whole slice as held, and the overshoot bound of
:class:`~voicegateway.policies.budgets.Budgets` is unchanged. Settled costs are written (and the
hold reduced by as much) at the next refill, at least every ``flush_interval`` seconds, and at
exit. A killed process's lease is reaped like any hold; what it had settled but not yet written
(at most ``flush_interval`` of its spend) is then missing from the shared state until the next
period's rehydration from the ledger. The price of the lease: near a limit, another process's
unassigned lease can refuse a call that the budget as a whole would still fit (it returns on
flush when the process is idle).
"""

from __future__ import annotations

import atexit
import contextlib
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from voicegateway.metering.records import Call, UsageRecord, new_id
from voicegateway.policies.budgets import Budgets, Scope
from voicegateway.policies.errors import BudgetExceeded
from voicegateway.policies.state import from_nano, to_nano


@dataclass(slots=True, frozen=True)
class _Meta:
    """What settling a limit's spend needs to know of its budget."""

    thresholds: tuple[float, ...]
    action: str


class LeasedBudgets(Budgets):
    """``Budgets`` whose ``block`` admissions come from a local lease (``lease``: the fraction of
    the remaining room taken per refill, default 0.1). Other actions behave as in ``Budgets``."""

    name = "budgets"

    def __init__(
        self, *args: Any, lease: float = 0.1, flush_interval: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < lease <= 1:
            raise ValueError(f"lease must be in (0, 1], got {lease}")
        self.lease = lease
        self.flush_interval = flush_interval
        self._avail: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._hold_ids: dict[str, str] = {}
        self._leased: dict[str, _Meta] = {}
        self._scope_cache: dict[tuple[str, str, str | None], tuple[tuple[Scope, ...], float]] = {}
        self._fast: dict[tuple[str, str, str | None], tuple[Any, float, Any, int | None]] = {}
        self._last_flush = time.monotonic()
        self._meta: dict[str, tuple[str, Scope, _Meta]] = {}
        _LIVE.add(self)

    # -- the chain -------------------------------------------------------------------------------

    def on_call_start(self, call: Call) -> None:
        plan = self._fast.get((call.project, call.provider, call.session_id))
        if plan is None or self._clock() >= plan[1]:
            plan = self._plan_for(call)
        keys, _, meta, estimate = plan
        if keys is None:
            if meta is not None:  # a warn or throttle budget: as Budgets does
                super().on_call_start(call)
            return
        if estimate is None:  # an LLM call priced from its rate card
            estimate = to_nano(self.estimate(call, self._budget(call.project)))
        avail = self._avail
        for key in keys:
            if avail.get(key, 0) < estimate:
                self._refill(call, tuple(self._meta[k][1] for k in keys), estimate)
                break
        for key in keys:
            avail[key] -= estimate
        self._leased[call.call_id] = [keys, meta, estimate]

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        leased = self._leased.get(call.call_id)
        if leased is None:
            super().on_usage(call, record)
            return
        if not record.cost_usd:
            return
        cost = to_nano(record.cost_usd)
        keys, _, rem = leased
        excess = max(0, cost - rem)
        leased[2] = max(0, rem - cost)
        for key in keys:
            self._pending[key] = self._pending.get(key, 0) + cost
            if excess:
                self._avail[key] -= excess
        if time.monotonic() - self._last_flush > self.flush_interval:
            with self.state.transaction() as con:
                crossed = self._flush(con)
            self._warn_all(crossed)

    def on_call_end(self, call: Call) -> None:
        leased = self._leased.pop(call.call_id, None)
        if leased is None:
            super().on_call_end(call)
            return
        keys, _, rem = leased
        if rem:
            for key in keys:
                self._avail[key] += rem

    def _plan_for(self, call: Call) -> tuple[Any, float, Any, int | None]:
        """(limit keys, valid until, budget meta, estimate or None), cached until midnight."""
        budget = self._budget(call.project)
        if budget is None:
            plan = (None, float("inf"), None, None)
        elif budget.action != "block":
            plan = (None, float("inf"), budget, None)
        else:
            scopes = self._cached_scopes(call, budget)
            llm = call.modality == "llm" and self._rates is not None
            estimate = None if llm else to_nano(budget.reserve_usd)
            meta = _Meta(tuple(budget.thresholds), budget.action)
            keys = tuple(scope.key for scope in scopes) or None
            plan = (keys, self._scope_cache[self._cache_key(call)][1], meta, estimate)
        self._fast[(call.project, call.provider, call.session_id)] = plan
        return plan

    @staticmethod
    def _cache_key(call: Call) -> tuple[str, str, str | None]:
        return (call.project, call.provider, call.session_id)

    # -- the lease -------------------------------------------------------------------------------

    def flush(self, *, release: bool = False) -> None:
        """Write settled costs to the shared state; ``release``: also give back unassigned
        leases (done at exit)."""
        if not self._pending and not (release and self._avail):
            return
        with self.state.transaction() as con:
            crossed = self._flush(con)
            if release:
                for key, avail in list(self._avail.items()):
                    if avail > 0 and key in self._hold_ids:
                        self.state.shrink_hold(con, self._hold_ids[key], avail)
                        self._avail[key] = 0
        self._warn_all(crossed)

    def _flush(self, con) -> list[tuple[str, str, list]]:
        """Write the settled costs (inside a transaction); the thresholds crossed, to warn of
        once the transaction is committed."""
        self._last_flush = time.monotonic()
        crossed = []
        for key, amount in self._pending.items():
            if not amount:
                continue
            total = self.state.add_spend(con, key, amount)
            self.state.shrink_hold(con, self._hold_ids[key], amount)
            project, scope, meta = self._meta[key]
            found = self._crossings(con, project, scope, total, amount, meta)
            if found:
                crossed.append((project, meta.action, found))
        self._pending.clear()
        return crossed

    def _warn_all(self, crossed: list[tuple[str, str, list]]) -> None:
        for project, action, found in crossed:
            self._warn(project, found, action)

    def _refill(self, call: Call, scopes: tuple[Scope, ...], estimate: int) -> None:
        for scope in scopes:
            if scope.since is not None:
                self._ensure_rehydrated(call.project, scope)
        state = self.state
        with state.transaction() as con:
            state.reap(con, force=False)
            crossed = self._flush(con)
            for attempt in (0, 1):
                over = None
                slices = []
                refused = None
                for scope in scopes:
                    need = estimate - self._avail.get(scope.key, 0)
                    if need <= 0:
                        continue
                    used = self._settled(con, call.project, scope) + state.held(con, scope.key)
                    room = scope.limit - used
                    if need > room:
                        over = (scope, used)
                        break
                    slices.append((scope, min(room, max(need, int(room * self.lease)))))
                if over is None:
                    break
                if attempt == 0 and state.reap(con):
                    continue
                scope, spent = over
                refused = BudgetExceeded(
                    call.project,
                    scope.period,
                    from_nano(scope.limit),
                    from_nano(spent),
                    from_nano(estimate),
                )
                break
            for scope, amount in slices if refused is None else ():
                hold = self._hold_ids.get(scope.key)
                if hold is None:
                    hold = self._hold_ids[scope.key] = f"lease|{scope.key}|{new_id()}"
                    state.hold(con, hold, scope.key, 0)
                con.execute("UPDATE holds SET amount = amount + ? WHERE id = ?", (amount, hold))
                self._avail[scope.key] = self._avail.get(scope.key, 0) + amount
        self._warn_all(crossed)
        if refused is not None:
            raise refused

    def _cached_scopes(self, call: Call, budget: Any) -> tuple[Scope, ...]:
        key = (call.project, call.provider, call.session_id)
        cached = self._scope_cache.get(key)
        now = self._clock()
        if cached is not None and now < cached[1]:
            return cached[0]
        scopes = tuple(self._scopes(call, budget))
        zone = self._zone()
        today = datetime.fromtimestamp(now, zone).date()
        midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), zone)
        self._scope_cache[key] = (scopes, midnight.timestamp())
        meta = _Meta(tuple(budget.thresholds), budget.action)
        for scope in scopes:
            self._meta[scope.key] = (call.project, scope, meta)
        return scopes


_LIVE: weakref.WeakSet[LeasedBudgets] = weakref.WeakSet()


@atexit.register
def _release_all() -> None:
    for budgets in list(_LIVE):
        with contextlib.suppress(Exception):  # else reaped once this process is gone
            budgets.flush(release=True)
