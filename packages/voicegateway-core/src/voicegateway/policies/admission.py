"""``Policies``: budgets then rate limits as one chain step, so that a call one of them refuses
holds nothing in the other.

``MiddlewareChain.start`` does not call ``on_call_end`` on the steps that already admitted a call
when a later step refuses it; as two separate steps, a call refused by its rate limit would keep
its budget reservation. Budgets go first: giving a reservation back is a local dict operation,
while a rate-limit admission takes slots in the shared state. Place this one step after
``CostTracking``. Both steps share one policy worker thread and one ``SharedState``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicegateway.metering.middleware import Middleware
from voicegateway.policies.budgets import Budgets
from voicegateway.policies.limits import RateLimits
from voicegateway.policies.worker import STATE_TIMEOUT, PolicyWorker
from voicegateway.policy_state import SharedState, state_path
from voicegateway.records import Call, UsageRecord


class Policies(Middleware):
    """``Policies(config, state=None, **budget_options)``: ``.budgets`` and ``.limits`` are the
    two steps (``policies.budgets.exhausted(project, provider)``). ``config`` may be a function
    returning the config (the gateway loads it late); the state opens on first use."""

    name = "policies"

    def __init__(self, config: Any, state: SharedState | None = None, **budget_options: Any):
        get = config if callable(config) else (lambda: config)
        self._config = get
        self.worker = PolicyWorker(interval=0.25)
        state = state or _LazyState(get)
        self.budgets = Budgets(get, state, worker=self.worker, **budget_options)  # type: ignore[arg-type]
        self.limits = RateLimits(get, state, worker=self.worker)  # type: ignore[arg-type]
        self._unlimited = _Unlimited(self.limits)

    def applies(self, project: str, provider: str) -> bool:
        """Whether a call of ``project`` on ``provider`` may be refused or made to wait: its
        calls are then served where admission can be awaited (``fallback.serve``)."""
        try:
            budget = self._config().project(project).budget
        except ValueError:
            budget = None
        return budget is not None or bool(self.limits.limits(project, provider))

    def on_call_start(self, call: Call) -> None:
        self.budgets.on_call_start(call)
        if self._unlimited[(call.project, call.provider)]:
            return  # no rate limit applies: spare the step's own look-up
        try:
            self.limits.on_call_start(call)
        except BaseException:
            self.budgets.on_call_end(call)  # gives the reservation back to the local lease
            raise

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        self.limits.on_usage(call, record)
        self.budgets.on_usage(call, record)

    def on_call_end(self, call: Call) -> None:
        try:
            self.limits.on_call_end(call)
        finally:
            self.budgets.on_call_end(call)


class _LazyState(SharedState):
    """The config's shared state, its path known on first use (the gateway loads its config
    late). Used only from the policy worker thread."""

    def __init__(self, config) -> None:
        self._get_config = config
        self._path: Path | None = None
        super().__init__("", timeout=STATE_TIMEOUT)

    @property  # type: ignore[override]
    def path(self) -> Path:
        if self._path is None:
            self._path = state_path(self._get_config().storage)
        return self._path

    @path.setter
    def path(self, value: Path) -> None:
        self._path = None if str(value) in ("", ".") else Path(value)


class _Unlimited(dict):
    """(project, provider) -> True when no rate limit applies to it (computed once)."""

    def __init__(self, limits: RateLimits) -> None:
        super().__init__()
        self._limits = limits

    def __missing__(self, key: tuple[str, str]) -> bool:
        unlimited = self[key] = not self._limits.limits(*key)
        return unlimited
