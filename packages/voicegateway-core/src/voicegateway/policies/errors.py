"""The errors budgets and rate limits raise when they refuse a call (the policy state's own,
``PolicyStateError``, is :mod:`voicegateway.policy_state`'s).

Every refusal is a :class:`Refused` (``BudgetExceeded``, ``BudgetUnknown``, ``RateLimited``,
``RateLimitUnknown``): the call leaves a ``refused`` record with the reason, and
inside an ``AgentSession`` it reaches the session's ``error`` event as a non-recoverable error.
"""

from __future__ import annotations

from concurrent.futures import Future
from decimal import Decimal

from voicegateway.errors import VoiceGatewayError


def dollars(amount: Decimal) -> str:
    """``$0.001``, ``$10``, ``$0.0035``: every digit there is, no trailing zeros or exponent."""
    return f"${amount.normalize():f}"


class Refused(VoiceGatewayError):
    """A policy refused a new call (base of the three refusals below)."""


class BudgetExceeded(Refused):
    """A ``block`` budget's spend (settled plus what calls in flight hold) has reached its limit.
    Calls already in flight finish and are recorded."""

    def __init__(self, project: str, period: str, limit: Decimal, spend: Decimal) -> None:
        self.project, self.period, self.limit, self.spend = project, period, limit, spend
        super().__init__(
            f"project {project!r}: the {period} budget of {dollars(limit)} is used up "
            f"({dollars(spend)} settled or held by calls in flight); raise "
            f"projects.{project}.budget in voicegw.yaml or wait for the next period"
        )


class BudgetUnknown(Refused):
    """A ``block`` budget cannot know its spend (the policy state is not seeded, unreadable, or
    busy past its timeout), so it refuses rather than risk overspending."""

    def __init__(self, project: str, reason: str) -> None:
        self.project, self.reason = project, reason
        super().__init__(f"project {project!r}: the block budget cannot be enforced: {reason}")


class RateLimited(Refused):
    """A rate limit refused a call; ``retry_after`` is in seconds."""

    def __init__(self, key: str, limit: str, retry_after: float, *, may_wait: float = 0.0) -> None:
        self.key, self.limit, self.retry_after = key, limit, retry_after
        self.may_wait = may_wait
        """Seconds an asynchronous caller may still wait for it (``on_limit: wait``), 0 if none."""
        super().__init__(f"rate limit {limit} of {key} reached: retry after {retry_after:.3f} s")


class RateLimitUnknown(Refused):
    """A rate limit cannot be checked (the policy state is unreadable, or busy past its timeout),
    so the call is refused rather than sent past the limit."""

    def __init__(self, project: str, provider: str, reason: str) -> None:
        self.project, self.provider, self.reason = project, provider, reason
        super().__init__(
            f"project {project!r}: the rate limits of {provider} cannot be checked: {reason}"
        )


class AdmissionPending(VoiceGatewayError):
    """Not a refusal: admission needs the policy state (a lease refill), which a background
    thread is fetching. Raised only to a caller that awaits (``fallback.serve``): it awaits
    ``future`` for at most ``timeout`` seconds, then asks again."""

    def __init__(self, project: str, future: Future, timeout: float) -> None:
        self.project, self.future, self.timeout = project, future, timeout
        super().__init__(f"project {project!r}: admission is waiting for the policy state")
