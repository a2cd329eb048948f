"""``Policies``: the budgets and rate limits of one process, two ordinary chain steps.

Budgets go first: a call the rate limits then refuse (or make wait) unwinds the budget step, and
giving its reservation back is a local dict operation, while a rate-limit admission takes slots
in the shared state. The chain nests (``MiddlewareChain``), so no step has to undo another's
work: ``Policies`` is the two steps as a chain of their own, over one ``SharedState`` and one
``PolicyWorker`` thread, placed as one step after ``CostTracking`` (settling needs the cost).
What it adds to a chain of the two is speed on the hot path: its admission is written out for
the two steps, and a call no rate limit applies to skips the rate-limit step (a dict look-up
instead of the step's call).
"""

from __future__ import annotations

from typing import Any

from voicegateway.metering.middleware import MiddlewareChain
from voicegateway.policies.budgets import Budgets
from voicegateway.policies.limits import RateLimits
from voicegateway.policies.worker import STATE_TIMEOUT, PolicyWorker
from voicegateway.policy_state import SharedState
from voicegateway.records import Call


class Policies(MiddlewareChain):
    """``Policies(config, state=None, **budget_options)``: ``.budgets`` and ``.limits`` are the
    two steps (``policies.budgets.exhausted(project, provider)``). ``state`` defaults to the
    config's ``<storage.path>.policies.sqlite``, opened on first use."""

    name = "policies"

    def __init__(self, config: Any, state: SharedState | None = None, **budget_options: Any):
        self._config = config
        self.worker = PolicyWorker(interval=0.25)
        state = state or SharedState.for_storage(config.storage, timeout=STATE_TIMEOUT)
        self.budgets = Budgets(config, state, worker=self.worker, **budget_options)
        self.limits = RateLimits(config, state, worker=self.worker)
        super().__init__((self.budgets, self.limits))
        self._unlimited = _Unlimited(self.limits)

    def on_call_start(self, call: Call) -> None:
        """The chain's admission written out for its two steps, the hot path of every call (a
        frame and a loop less than the generic one: about 1 µs a rate-limited call here); a call
        that no rate limit applies to skips that step, which would admit it anyway."""
        self.budgets.on_call_start(call)
        if self._unlimited[(call.project, call.provider)]:
            return
        try:
            self.limits.on_call_start(call)
        except BaseException:
            self._unwind(call, self.limits)  # the budget's reservation goes back
            raise

    def applies(self, project: str, provider: str) -> bool:
        """Whether a call of ``project`` on ``provider`` may be refused or made to wait: its
        calls are then served where admission can be awaited (``fallback.serve``)."""
        try:
            budget = self._config.project(project).budget
        except ValueError:
            budget = None
        return budget is not None or bool(self.limits.limits(project, provider))


class _Unlimited(dict):
    """(project, provider) -> True when no rate limit applies to it (computed once)."""

    def __init__(self, limits: RateLimits) -> None:
        super().__init__()
        self._limits = limits

    def __missing__(self, key: tuple[str, str]) -> bool:
        unlimited = self[key] = not self._limits.limits(*key)
        return unlimited
