"""Rate limits: ``rate_limits.<provider|*>`` (every project of the machine together) and
``projects.<p>.rate_limits.<provider|*>`` (one project), enforced across processes.

- ``requests``: GCRA. ``N/s`` gives an emission interval ``T = 1/N`` s and a burst tolerance of
  ``(burst - 1) * T``; the key's theoretical arrival time (TAT) lives in the shared state, so
  every process of the machine draws from one schedule. ``5/s`` is 5 per second, evenly spaced.
- units per minute (tokens, audio seconds, characters): the same GCRA, charged when records
  arrive (``on_usage``) rather than at admission, with a tolerance of one minute: a new call is
  admitted while the last minute's allowance is not overdrawn.
- ``concurrent``: a hold per open call in the shared state, released at the end of the call (or
  when its process is found dead).

Admission never waits on the shared state on the event loop: the process's policy worker thread
(:mod:`.worker`) keeps, per ``requests`` limit, a block of the process's next *slots* reserved in
the shared schedule (one transaction moves the key's TAT on by ``count * T``; ``count`` is what the
process used over the last ``SLOT_HORIZON`` seconds, at least one), and a copy of each units key's
TAT; a call is admitted by comparing its clock with them (dict look-ups), and the next block is
reserved as soon as one is used up. A ``concurrent`` limit takes its hold in a worker task. A
caller that awaits (``fallback.serve``) awaits what is missing; any other caller waits a bounded
time. N idle processes leave at most N blocks of a rate unused.

When a limit is reached: ``on_limit: reject`` raises :class:`RateLimited` with ``retry_after``;
``on_limit: wait`` waits and tries again, up to ``max_wait`` seconds, then raises. Off an event
loop the wait is a sleep. On one (a LiveKit agent), a wait longer than ``SYNC_WAIT_MAX`` is
handed to the caller as a ``RateLimited`` with ``may_wait``, which ``fallback.serve`` awaits.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from voicegateway.metering.middleware import Middleware
from voicegateway.policies.errors import RateLimited, RateLimitUnknown
from voicegateway.policies.worker import (
    STATE_TIMEOUT,
    PolicyWorker,
    awaiting,
    on_event_loop,
    wait_for,
)
from voicegateway.policy_state import PolicyStateError, SharedState
from voicegateway.records import Call, UsageRecord

log = logging.getLogger("voicegateway.policies")

T = TypeVar("T")


@dataclass(slots=True, frozen=True)
class Paced:
    """The ``requests`` rate of a limit block, as the GCRA paces it."""

    key: str  # the block's key
    interval: float  # emission interval, seconds
    tolerance: float  # burst tolerance, seconds
    rate: str  # as configured: "5/s"


@dataclass(slots=True, frozen=True)
class Limit:
    """One configured rate-limit block, ready to check."""

    key: str  # "project:<p>|openai", "provider|openai", "provider|*"
    requests: Paced | None
    concurrent: int | None
    units: tuple[tuple[str, float], ...]  # (unit kind, seconds per unit)
    wait: float  # max wait, 0 for reject


UNIT_OF = {
    "tokens_per_minute": "tokens",
    "audio_seconds_per_minute": "audio_seconds",
    "characters_per_minute": "characters",
}


class RateLimits(Middleware):
    """The rate-limit step: admission in ``on_call_start``, units in ``on_usage``, the
    concurrency hold released in ``on_call_end``. Place it before ``Budgets`` (a call refused for
    its rate reserves no budget)."""

    name = "rate_limits"

    def __init__(
        self,
        config: Any,
        state: SharedState | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        worker: PolicyWorker | None = None,
    ) -> None:
        self._config = config if callable(config) else (lambda: config)
        self._state = state
        self.worker = worker or PolicyWorker()
        self._clock = clock
        self._sleep = sleep
        self._plans: dict[tuple[str, str], tuple[Limit, ...]] = {}
        self._open: dict[str, tuple[str, ...]] = {}  # call id -> its stream holds
        self._mu = threading.Lock()  # guards the dicts below; never held across I/O
        self._lock, self._unlock = self._mu.acquire, self._mu.release
        # plans of request limits only -> their rates
        self._slots_only: dict[tuple[str, str], tuple[Paced, ...]] = {}
        self._slots: dict[str, collections.deque[list[float]]] = {}  # key -> [[next slot, count]]
        self._unit_tats: dict[str, float | None] = {}  # "<key>|<unit>" -> its TAT, as last seen
        self._reserve_tasks: dict[str, concurrent.futures.Future[str | None]] = {}
        self._demand: dict[str, list[float]] = {}  # key -> [slots used, since, last block's size]
        self._streams: dict[int, tuple[tuple[str, int], ...]] = {}  # id(plan) -> (key, concurrent)
        self._read_tasks: dict[str, concurrent.futures.Future[str | None]] = {}

    @property
    def state(self) -> SharedState:
        if self._state is None:
            self._state = SharedState.for_storage(self._config().storage, timeout=STATE_TIMEOUT)
        return self._state

    def limits(self, project: str, provider: str) -> tuple[Limit, ...]:
        plan = self._plans.get((project, provider))
        if plan is None:
            plan = self._plans[(project, provider)] = self._plan(project, provider)
            if plan and all(
                lim.requests is not None and not lim.units and lim.concurrent is None
                for lim in plan
            ):
                self._slots_only[(project, provider)] = tuple(
                    lim.requests for lim in plan if lim.requests is not None
                )
        return plan

    # -- the chain (event loop) ------------------------------------------------------------------

    def on_call_start(self, call: Call) -> None:
        who = (call.project, call.provider)
        limits = self._plans.get(who)
        if limits is None:
            limits = self.limits(*who)
        if not limits:
            return
        paced = self._slots_only.get(who)
        if paced is not None and self._take_slots(paced):
            return
        deadline = None
        while True:
            retry = self._admit(call, limits)
            if retry is None:
                return
            key, limit, after = retry
            now = self._clock()
            if deadline is None:
                deadline = now + min(lim.wait for lim in limits if lim.key == key)
            if now + after > deadline:
                raise RateLimited(key, limit, after)
            if after > SYNC_WAIT_MAX and on_event_loop():
                # Sleeping here would stall the agent's event loop (every conversation of the
                # process): hand the wait to the caller, which awaits it (fallback.serve does).
                raise RateLimited(key, limit, after, may_wait=deadline - now)
            self._sleep(after)

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        limits = self.limits(call.project, call.provider)
        charges = []
        for limit in limits:
            for unit, per in limit.units:
                amount = _units(record, unit)
                if amount:
                    charges.append((f"{limit.key}|{unit}", amount * per))
        if charges:
            now = self._clock()
            with self._mu:  # seen at once by this process's next admission
                for key, cost in charges:
                    tat = self._unit_tats.get(key)
                    self._unit_tats[key] = max(tat or now, now) + cost
            self.worker.submit(lambda: self._charge(charges, now))

    def on_call_end(self, call: Call) -> None:
        opened = self._open.pop(call.call_id, None)
        if opened:
            self.worker.submit(lambda: self._release(list(opened)))

    def _admit(self, call: Call, limits: tuple[Limit, ...]) -> tuple[str, str, float] | None:
        """Admit the call from this process's slots and units (taking a stream hold where a
        ``concurrent`` limit says so), or (key, limit, seconds to wait)."""
        now = self._clock()
        # what to wait for
        missing: Callable[[], concurrent.futures.Future[str | None]] | None = None
        taken: list[tuple[Paced, float]] = []
        with self._mu:
            for limit in limits:
                paced = limit.requests
                if paced is not None:
                    blocks = self._slots.get(limit.key)
                    if not blocks:
                        missing = missing or functools.partial(self._reserving, paced)
                    elif blocks[0][0] - paced.tolerance > now:
                        early = blocks[0][0] - paced.tolerance - now
                        return limit.key, f"requests {paced.rate}", early
                for unit, _ in limit.units:
                    key = f"{limit.key}|{unit}"
                    if key not in self._unit_tats:
                        missing = missing or functools.partial(self._reading, key)
                        continue
                    early = (self._unit_tats[key] or now) - 60.0 - now
                    if early > 0:
                        return limit.key, f"{unit} per minute", early
            if missing is None:
                for limit in limits:
                    if limit.requests is not None:
                        taken.append((limit.requests, self._take_slot(limit.requests)))
        if missing is not None:  # a caller asked again takes the task it awaited
            problem = self._wait(call, "slots", missing)
            if problem is not None:
                raise RateLimitUnknown(call.project, call.provider, problem)
            return self._admit(call, limits)
        streams = self._streams.get(id(limits))
        if streams is None:
            streams = self._streams[id(limits)] = tuple(
                (limit.key, limit.concurrent) for limit in limits if limit.concurrent is not None
            )
        if streams:
            try:
                holds, refused = self._wait(
                    call,
                    "streams",
                    lambda: self.worker.submit(lambda: self._take_streams(call.call_id, streams)),
                )
            except BaseException:
                self._put_back(taken)
                raise
            if isinstance(refused, str):
                self._put_back(taken)
                raise RateLimitUnknown(call.project, call.provider, refused)
            if refused is not None:
                self._put_back(taken)
                return refused
            self._open[call.call_id] = holds
        return None

    def _take_slots(self, limits: tuple[Paced, ...]) -> bool:
        """The common case in one pass: request limits only, each with a slot due in this
        process's blocks; False leaves everything as it was (``_admit`` then says why)."""
        now = self._clock()
        slots = self._slots
        self._lock()  # not ``with``: half the cost, and this is the hot path
        try:
            for limit in limits:
                blocks = slots.get(limit.key)
                if not blocks or blocks[0][0] - limit.tolerance > now:
                    return False
            for limit in limits:
                self._take_slot(limit)
            return True
        finally:
            self._unlock()

    def _take_slot(self, limit: Paced) -> float:
        """This process's next slot of ``limit`` (under ``_mu``): used by the call admitted;
        the next block is reserved when this one is used up."""
        demand = self._demand[limit.key]
        demand[0] += 1
        blocks = self._slots[limit.key]
        block = blocks[0]
        slot = block[0]
        block[0] += limit.interval
        block[1] -= 1
        if not block[1]:
            blocks.popleft()
        if not blocks and limit.key not in self._reserve_tasks:  # the next block, ahead of use
            self._reserving_locked(limit)
        return slot

    def _put_back(self, taken: list[tuple[Paced, float]]) -> None:
        with self._mu:
            for limit, slot in taken:
                self._slots.setdefault(limit.key, collections.deque()).appendleft([slot, 1])

    def _wait(
        self, call: Call, what: str, future_of: Callable[[], concurrent.futures.Future[T]]
    ) -> T:
        name = f"{self.name}.{what}"
        return wait_for(
            name,
            call.project,
            _pending_or(name, future_of),
            lambda seconds: RateLimitUnknown(
                call.project,
                call.provider,
                f"the policy state {self.state.path} did not answer within {seconds:g} s",
            ),
        )

    def _reserving(self, limit: Paced) -> concurrent.futures.Future[str | None]:
        """The worker task reserving ``limit``'s next slots for this process (one at a time)."""
        with self._mu:
            return self._reserving_locked(limit)

    def _reserving_locked(self, limit: Paced) -> concurrent.futures.Future[str | None]:
        future = self._reserve_tasks.get(limit.key)
        if future is None or future.cancelled():
            future = self._reserve_tasks[limit.key] = self.worker.submit(
                lambda: self._reserve(limit)
            )
        return future

    def _reading(self, key: str) -> concurrent.futures.Future[str | None]:
        with self._mu:
            future = self._read_tasks.get(key)
            if future is None or future.cancelled():
                future = self._read_tasks[key] = self.worker.submit(lambda: self._read_units(key))
            return future

    # -- the worker thread -----------------------------------------------------------------------

    def _reserve(self, limit: Paced) -> str | None:
        """Reserve this process's next slots of ``limit`` in the shared schedule (as many as the
        rate allows in ``SLOT_HORIZON``, at least one); why not, if the state cannot be used."""
        state = self.state
        now = self._clock()
        count = self._block(limit, time.monotonic())
        try:
            with state.transaction() as con:
                key = f"{limit.key}|requests"
                slot = max(state.tat(con, key) or now, now)
                state.set_tat(con, key, slot + count * limit.interval)
        except (sqlite3.OperationalError, PolicyStateError) as exc:
            return _unusable(state, exc)
        finally:
            with self._mu:
                self._reserve_tasks.pop(limit.key, None)
        with self._mu:
            self._slots.setdefault(limit.key, collections.deque()).append([slot, count])
        return None

    def _block(self, limit: Paced, now: float) -> int:
        """How many slots to reserve: what this process used over the last ``SLOT_HORIZON`` (at
        least one), at most the rate's own ``SLOT_HORIZON``. Reserving by the
        limit alone would push the shared schedule ahead of what the processes use."""
        with self._mu:
            demand = self._demand.setdefault(limit.key, [0, now, 1])
            used, since, _ = demand
            rate = used / max(now - since, 0.01)
            count = max(1, min(_block_size(limit), int(rate * SLOT_HORIZON)))
            demand[:] = [0, now, count]
        return count

    def _read_units(self, key: str) -> str | None:
        state = self.state
        try:
            with state.transaction() as con:
                tat = state.tat(con, key)
        except (sqlite3.OperationalError, PolicyStateError) as exc:
            return _unusable(state, exc)
        finally:
            with self._mu:
                self._read_tasks.pop(key, None)
        with self._mu:
            self._unit_tats[key] = tat
        return None

    def _take_streams(
        self, call_id: str, limits: tuple[tuple[str, int], ...]
    ) -> tuple[tuple[str, ...], tuple[str, str, float] | str | None]:
        """Take one stream hold per ``concurrent`` limit (key, concurrent): (hold ids, None), or
        ((), (key, limit, seconds to wait)) when one is full, or ((), why) when the state cannot
        be used."""
        try:
            return self._take_streams_in(call_id, limits)
        except (sqlite3.OperationalError, PolicyStateError) as exc:
            return (), _unusable(self.state, exc)

    def _take_streams_in(
        self, call_id: str, limits: tuple[tuple[str, int], ...]
    ) -> tuple[tuple[str, ...], tuple[str, str, float] | None]:
        state = self.state
        holds: list[tuple[str, str]] = []
        with state.transaction() as con:
            state.reap(con, force=False)
            for limit_key, most in limits:
                key = f"{limit_key}|streams"
                if state.count_holds(con, key) >= most:
                    state.reap(con)
                    if state.count_holds(con, key) >= most:
                        return (), (limit_key, f"concurrent {most}", 0.05)
                holds.append((f"{call_id}|{key}", key))
            for hold_id, key in holds:
                state.hold(con, hold_id, key, 1)
        return tuple(hold_id for hold_id, _ in holds), None

    def _charge(self, charges: list[tuple[str, float]], now: float) -> None:
        state = self.state
        with _logged("charge units"), state.transaction() as con:
            for key, cost in charges:
                tat = max(state.tat(con, key) or now, now) + cost
                state.set_tat(con, key, tat)
                with self._mu:
                    self._unit_tats[key] = max(self._unit_tats.get(key) or 0.0, tat)

    def _release(self, hold_ids: list[str]) -> None:
        """Give stream holds back (a hold the state could not release now is reaped when this
        process exits)."""
        with _logged("release stream holds"), self.state.transaction() as con:
            self.state.release(con, hold_ids)

    # -- plans -----------------------------------------------------------------------------------

    def _plan(self, project: str, provider: str) -> tuple[Limit, ...]:
        from voicegateway.config.schema import parse_rate

        config = self._config()
        blocks = []
        for who in (provider, "*"):
            if who in config.rate_limits:
                blocks.append((f"provider|{who}", config.rate_limits[who]))
        try:
            project_limits = config.project(project).rate_limits
        except ValueError:
            project_limits = {}
        for who in (provider, "*"):
            if who in project_limits:
                blocks.append((f"project:{project}|{who}", project_limits[who]))
        plan = []
        for key, cfg in blocks:
            paced = None
            if cfg.requests is not None:
                count, seconds = parse_rate(cfg.requests)
                interval = seconds / count
                paced = Paced(key, interval, interval * (cfg.burst - 1), cfg.requests)
            units = tuple(
                (UNIT_OF[name], 60.0 / getattr(cfg, name))
                for name in cfg.UNITS
                if getattr(cfg, name) is not None
            )
            plan.append(
                Limit(
                    key,
                    paced,
                    cfg.concurrent,
                    units,
                    cfg.max_wait if cfg.on_limit == "wait" else 0.0,
                )
            )
        return tuple(plan)


SLOT_HORIZON = 0.25
"""A process reserves the ``requests`` slots it used in this many seconds (at least one, at most
this many seconds of the rate): N processes leave at most one block each unused, and admission
needs the shared state only once per block."""

SYNC_WAIT_MAX = 0.02
"""The longest wait ``on_limit: wait`` sleeps through on an event loop: a jitter the agent does
not notice. Longer waits are awaited by the caller instead."""


def _units(record: UsageRecord, unit: str) -> float:
    if unit == "tokens":
        return record.input_tokens + record.output_tokens
    if unit == "audio_seconds":
        return record.audio_seconds or record.audio_seconds_measured
    return record.characters


def _pending_or(
    name: str, future_of: Callable[[], concurrent.futures.Future[T]]
) -> concurrent.futures.Future[T]:
    """The task a caller that awaits is already waiting for under ``name``, else a new one."""
    waiting = awaiting.get()
    if waiting is not None and name in waiting:
        return waiting.pop(name)
    return future_of()


def _unusable(state: SharedState, exc: BaseException) -> str:
    if isinstance(exc, PolicyStateError):
        return str(exc)
    return f"the policy state {state.path} is busy ({exc}) past {state.timeout:g} s"


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """A background task whose failure only costs accuracy: logged, never raised."""
    try:
        yield
    except (sqlite3.OperationalError, PolicyStateError) as exc:
        log.warning("rate limits: could not %s: %s", what, str(exc).splitlines()[0])


def _block_size(limit: Paced) -> int:
    return max(1, min(10_000, int(SLOT_HORIZON / limit.interval)))
