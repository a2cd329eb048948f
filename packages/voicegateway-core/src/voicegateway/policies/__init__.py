"""Policies: budgets, rate limits and fallback chains.

Budgets and rate limits (docs/policies.md) hold across the processes of one machine:

- :mod:`voicegateway.policy_state`: :class:`SharedState`, the SQLite database (WAL) next to the
  ledger that every process of the machine decides in, and that releases what a dead process held.
- :mod:`.budgets`: :class:`Budgets`, the middleware step that reserves, refuses and settles.
- :mod:`.limits`: :class:`RateLimits`, GCRA request rates, units per minute, concurrent calls.
- :mod:`.worker`: :class:`~.worker.PolicyWorker`, the thread that talks to the state (never the
  event loop).
- :mod:`.notify`: webhook alerts for threshold crossings.
- :mod:`.admission`: :class:`Policies`, both steps (budgets first) over one state and worker.
- :mod:`.errors`: :class:`BudgetExceeded`, :class:`BudgetUnknown`, :class:`RateLimited`,
  :class:`RateLimitUnknown` (all :class:`Refused`), :class:`PolicyStateError`.

The names below load on first use (PEP 562): importing this package (or one of its modules, such
as ``.circuit``) imports nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicegateway._lazy import lazy_attributes

if TYPE_CHECKING:
    from voicegateway.policies.admission import Policies
    from voicegateway.policies.budgets import Budgets
    from voicegateway.policies.errors import (
        BudgetExceeded,
        BudgetUnknown,
        RateLimited,
        RateLimitUnknown,
        Refused,
    )
    from voicegateway.policies.limits import RateLimits
    from voicegateway.policy_state import PolicyStateError, SharedState

__all__ = [
    "BudgetExceeded",
    "BudgetUnknown",
    "Budgets",
    "Policies",
    "PolicyStateError",
    "RateLimitUnknown",
    "RateLimited",
    "RateLimits",
    "Refused",
    "SharedState",
]

_LAZY = {
    "Budgets": "voicegateway.policies.budgets",
    "Policies": "voicegateway.policies.admission",
    "BudgetExceeded": "voicegateway.policies.errors",
    "BudgetUnknown": "voicegateway.policies.errors",
    "PolicyStateError": "voicegateway.policy_state",
    "Refused": "voicegateway.policies.errors",
    "RateLimitUnknown": "voicegateway.policies.errors",
    "RateLimited": "voicegateway.policies.errors",
    "RateLimits": "voicegateway.policies.limits",
    "SharedState": "voicegateway.policy_state",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
