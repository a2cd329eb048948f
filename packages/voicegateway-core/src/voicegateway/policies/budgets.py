"""Budgets: ``projects.<p>.budget`` enforced at admission and settled with the real cost, without
the agent's event loop ever waiting on the shared state.

One middleware step, :class:`Budgets`, placed after ``CostTracking``. Its work is split in two:

- **On the event loop** (``on_call_start``, ``on_usage``, ``on_call_end``): dict operations only.
  A ``block`` call is admitted from this process's *lease* on each limit it falls under (the
  project's daily, monthly and per-session limits, and the same for its provider): a slice of
  the limit's room held in the shared state. The call reserves its estimate (:meth:`estimate`)
  from the lease, or, when the lease is the last of the room, what is left of it. Costs settle
  into a pending list; what a call did not use goes back to the lease when it ends.
- **In the policy worker thread** (:mod:`.worker`): refilling a lease (one transaction: room =
  limit - settled - held), writing settled spend (each record counted once, by its id), threshold
  crossings (recorded once across processes, warned and notified by the process that recorded
  them), giving back idle leases, and a snapshot of each budget's spend for
  :meth:`exhausted`.

When the lease is short, admission waits for a refill: ``fallback.serve`` awaits it (the call of
every budgeted project goes through it), a caller that cannot await waits at most
``worker.SYNC_WAIT_ON_LOOP`` on a loop. A refill that finds no room refuses with
:class:`BudgetExceeded` (settled plus held has reached the limit); one that cannot read the state
(not seeded from the ledger, unreadable, busy past ``worker.STATE_TIMEOUT``) refuses with
:class:`BudgetUnknown`. ``warn`` and ``throttle`` budgets never refuse: they log once that they are
not enforced and carry on. See docs/policies.md for the bound this gives.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from voicegateway.metering.estimate import prompt_tokens
from voicegateway.metering.middleware import Middleware
from voicegateway.policies.errors import (
    BudgetExceeded,
    BudgetUnknown,
    dollars,
)
from voicegateway.policies.worker import STATE_TIMEOUT, PolicyWorker, at_exit, run_policy_task
from voicegateway.policy_state import PolicyStateError, SharedState, from_nano, to_nano
from voicegateway.records import Call, UsageRecord, new_id

log = logging.getLogger("voicegateway.policies")

_UNPLANNED = object()

LEASE_IDLE_S = 2.0
"""A lease unused this long is given back, so other processes near the limit can use it."""

FORGET_S = 60.0
"""A lease that holds nothing and was not used this long is forgotten (its row deleted)."""

MIN_SAMPLES = 10
"""Recent calls of a model needed before its learned output estimate replaces the default."""


@dataclass(slots=True, frozen=True)
class Scope:
    """One limit a call falls under."""

    key: str  # "<project>|<provider or *>|day:2026-12-02"
    project: str
    provider: str | None
    period: str  # "day:2026-12-02", "month:2026-12", "session:<id>"
    label: str  # "daily (2026-12-02)"
    limit: int  # nano-dollars


@dataclass(slots=True)
class _Lease:
    hold_id: str
    avail: int = 0  # unassigned room this process may admit from
    last: bool = False  # the last refill found no more room than it granted
    unwritten: int = 0  # settled here, not yet written to the shared state
    uses: int = 0  # admissions so far: counted on the loop, cheaper than reading a clock
    seen: tuple[int, float] = (0, 0.0)  # (uses, monotonic time) when the worker saw it change


@dataclass
class _Status:
    """Whether the state can be trusted: ``None`` while unknown, else ``(ok, reason)``."""

    value: tuple[bool, str] | None = None
    told: set[str] = field(default_factory=set)


class Budgets(Middleware):
    """The budget step. ``config`` is the loaded voicegw.yaml or a function returning it;
    ``state`` defaults to ``SharedState.for_storage(config.storage)``; ``rates(provider, model,
    modality)`` returns ``pricing.Rates`` for estimates (optional); ``worker`` is the thread that
    talks to the state (one is made)."""

    name = "budgets"

    def __init__(
        self,
        config: Any,
        state: SharedState | None = None,
        *,
        rates: Callable[[str, str, str], Any] | None = None,
        worker: PolicyWorker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config if callable(config) else (lambda: config)
        self._state = state
        self._rates = rates
        self._clock = clock
        self.worker = worker or PolicyWorker()
        self._mu = threading.Lock()  # guards the dicts below; never held across I/O
        self._lock, self._unlock = self._mu.acquire, self._mu.release
        self._leases: dict[str, _Lease] = {}
        self._calls: dict[str, tuple[tuple[Scope, ...], int]] = {}  # call -> (scopes, reserved)
        self._pending: list[tuple[str, float, str, str, str, str | None, int]] = []
        self._outputs: list[tuple[str, int]] = []
        self._known: dict[str, int] = {}  # limit key -> spent plus held, as the worker last read
        self._learned: dict[str, int] = {}
        self._rate_cache: dict[tuple[str, str, str], Any] = {}
        self._plans: dict[str, Any] = {}
        self._scope_cache: dict[tuple[str, str, str | None], tuple[float, tuple[Scope, ...]]] = {}
        self._day_cache: tuple[float, float, str] = (0.0, 0.0, "")
        self._wanted_rates: set[tuple[str, str, str]] = set()
        self._notifiers: dict[str, Any] = {}
        self._reserves: dict[str, int] = {}  # project -> reserve_usd in nano-dollars
        self._status = _Status()
        self._releasing = False
        self._last_prune = 0.0
        self.events: list[tuple[str, str, float]] = []
        """Threshold crossings this process recorded: (project, period, threshold)."""
        self.worker.every(self._tick)
        at_exit(self._at_exit)

    @property
    def state(self) -> SharedState:
        if self._state is None:
            self._state = SharedState.for_storage(self._config().storage, timeout=STATE_TIMEOUT)
        return self._state

    # -- the chain (event loop) ------------------------------------------------------------------

    def on_call_start(self, call: Call) -> None:
        budget = self._plans.get(call.project, _UNPLANNED)
        if budget is _UNPLANNED:
            budget = self._budget(call.project)
        if budget is None:
            return
        if budget.action != "block":
            self._tell_if_unenforced(call.project, budget)
            return
        cached = self._scope_cache.get((call.project, call.provider, call.session_id))
        if cached is not None and cached[0] > self._clock():
            scopes = cached[1]
        else:
            scopes = self._scopes(call, budget)
        if not scopes:
            return
        if call.modality != "llm" and not call.chars_pending and not call.audio_pending:
            # the common case, kept to dict operations: a stream reserves ``reserve_usd``
            reserve = self._reserves.get(call.project) or self._reserve_nano(call.project, budget)
            reserved = self._take(scopes, reserve)
            if reserved is not None:
                self._calls[call.call_id] = (scopes, reserved)
                return
        for _ in range(3):  # a refill may first load the rate card, changing the estimate
            estimate = self.estimate(call, budget)
            reserved = None if estimate is None else self._take(scopes, estimate)
            if reserved is not None:
                break
            need = estimate or to_nano(budget.reserve_usd)
            refused = run_policy_task(
                self.worker,
                self.name,
                call.project,
                functools.partial(self._refill, scopes, need),
                lambda seconds: BudgetUnknown(
                    call.project,
                    f"the policy state {self.state.path} did not answer within {seconds:g} s "
                    "(another process may be stuck in a transaction)",
                ),
            )
            if refused is not None:
                raise refused
        else:
            raise BudgetUnknown(call.project, "the policy state gave this process no room")
        self._calls[call.call_id] = (scopes, reserved)

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        cost = to_nano(record.cost_usd) if record.cost_usd else 0
        with self._mu:
            if cost > 0:
                day = self._day(record.ts)
                self._pending.append(
                    (
                        record.request_id,
                        record.ts,
                        record.project,
                        record.provider,
                        day,
                        record.session_id,
                        cost,
                    )
                )
            if record.modality == "llm" and record.output_tokens and not record.estimated:
                self._outputs.append((f"{record.provider}/{record.model}", record.output_tokens))
            admitted = self._calls.get(call.call_id)
            if admitted is None or not cost:
                return
            scopes, reserved = admitted
            use = min(cost, reserved)
            self._calls[call.call_id] = (scopes, reserved - use)
            for scope in scopes:
                lease = self._leases.get(scope.key)
                if lease is not None:  # else its state file was replaced since the admission
                    lease.unwritten += cost
                    lease.avail -= cost - use  # what the call cost beyond its reservation

    def on_call_end(self, call: Call) -> None:
        admitted = self._calls.pop(call.call_id, None)
        if admitted is not None and admitted[1]:
            with self._mu:
                for scope in admitted[0]:
                    lease = self._leases.get(scope.key)
                    if lease is not None:
                        lease.avail += admitted[1]

    def _take(self, scopes: tuple[Scope, ...], estimate: int) -> int | None:
        """Reserve ``estimate`` (or, where a lease is the last of its limit's room, what is left)
        from every scope's lease; None when a lease is short."""
        leases = self._leases
        self._lock()  # not ``with``: half the cost, and this is the hot path
        try:
            if len(scopes) == 1:  # most budgets: one limit
                lease = leases.get(scopes[0].key)
                if lease is None:
                    return None
                avail = lease.avail
                if avail < estimate:
                    if not lease.last or avail <= 0:
                        return None
                    estimate = avail
                lease.avail = avail - estimate
                lease.uses += 1
                return estimate
            reserve = estimate
            taken = []
            for scope in scopes:
                lease = leases.get(scope.key)
                if lease is None:
                    return None
                if lease.avail < estimate:
                    if not lease.last or lease.avail <= 0:
                        return None
                    reserve = min(reserve, lease.avail)
                taken.append(lease)
            for lease in taken:
                lease.avail -= reserve
                lease.uses += 1
            return reserve
        finally:
            self._unlock()

    # -- questions (event loop) ------------------------------------------------------------------

    def estimate(self, call: Call, budget: Any) -> int | None:
        """The most the call is assumed to cost, in nano-dollars: an LLM call's prompt plus its
        output cap (the plugin's own, else the model's learned 95th percentile, else
        ``reserve_output_tokens``; at most ``max_reserve_output_tokens``); a synthesis of known
        text or a recognition of known audio, priced; anything else ``reserve_usd``. None when
        the rate card is not loaded yet (the worker loads it: the catalog is on disk)."""
        units: dict[str, int | float]
        if call.modality == "llm":
            learned = self._learned.get(f"{call.provider}/{call.model}")
            output = call.output_cap or learned or budget.reserve_output_tokens
            output = min(output, budget.max_reserve_output_tokens)
            units = {"input_tokens": prompt_tokens(call.chat_ctx), "output_tokens": output}
        elif call.modality == "tts" and call.chars_pending:
            units = {"characters": call.chars_pending}
        elif call.modality == "stt" and call.audio_pending:
            units = {"audio_seconds": call.audio_pending}
        else:
            return self._reserve_nano(call.project, budget)
        if self._rates is not None:
            key = (call.provider, call.model, call.modality)
            if key not in self._rate_cache:
                self._wanted_rates.add(key)
                return None
            rates = self._rate_cache[key]
            cost = None
            if rates is not None:
                try:
                    cost = rates.cost(units)
                except Exception:
                    cost = None
            if cost:
                return to_nano(cost)
        return self._reserve_nano(call.project, budget)

    def _reserve_nano(self, project: str, budget: Any) -> int:
        nano = self._reserves.get(project)
        if nano is None:
            nano = self._reserves[project] = to_nano(budget.reserve_usd)
        return nano

    def exhausted(self, project: str, provider: str | None = None) -> str | None:
        """Why new calls of ``project`` (on ``provider``) must not go to it, or None; from the
        worker's last reading, never waiting. A ``block`` budget is exhausted when its spend
        plus holds reach a limit; ``throttle``/``warn`` when spend reaches the last threshold.
        Unknown spend is not exhaustion here: admission refuses it."""
        budget = self._budget(project)
        if budget is None:
            return None
        self.worker.wake()
        call = Call(modality="llm", provider=provider or "*", model="", project=project)
        fraction = 1.0 if budget.action == "block" else budget.thresholds[-1]
        for scope in self._scopes(call, budget, provider_scopes=provider is not None):
            if scope.period.startswith("session:"):
                continue
            spent = self._known.get(scope.key, 0 if scope.limit == 0 else None)
            if spent is not None and spent >= scope.limit * fraction:
                return (
                    f"project {project!r}: {scope.label} budget {dollars(from_nano(scope.limit))} "
                    f"{'spent' if fraction >= 1 else f'at {fraction:.0%}'} "
                    f"({dollars(from_nano(spent))}); action {budget.action}"
                )
        return None

    def sync(self, timeout: float = STATE_TIMEOUT) -> None:
        """Write settled spend and refresh the snapshot now, and wait (tests, the CLI)."""
        self.worker.call(self._tick, timeout=timeout)

    # -- the worker thread -----------------------------------------------------------------------

    def _tick(self) -> None:
        """Periodic: trust check, settled spend, idle leases, the snapshot."""
        state = self.state
        try:
            if state.replaced():
                state.close()
                with self._mu:
                    self._leases.clear()  # their holds are in the old file
            self._check_seeded()
            with state.transaction() as con:
                self._flush(con)
                self._give_back(con)
                self._snapshot(con)
                if time.monotonic() - self._last_prune > 600:
                    self._last_prune = time.monotonic()
                    state.prune(con)
        except PolicyStateError as exc:
            self._set_status(False, str(exc))
        except sqlite3.OperationalError as exc:
            log.debug("policy state busy: %s", exc)

    def _check_seeded(self) -> None:
        state = self.state
        with state.transaction() as con:
            seeded = state.meta(con, "seeded")
            if seeded is None and self._nothing_to_seed():
                state.set_meta(con, "seeded", "empty")
                seeded = "empty"
        if seeded is not None:
            self._set_status(True, "")
            return
        storage = self._config().storage
        self._set_status(
            False,
            f"its spend is not known: the policy state {state.path} has not been seeded from "
            f"the ledger {storage.path} yet; run `voicegw ingest` (or keep `voicegw ingest "
            "--follow` running) and it is",
        )

    def _nothing_to_seed(self) -> bool:
        """No ledger and no spool file yet: a new install, whose spend truly is zero."""
        storage = self._config().storage
        spool = storage.spool_dir or storage.path.with_name(storage.path.name + ".spool")
        try:
            waiting = any(spool.glob("*.jsonl"))
        except OSError:
            waiting = False
        return not storage.path.exists() and not waiting

    def _set_status(self, ok: bool, reason: str) -> None:
        if self._status.value != (ok, reason):
            self._status.value = (ok, reason)
            if ok:
                self._status.told.clear()

    def _tell_if_unenforced(self, project: str, budget: Any) -> None:
        status = self._status.value
        if status is None or status[0] or project in self._status.told:
            return
        self._status.told.add(project)
        log.warning(
            "budget: project %r (action %s) is not being enforced: %s; its calls go on",
            project,
            budget.action,
            status[1],
        )

    def _refill(self, scopes: tuple[Scope, ...], estimate: int) -> Exception | None:
        """Grow this process's lease on every scope short of ``estimate``; the refusal when
        there is no room or the state cannot be trusted."""
        project = scopes[0].project
        state = self.state
        try:
            self._load_rates(scopes)
            self._check_seeded()
            status = self._status.value
            if status is not None and not status[0]:
                return BudgetUnknown(project, status[1])
            grants: list[tuple[Scope, int, bool]] = []
            refused: Exception | None = None
            with state.transaction() as con:
                self._flush(con)
                for attempt in (0, 1):
                    grants, refused = self._grants(con, scopes, estimate)
                    if refused is None or attempt or not state.reap(con):
                        break
                for scope, grant, _ in grants:
                    if grant:
                        state.grow_hold(con, self._leases[scope.key].hold_id, scope.key, grant)
            with self._mu:
                for scope, grant, last in grants:
                    lease = self._leases[scope.key]
                    lease.avail += grant
                    lease.last = last
                    lease.uses += 1  # a lease just filled is not idle
            return refused
        except PolicyStateError as exc:
            self._set_status(False, str(exc))
            return BudgetUnknown(project, str(exc))
        except sqlite3.OperationalError as exc:
            return BudgetUnknown(
                project, f"the policy state {state.path} is busy ({exc}) past {state.timeout:g} s"
            )

    def _grants(
        self, con: sqlite3.Connection, scopes: tuple[Scope, ...], estimate: int
    ) -> tuple[list[tuple[Scope, int, bool]], Exception | None]:
        grants = []
        fraction = self._plans_lease(scopes[0].project)
        for scope in scopes:
            with self._mu:
                lease = self._leases.setdefault(scope.key, _Lease(f"lease|{scope.key}|{new_id()}"))
                need = estimate - lease.avail
            if need <= 0:
                continue
            settled = self.state.spent(con, scope.project, scope.provider, scope.period)
            held = self.state.held(con, scope.key)
            room = scope.limit - settled - held
            if room <= 0:
                grants.append((scope, 0, True))
                if lease.avail <= 0:
                    spend = from_nano(settled + held)
                    return grants, BudgetExceeded(
                        scope.project, scope.label, from_nano(scope.limit), spend
                    )
                continue
            grant = min(room, max(need, int(room * fraction)))
            grants.append((scope, grant, grant == room))
        return grants, None

    def _flush(self, con: sqlite3.Connection) -> None:
        """Write settled costs (each record once) and shrink the leases they came out of; record
        threshold crossings."""
        with self._mu:
            pending, self._pending = self._pending, []
            outputs, self._outputs = self._outputs, []
            unwritten = {k: lease.unwritten for k, lease in self._leases.items() if lease.unwritten}
            for key in unwritten:
                self._leases[key].unwritten = 0
        state = self.state
        for key, amount in unwritten.items():
            state.grow_hold(con, self._leases[key].hold_id, key, -amount)
        if outputs:
            state.add_outputs(con, outputs)
        if not pending:
            return
        counted = state.settle(con, pending)
        self._crossings(con, counted)

    def _crossings(self, con: sqlite3.Connection, counted: list[tuple]) -> None:
        added: dict[Scope, int] = {}
        for project, provider, day, session, amount in counted:
            budget = self._budget(project)
            if budget is None:
                continue
            call = Call(modality="", provider=provider, model="", project=project)
            call.session_id = session
            for scope in self._scopes(call, budget, day=day):
                added[scope] = added.get(scope, 0) + amount
        for scope, amount in added.items():
            budget = self._budget(scope.project)
            total = self.state.spent(con, scope.project, scope.provider, scope.period)
            for threshold in budget.thresholds:
                mark = scope.limit * threshold
                if total - amount < mark <= total and self.state.event(
                    con, scope.project, scope.label, threshold, total, scope.limit, budget.action
                ):
                    self.events.append((scope.project, scope.label, threshold))
                    log.warning(
                        "budget: project %r has spent %s of its %s limit of %s (%d%%); action %s",
                        scope.project,
                        dollars(from_nano(total)),
                        scope.label,
                        dollars(from_nano(scope.limit)),
                        round(threshold * 100),
                        budget.action,
                    )
                    self._notify(scope, budget, threshold, total)

    def _notify(self, scope: Scope, budget: Any, threshold: float, total: int) -> None:
        notify = getattr(budget, "notify", None)
        if notify is None or getattr(notify, "webhook", None) is None:
            return
        from voicegateway.policies.notify import Crossing, WebhookNotifier

        notifier = self._notifiers.get(scope.project)
        if notifier is None:
            notifier = self._notifiers[scope.project] = WebhookNotifier(notify.webhook)
        notifier.send(
            Crossing(
                project=scope.project,
                period=scope.label,
                threshold=threshold,
                spend=from_nano(total).normalize(),
                limit=from_nano(scope.limit).normalize(),
                action=budget.action,
                ts=time.time(),
            )
        )

    def _give_back(self, con: sqlite3.Connection) -> None:
        """Return what idle leases (or, at exit, every lease) do not use to the shared state."""
        now = time.monotonic()
        with self._mu:
            for lease in self._leases.values():
                if lease.seen[0] != lease.uses:
                    lease.seen = (lease.uses, now)
            idle = [
                (key, lease.hold_id, lease.avail)
                for key, lease in self._leases.items()
                if lease.avail > 0 and (self._releasing or now - lease.seen[1] > LEASE_IDLE_S)
            ]
            for key, _, avail in idle:
                self._leases[key].avail -= avail
                self._leases[key].last = False
        for key, hold_id, avail in idle:
            self.state.grow_hold(con, hold_id, key, -avail)
        self._forget_unused(con, now)

    def _forget_unused(self, con: sqlite3.Connection, now: float) -> None:
        """Drop leases that hold nothing and were not used for a while (a per-session limit
        makes one per conversation): their rows in the state and their local records."""
        with self._mu:
            stale = [
                (key, lease.hold_id)
                for key, lease in self._leases.items()
                if lease.avail == 0 and not lease.unwritten and now - lease.seen[1] > FORGET_S
            ]
        for key, hold_id in stale:
            if con.execute("DELETE FROM holds WHERE id = ? AND amount <= 0", (hold_id,)).rowcount:
                with self._mu:
                    lease = self._leases.get(key)
                    if lease is not None and lease.avail == 0 and not lease.unwritten:
                        del self._leases[key]

    def _snapshot(self, con: sqlite3.Connection) -> None:
        """Spend plus holds of every configured day and month limit, and learned outputs."""
        config = self._config()
        known: dict[str, int] = {}
        for name, project in config.projects.items():
            budget = project.budget
            if budget is None:
                continue
            call = Call(modality="llm", provider="*", model="", project=name)
            providers = [None, *budget.providers]
            for provider in providers:
                call.provider = provider or "*"
                for scope in self._scopes(call, budget, provider_scopes=provider is not None):
                    if scope.period.startswith("session:"):
                        continue
                    spent = self.state.spent(con, scope.project, scope.provider, scope.period)
                    known[scope.key] = spent + self.state.held(con, scope.key)
        self._known = known
        for model in list(self._learned_models()):
            samples = sorted(self.state.outputs(con, model))
            if len(samples) >= MIN_SAMPLES:
                self._learned[model] = samples[min(len(samples) - 1, int(len(samples) * 0.95))]

    def _learned_models(self) -> set[str]:
        with self._mu:
            return {f"{p}/{m}" for p, m, modality in self._rate_cache if modality == "llm"}

    def _load_rates(self, scopes: tuple[Scope, ...]) -> None:
        """Rate cards for the estimates of the calls waiting (the catalog is read from disk)."""
        for key in list(self._wanted_rates):
            if key not in self._rate_cache and self._rates is not None:
                try:
                    self._rate_cache[key] = self._rates(*key)
                except Exception:
                    log.debug("no rates for %s", key, exc_info=True)
                    self._rate_cache[key] = None
            self._wanted_rates.discard(key)

    def _at_exit(self) -> None:
        self._releasing = True

    # -- plans -----------------------------------------------------------------------------------

    def _budget(self, project: str) -> Any:
        try:
            return self._plans[project]
        except KeyError:
            pass
        try:
            budget = self._config().project(project).budget
        except ValueError:  # an unknown project has no budget (the gateway refuses it earlier)
            budget = None
        self._plans[project] = budget
        return budget

    def _plans_lease(self, project: str) -> float:
        budget = self._budget(project)
        return budget.lease if budget is not None else 0.0

    def _zone(self) -> ZoneInfo:
        zone = self._plans.get("\0zone")
        if zone is None:
            zone = self._plans["\0zone"] = ZoneInfo(self._config().storage.timezone)
        return zone

    def _day(self, ts: float) -> str:
        return self._day_bounds(ts)[0]

    def _day_bounds(self, ts: float) -> tuple[str, float]:
        """The calendar day of ``ts`` in storage.timezone and when it ends (cached)."""
        start, end, day = self._day_cache
        if start <= ts < end:
            return day, end
        zone = self._zone()
        date = datetime.fromtimestamp(ts, zone).date()
        midnight = datetime.combine(date, datetime.min.time(), zone)
        following = datetime.combine(date + timedelta(days=1), datetime.min.time(), zone)
        self._day_cache = (midnight.timestamp(), following.timestamp(), date.isoformat())
        return date.isoformat(), following.timestamp()

    def _scopes(
        self,
        call: Call,
        budget: Any,
        *,
        provider_scopes: bool = True,
        day: str | None = None,
    ) -> tuple[Scope, ...]:
        """Every limit ``call`` falls under (today's, or ``day``'s), cached per day."""
        until = 0.0
        cache_key = None
        if day is None:
            now = self._clock()
            cache_key = (call.project, call.provider, call.session_id)
            cached = self._scope_cache.get(cache_key)
            if cached is not None and cached[0] > now and provider_scopes:
                return cached[1]
            day, until = self._day_bounds(now)
        scopes: list[Scope] = []
        blocks = [("*", budget)]
        if provider_scopes and call.provider in budget.providers:
            blocks.append((call.provider, budget.providers[call.provider]))
        for who, limits in blocks:
            provider = None if who == "*" else who
            base = f"{call.project}|{who}|"
            suffix = "" if provider is None else f" {provider}"
            if limits.daily_usd is not None:
                scopes.append(
                    Scope(
                        f"{base}day:{day}",
                        call.project,
                        provider,
                        f"day:{day}",
                        f"daily ({day}){suffix}",
                        to_nano(limits.daily_usd),
                    )
                )
            if limits.monthly_usd is not None:
                month = day[:7]
                scopes.append(
                    Scope(
                        f"{base}month:{month}",
                        call.project,
                        provider,
                        f"month:{month}",
                        f"monthly ({month}){suffix}",
                        to_nano(limits.monthly_usd),
                    )
                )
            if limits.per_session_usd is not None and call.session_id:
                scopes.append(
                    Scope(
                        f"{base}session:{call.session_id}",
                        call.project,
                        provider,
                        f"session:{call.session_id}",
                        f"per-session ({call.session_id}){suffix}",
                        to_nano(limits.per_session_usd),
                    )
                )
        result = tuple(scopes)
        if cache_key is not None and provider_scopes:
            self._scope_cache[cache_key] = (until, result)
        return result
