"""The errors a budget or a rate limit raises when it refuses a call."""

from __future__ import annotations

from decimal import Decimal

from voicegateway.errors import VoiceGatewayError


class BudgetExceeded(VoiceGatewayError):
    """A ``block`` budget refused a new call. Calls already in flight finish and are recorded."""

    def __init__(
        self, project: str, period: str, limit: Decimal, spend: Decimal, estimate: Decimal
    ) -> None:
        self.project, self.period, self.limit, self.spend = project, period, limit, spend
        self.estimate = estimate
        super().__init__(
            f"project {project!r}: the {period} budget of ${limit:.2f} is used up: "
            f"${spend:.4f} spent or reserved by calls in flight, and this call may cost up to "
            f"${estimate:.4f}; raise projects.{project}.budget in voicegw.yaml or wait for the "
            "next period"
        )


class RateLimited(VoiceGatewayError):
    """A rate limit refused a call; ``retry_after`` is in seconds."""

    def __init__(self, key: str, limit: str, retry_after: float, *, may_wait: float = 0.0) -> None:
        self.key, self.limit, self.retry_after = key, limit, retry_after
        self.may_wait = may_wait
        """Seconds an asynchronous caller may still wait for it (``on_limit: wait``), 0 if none."""
        super().__init__(f"rate limit {limit} of {key} reached: retry after {retry_after:.3f} s")
