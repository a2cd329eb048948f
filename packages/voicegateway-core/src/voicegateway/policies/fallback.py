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

from voicegateway.metering.estimate import output_cap
from voicegateway.metering.instrument import (
    Instrument,
    _count_pushed_audio,
    _count_pushed_text,
    forget_refused,
)
from voicegateway.policies.circuit import BreakerPolicy, CircuitBreaker
from voicegateway.policies.errors import AdmissionPending, BudgetUnknown, RateLimited
from voicegateway.policies.worker import awaiting
from voicegateway.records import Call, UsageRecord

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


@dataclass
class _Attempt:
    handed_over: bool | None = None  # None: the adapter has not decided yet
    ended: tuple[Any, Any] | None = None  # what end() was called with before the decision
    error: BaseException | None = None  # what the adapter saw (a timeout it raised itself)
    cancelled: list[UsageRecord] = dataclasses.field(default_factory=list)
    """Reports of the attempt's stream being cancelled (by the deadline, or the failure of a
    sibling task), held until the verdict says what they are: ``fallback`` or ``error``."""


class AttemptInstrument(Instrument):
    """The metering of one member: an :class:`Instrument` whose calls the adapter opens and
    settles, so an attempt that handed over is recorded ``fallback``, not ``error``.

    The plugin's ``error`` events are not re-emitted on the wrapper: a failure that was handed
    over is no error for the agent, and the adapter's own stream reports the final one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempts: dict[str, _Attempt] = {}
        self._unmarked: set[str] = set()  # handed over, and no record says so yet

    def open_attempt(
        self,
        fallback_from: str | None,
        *,
        chat_ctx: Any = None,
        text: str | None = None,
        audio_seconds: float = 0.0,
    ) -> Call:
        """Open a call for one attempt (the chain's start steps may refuse it by raising); the
        arguments are those of :meth:`open_call`, plus a batch recognition's audio."""
        call = self._new_call()
        if fallback_from is not None:
            call.fallback_from = fallback_from
        call.chat_ctx = chat_ctx
        if text is not None:
            call.chars_pending = len(text)
        call.audio_pending = audio_seconds
        if self._modality == "llm":
            call.output_cap = output_cap(self._inner)
        self.start(call)
        self._open.add(call.call_id)
        self._attempts[call.call_id] = _Attempt()
        return call

    def refuse(self, fallback_from: str | None, error: Exception) -> None:
        """Record a call refused outside the chain (admission gave up waiting for the state)."""
        call = self._new_call()
        call.fallback_from = fallback_from
        self._refused(call, error)

    def attempt_stream(
        self, call: Call, create: Callable[[], Any], *, count_pushed: bool = True
    ) -> Any:
        """Create the plugin's stream inside ``call`` (what ``stream_call`` does for a call it
        opened itself). ``count_pushed=False`` for a LiveKit ``StreamAdapter`` around a plugin
        that cannot stream: it sends sentences without the whitespace between them, and the
        plugin reports each one, so what it bills is what it reports."""
        try:
            with self.scope(call):
                stream = create()
        except BaseException as exc:
            self.end(call, error=exc)  # kept until the adapter settles the attempt
            raise
        if self._modality == "stt" and count_pushed:
            _count_pushed_audio(stream, call)
        elif self._modality == "tts" and not call.chars_pending:
            if count_pushed:
                _count_pushed_text(stream, call)
            else:
                call.text_counted = False
        main_task = getattr(stream, "_task", None) or getattr(stream, "_synthesize_task", None)
        self._end_when_done(call, stream, main_task)
        return stream

    def settle(self, call: Call, *, handed_over: bool, error: BaseException | None = None) -> None:
        """The adapter's verdict on an attempt; ends the call if its stream is already done."""
        attempt = self._attempts.get(call.call_id)
        if attempt is None:
            return
        attempt.handed_over, attempt.error = handed_over, error
        if attempt.ended is not None:
            self.end(call, *attempt.ended)

    def end(
        self, call: Call, task: asyncio.Future | None = None, error: BaseException | None = None
    ) -> None:
        attempt = self._attempts.get(call.call_id)
        if attempt is not None:
            if attempt.handed_over is None:
                attempt.ended = (task, error)  # wait for the adapter's verdict
                return
            del self._attempts[call.call_id]
            if attempt.handed_over and not call.ended:
                seen = attempt.error or error
                if seen is None and task is not None and task.done() and not task.cancelled():
                    seen = task.exception()
                if seen is not None and not isinstance(seen, asyncio.CancelledError):
                    call.status, call.error_class = "fallback", type(seen).__name__
                    forget_refused(call, seen)
                    task = error = None
            elif attempt.error is not None and error is None:
                error = attempt.error  # a failure the adapter saw and the stream's task did not
            if self._release_cancelled(call, attempt, error) == 0 and call.status == "fallback":
                self._unmarked.add(call.call_id)
        super().end(call, task, error)

    def _closing_record(self, call: Call) -> UsageRecord | None:
        record = super()._closing_record(call)
        if call.call_id in self._unmarked:
            self._unmarked.discard(call.call_id)
            if record is None:
                # the provider had reported usage before it failed (a dropped stream): this
                # record, with no units, marks where the call moved on
                record = UsageRecord.for_call(call)
                record.status, record.error_class = call.status, call.error_class
        return record

    def _account(self, call: Call, record: UsageRecord, metrics: Any) -> bool:
        if not super()._account(call, record, metrics):
            return False
        attempt = self._attempts.get(call.call_id)
        if attempt is not None and record.status == "cancelled":
            attempt.cancelled.append(record)
            return False
        return True

    def _release_cancelled(
        self, call: Call, attempt: _Attempt, error: BaseException | None
    ) -> None:
        for record in attempt.cancelled:
            if call.status == "fallback":
                record.status, record.error_class = "fallback", call.error_class
            elif error is not None and not isinstance(error, asyncio.CancelledError):
                record.status, record.error_class = "error", type(error).__name__
            self._chain.usage(call, record)
        return len(attempt.cancelled)

    def _on_error(self, error: Any) -> None:
        pass


@dataclass(eq=False)
class Member:
    """One usable candidate of a chain: its plugin object, its metering and its breaker."""

    plugin: Any
    provider: str
    model: str
    instrument: AttemptInstrument
    breaker: CircuitBreaker

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


Attempt = Callable[[Member, Call, "Progress"], Awaitable[T]]
"""Runs one call on one member, inside the call the loop opened; raises to fail the attempt.
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
    attempt: Attempt[T], member: Member, call: Call, progress: Progress, timeout: float
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


async def _admit(member: Member, failed_from: str | None, opening: dict[str, Any]) -> Call:
    """Open an attempt, awaiting what admission needs (a policy-state task: a lease refill, a
    rate-limit decision; the waits an ``on_limit: wait`` rate limit asks for), so the event loop
    keeps serving every other conversation meanwhile."""
    token = awaiting.set({})
    try:
        while True:
            try:
                return member.instrument.open_attempt(failed_from, **opening)
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
                    member.instrument.refuse(failed_from, error)
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
    :meth:`~AttemptInstrument.open_attempt` (the prompt, the text to speak, the audio)."""
    refused: BaseException | None = None
    failures: list[str] = []
    order, failed_from = _order(modality, members)
    for position, (member, claimed) in enumerate(order):
        last_member = position == len(order) - 1
        for attempt_no in range(settings.retries + 1):
            try:
                call = await _admit(member, failed_from, opening)
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
            try:
                result = await _run_attempt(
                    attempt, member, call, progress, settings.attempt_timeout_s
                )
            except asyncio.CancelledError:
                member.instrument.settle(call, handed_over=False)
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
                member.instrument.settle(call, handed_over=hand_over, error=exc)
                failures.append(f"{member.label}: {reason}")
                if not can_hand_over:
                    log.error(
                        "%s %s failed mid-output, not handed over: %s", modality, member.label, exc
                    )
                    raise
                if again:
                    log.warning("%s %s failed (%s), retrying it", modality, member.label, reason)
                    claimed = False
                    continue
                if not last_member:
                    log.warning("%s %s failed (%s), handing over", modality, member.label, reason)
                failed_from = failed_from or member.label
                break
            else:
                member.instrument.settle(call, handed_over=False)
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
