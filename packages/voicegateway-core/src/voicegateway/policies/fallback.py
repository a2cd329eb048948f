"""Run-time fallback: a provider that fails or times out mid-call hands the call to the next one.

When resolution finds more than one usable candidate (a ``models:`` chain, ``fallback=`` or
``fallbacks:``), or a rate limit of the project may wait, ``voicegateway.inference`` builds every
usable candidate (:class:`Member`: its own plugin object and its own metering) and serves each call
through :func:`serve`, which the streams of :mod:`.fallback_streams` (LLM, STT, TTS) run:

- Members are tried in chain order, skipping those whose circuit is open (``policies.circuit``);
  when every circuit is open they are all tried anyway, first one first (LiveKit's
  ``FallbackAdapter`` semantics: a live conversation is never refused by the breaker alone).
- Admission (budgets, rate limits) is awaited: an ``on_limit: wait`` limit sleeps on the event
  loop, so other conversations and audio keep flowing.
- Each attempt runs with ``attempt_timeout_s`` as its timeout and no retries inside the plugin;
  :func:`classify` decides what a failure means: a timeout, a connection error (a dropped
  websocket included), a 5xx, 408 or 429 may be retried on the same provider (``retries``), a bad
  key (401/403), an unknown model (404) or any other client error goes straight to the next one.
- Once output reached the agent (an LLM chunk, TTS audio), a failure is not handed over (the
  agent already heard part of it) unless ``retry_on_chunk_sent``. STT hands over at any time: the
  audio since the last final transcript is replayed to the next provider.
- There is no background recovery task re-running requests (LiveKit's adapter has one): the
  circuit breaker decides when a failed provider gets traffic again, and that probe is a real
  call, metered and recorded like any other.

Records: every attempt is its own ``Call``. An attempt that failed and handed over ends with
``status="fallback"`` and its ``error_class``; the attempt that served carries
``fallback_from="<provider>/<model>"`` of the first member that did not serve it. An attempt
that failed with nowhere left to go ends ``error`` as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from livekit.agents._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
)
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from voicegateway.metering.call_scope import MeteredCall, Outcome
from voicegateway.metering.instrument import Instrument
from voicegateway.policies.circuit import BreakerPolicy, CircuitBreaker
from voicegateway.policies.errors import AdmissionPending, BudgetUnknown, RateLimited
from voicegateway.policies.worker import awaiting

log = logging.getLogger("voicegateway.fallback")

T = TypeVar("T")

RETRY = "retry"
"""Transient: may be retried on the same provider (``retries``), then handed over."""
NEXT = "next"
"""The provider cannot serve this request (bad key, unknown model, bad request): hand over at
once, never retry there."""

RETRY_STATUS = frozenset({408, 409, 425, 429})

DEFAULT_FALLBACK_CONN_OPTIONS = APIConnectOptions(
    max_retry=0, timeout=DEFAULT_API_CONNECT_OPTIONS.timeout
)


def classify(error: BaseException) -> str:
    """:data:`RETRY` or :data:`NEXT` for an attempt's error.

    LiveKit plugins raise ``APITimeoutError``/``APIConnectionError`` for timeouts and broken
    connections (a websocket or a stream cut mid-way included) and ``APIStatusError`` with the
    provider's status code; anything else (a bug, a ValueError from the SDK) goes to the next
    provider without a retry.
    """
    if isinstance(error, APIStatusError):
        code = error.status_code
        if code >= 500 or code in RETRY_STATUS or code < 0:
            return RETRY
        return NEXT
    if isinstance(error, (APITimeoutError, APIConnectionError, TimeoutError)):
        return RETRY
    if isinstance(error, APIError):
        return RETRY if error.retryable else NEXT
    return NEXT


def describe(error: BaseException) -> str:
    """A short reason for logs and the breaker: ``APIStatusError 401``, ``APITimeoutError``."""
    code = getattr(error, "status_code", None)
    return f"{type(error).__name__} {code}" if code not in (None, -1) else type(error).__name__


@dataclass(frozen=True, slots=True)
class FallbackSettings:
    """The resolved ``fallback_policy`` of a project (see ``config.schema.FallbackPolicy``)."""

    attempt_timeout_s: float = 5.0
    retries: int = 0
    retry_on_chunk_sent: bool = False
    breaker: BreakerPolicy = dataclasses.field(default_factory=BreakerPolicy)

    @classmethod
    def from_config(cls, policy: Any) -> FallbackSettings:
        if policy is None:
            return cls()
        return cls(
            attempt_timeout_s=policy.attempt_timeout_s,
            retries=policy.retries,
            retry_on_chunk_sent=policy.retry_on_chunk_sent,
            breaker=BreakerPolicy(failures=policy.failures, cooldown_s=policy.cooldown_s),
        )


@dataclass(eq=False)
class Member:
    """One usable candidate of a chain: its plugin object, its metering (an :class:`Instrument`
    that does not forward the plugin's errors: a failure handed over is none of the agent's) and
    its breaker."""

    plugin: Any
    provider: str
    model: str
    instrument: Instrument
    breaker: CircuitBreaker

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


Attempt = Callable[[Member, MeteredCall, "Progress"], Awaitable[T]]
"""Runs one call on one member, inside the call the loop opened and admitted (its stream created
with ``MeteredCall.open_stream``, a batch request awaited with ``MeteredCall.run``); raises to
fail the attempt.
It calls ``progress.output()`` when output reaches the agent, and ``progress.arm()`` when the
provider has what it needs to answer, unless :func:`serve` arms it at the start."""


class Progress:
    """What an attempt has delivered to the agent, and its deadline for the first output.

    After output was sent, a failure is handed over only with ``retry_on_chunk_sent``. The
    deadline (``attempt_timeout_s``) runs from :meth:`arm` to :meth:`output`: many plugins apply
    LiveKit's ``conn_options.timeout`` to connecting only, so a provider that accepts the request
    and then stalls would otherwise hold the call until the agent gives up.
    """

    __slots__ = ("armed", "first_output", "sent", "timed_out")

    def __init__(self) -> None:
        self.sent = False
        self.timed_out = False
        self.armed = asyncio.Event()
        self.first_output = asyncio.Event()

    def arm(self) -> None:
        """Start the clock: the provider has all it needs to answer."""
        self.armed.set()

    def output(self) -> None:
        """Output reached the agent."""
        self.sent = True
        self.first_output.set()


async def _run_attempt(
    attempt: Attempt[T], member: Member, call: MeteredCall, progress: Progress, timeout: float
) -> T:
    """Run one attempt; raise ``APITimeoutError`` when it armed its clock and produced no
    output within ``timeout`` seconds."""
    task = asyncio.ensure_future(attempt(member, call, progress))

    async def watch() -> None:
        await progress.armed.wait()
        try:
            await asyncio.wait_for(progress.first_output.wait(), timeout)
        except TimeoutError:
            progress.timed_out = True
            task.cancel()

    watchdog = asyncio.ensure_future(watch())
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if progress.timed_out and not (current and current.cancelling()):
            raise APITimeoutError(f"no output from {member.label} within {timeout} s") from None
        raise
    finally:
        watchdog.cancel()


async def _admit(member: Member, failed_from: str | None, opening: dict[str, Any]) -> MeteredCall:
    """Open and admit an attempt, awaiting what admission needs (a policy-state task: a lease
    refill, a rate-limit decision; the waits an ``on_limit: wait`` rate limit asks for), so the
    event loop keeps serving every other conversation meanwhile. Each try is a new call: one that
    was not admitted was unwound."""
    token = awaiting.set({})
    try:
        while True:
            metered = member.instrument.call(fallback_from=failed_from, owned=True, **opening)
            try:
                return metered.admit()
            except AdmissionPending as pending:
                try:
                    await asyncio.wait_for(
                        asyncio.shield(asyncio.wrap_future(pending.future)), pending.timeout
                    )
                except TimeoutError:
                    error = BudgetUnknown(
                        pending.project,
                        f"the policy state did not answer within {pending.timeout:g} s "
                        "(another process may be stuck in a transaction)",
                    )
                    metered.refuse(error)
                    raise error from None
            except RateLimited as limited:
                if limited.may_wait < limited.retry_after:
                    raise
                await asyncio.sleep(limited.retry_after)
    finally:
        awaiting.reset(token)


def _order(modality: str, members: list[Member]) -> tuple[list[tuple[Member, bool]], str | None]:
    """Members to try, with whether the breaker let them through (every member when all
    circuits are open), and the first member skipped for its open circuit."""
    allowed, skipped = [], None
    for member in members:
        if member.breaker.allow():
            allowed.append((member, True))
        else:
            log.warning("%s %s skipped: %s", modality, member.label, member.breaker.blocked())
            skipped = skipped or member.label
    if allowed:
        return allowed, skipped
    log.error("%s: every circuit of the chain is open; trying them all, first one first", modality)
    return [(m, False) for m in members], None


async def serve(
    modality: str,
    members: list[Member],
    settings: FallbackSettings,
    attempt: Attempt[T],
    *,
    armed: bool = True,
    **opening: Any,
) -> tuple[Member, T]:
    """Run one call through the first member that serves it (see the module docstring); returns
    that member and what its attempt returned. ``armed=False`` leaves starting the first-output
    deadline to the attempt (a stream that waits for the agent's input). ``opening`` goes to
    :meth:`Instrument.call` (the prompt, the text to speak, the audio). Each attempt is a call
    whose :class:`Outcome` is set before it ends: served, handed over, error or cancelled."""
    refused: BaseException | None = None
    failures: list[str] = []
    order, failed_from = _order(modality, members)
    for position, (member, claimed) in enumerate(order):
        last_member = position == len(order) - 1
        for attempt_no in range(settings.retries + 1):
            try:
                metered = await _admit(member, failed_from, opening)
            except Exception as exc:  # refused at admission (budget, rate limit)
                if claimed:
                    member.breaker.release()
                log.warning("%s %s refused the call: %s", modality, member.label, exc)
                refused = exc
                failures.append(f"{member.label}: refused ({exc})")
                failed_from = failed_from or member.label
                break
            progress = Progress()
            if armed:
                progress.arm()
            with metered:
                try:
                    result = await _run_attempt(
                        attempt, member, metered, progress, settings.attempt_timeout_s
                    )
                except asyncio.CancelledError:
                    metered.close(Outcome.CANCELLED)
                    if claimed:
                        member.breaker.release()
                    raise
                except Exception as exc:
                    reason = describe(exc)
                    member.breaker.failure(reason)
                    again = (
                        classify(exc) == RETRY
                        and attempt_no < settings.retries
                        and member.breaker.blocked() is None
                    )
                    can_hand_over = not progress.sent or settings.retry_on_chunk_sent
                    hand_over = can_hand_over and (again or not last_member)
                    metered.close(Outcome.HANDED_OVER if hand_over else Outcome.ERROR, exc)
                    failures.append(f"{member.label}: {reason}")
                    if not can_hand_over:
                        log.error(
                            "%s %s failed mid-output, not handed over: %s",
                            modality,
                            member.label,
                            exc,
                        )
                        raise
                    if again:
                        log.warning(
                            "%s %s failed (%s), retrying it", modality, member.label, reason
                        )
                        claimed = False
                        continue
                    if not last_member:
                        log.warning(
                            "%s %s failed (%s), handing over", modality, member.label, reason
                        )
                    failed_from = failed_from or member.label
                    break
                metered.close(Outcome.SERVED)
            member.breaker.success()
            if failures or (failed_from and failed_from != member.label):
                why = "; ".join(failures) or f"{failed_from}: its circuit is open"
                log.warning(
                    "%s %s served the call instead of %s (%s)",
                    modality,
                    member.label,
                    members[0].label,
                    why,
                )
            return member, result
    if refused is not None and all("refused (" in f for f in failures):
        raise refused  # nothing failed: every candidate was refused at admission
    raise APIConnectionError(
        f"every {modality.upper()} of the chain failed: "
        + "; ".join(failures or ["none could be tried"]),
        retryable=False,
    )
