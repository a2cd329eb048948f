"""A circuit breaker per provider: stop sending calls to a provider that keeps failing.

States: ``closed`` (calls go through; consecutive failures are counted), ``open`` (after
``failures`` consecutive failures: the provider is skipped, at resolve time and at run time, for
``cooldown_s`` seconds), ``half_open`` (the cool-down is over: one call goes through as a probe;
its success closes the circuit, its failure opens it for another cool-down). A probe is an
ordinary call, metered and recorded like any other.

Breakers live in this process (a dict keyed by provider id). Every LiveKit job process learns
about a failing provider on its own; sharing the state across processes is left for later.
Standard library only; no LiveKit import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long. ``failures=0`` disables the breaker."""

    failures: int = 3
    cooldown_s: float = 30.0


class CircuitBreaker:
    """The state of one provider's circuit. Thread-safe; every method is a few µs."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy = BreakerPolicy(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.last_error: str | None = None

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (open, and the cool-down is over)."""
        with self._lock:
            return self._current()

    def _current(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self.policy.cooldown_s:
            return HALF_OPEN
        return self._state

    def blocked(self) -> str | None:
        """Why calls must skip this provider now, or None when one may go through. Does not
        claim the probe (resolution asks this; the call that follows claims it)."""
        with self._lock:
            state = self._current()
            if state == OPEN:
                left = self.policy.cooldown_s - (self._clock() - self._opened_at)
                why = f": {self.last_error}" if self.last_error else ""
                return (
                    f"its circuit is open after {self._failures} failures{why}; "
                    f"probed again in {left:.0f}s"
                )
            if state == HALF_OPEN and self._probing:
                return "its circuit is half-open and a probe call is in flight"
            return None

    def allow(self) -> bool:
        """May a call go to this provider now? In ``half_open`` the first caller gets the probe
        (and must report :meth:`success` or :meth:`failure`); others are refused until then."""
        with self._lock:
            state = self._current()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._probing:
                self._probing = True
                self._state = HALF_OPEN
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._state, self._failures, self._probing = CLOSED, 0, False
            self.last_error = None

    def failure(self, error: str | None = None) -> None:
        with self._lock:
            self._failures += 1
            self.last_error = error
            probe_failed = self._state == HALF_OPEN
            self._probing = False
            limit = self.policy.failures
            if probe_failed or (limit > 0 and self._failures >= limit):
                self._state, self._opened_at = OPEN, self._clock()

    def release(self) -> None:
        """A probe that ended without a verdict (cancelled): let the next call probe."""
        with self._lock:
            self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r}, failures={self._failures})"


_breakers: dict[str, CircuitBreaker] = {}
_lock = threading.Lock()


def breaker(name: str, policy: BreakerPolicy | None = None) -> CircuitBreaker:
    """The process's breaker for provider ``name`` (created on first use). A ``policy`` given
    later replaces the thresholds of an existing breaker; its state is kept."""
    with _lock:
        found = _breakers.get(name)
        if found is None:
            found = _breakers[name] = CircuitBreaker(name, policy or BreakerPolicy())
        elif policy is not None:
            found.policy = policy
        return found


def blocked(name: str) -> str | None:
    """Why provider ``name`` is skipped now, or None (no breaker yet means closed)."""
    found = _breakers.get(name)
    return found.blocked() if found is not None else None


def reset() -> None:
    """Forget every breaker (tests, or a config reload)."""
    with _lock:
        _breakers.clear()
