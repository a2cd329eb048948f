"""``Policies``: rate limits then budgets as one chain step, so that a call one of them refuses
holds nothing in the other.

``MiddlewareChain.start`` does not call ``on_call_end`` on the steps that already admitted a call
when a later step refuses it; as two separate steps, a call refused by its budget would keep its
``concurrent`` slot until its process exits. Place this one step after ``CostTracking``.
"""

from __future__ import annotations

from typing import Any

from voicegateway.metering.middleware import Middleware
from voicegateway.metering.records import Call, UsageRecord
from voicegateway.policies.budgets import Budgets
from voicegateway.policies.limits import RateLimits
from voicegateway.policies.state import SharedState


class Policies(Middleware):
    """``Policies(config, state=None, *, lease=None, **budget_options)``: one ``SharedState`` for
    both; ``.budgets`` and ``.limits`` are the two steps (``policies.budgets.exhausted(project,
    provider)``). ``lease`` (a fraction, e.g. 0.1) uses ``LeasedBudgets`` for ``block`` budgets."""

    name = "policies"

    def __init__(
        self,
        config: Any,
        state: SharedState | None = None,
        *,
        lease: float | None = None,
        **budget_options: Any,
    ) -> None:
        if state is None:
            get = config if callable(config) else (lambda: config)
            state = _LazyState(get)
        self.limits = RateLimits(config, state)  # type: ignore[arg-type]
        if lease is None:
            self.budgets = Budgets(config, state, **budget_options)  # type: ignore[arg-type]
        else:
            from voicegateway.policies.leases import LeasedBudgets

            self.budgets = LeasedBudgets(config, state, lease=lease, **budget_options)  # type: ignore[arg-type]

    def on_call_start(self, call: Call) -> None:
        self.limits.on_call_start(call)
        try:
            self.budgets.on_call_start(call)
        except BaseException:
            self.limits.on_call_end(call)
            raise

    def on_usage(self, call: Call, record: UsageRecord) -> None:
        self.limits.on_usage(call, record)
        self.budgets.on_usage(call, record)

    def on_call_end(self, call: Call) -> None:
        try:
            self.limits.on_call_end(call)
        finally:
            self.budgets.on_call_end(call)


class _LazyState:
    """The config's shared state, opened on first use (the gateway loads its config late)."""

    def __init__(self, config) -> None:
        self._config = config
        self._state: SharedState | None = None

    def __getattr__(self, name: str) -> Any:
        if self._state is None:
            self._state = SharedState.for_storage(self._config().storage)
        return getattr(self._state, name)
