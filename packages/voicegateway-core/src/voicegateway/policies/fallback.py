"""Run-time fallback: a provider that fails or times out mid-call hands the call to the next one.

When resolution finds more than one usable candidate for an LLM (a ``models:`` chain, ``fallback=``
or ``fallbacks:``), ``inference.LLM`` builds every one of them (:class:`Member`: its own plugin
object and its own metering) and serves each ``chat()`` through :class:`FallbackLLMStream`:

- Members are tried in chain order, skipping those whose circuit is open (``policies.circuit``);
  when every circuit is open they are all tried anyway, first one first (LiveKit's
  ``FallbackAdapter`` semantics: a live conversation is never refused by the breaker alone).
- Each attempt runs with ``attempt_timeout_s`` as its timeout and no retries inside the plugin;
  :func:`classify` decides what a failure means: a timeout, a connection error, a 5xx, 408 or 429
  may be retried on the same provider (``retries``), a bad key (401/403), an unknown model (404)
  or any other client error goes straight to the next provider.
- After the first chunk reached the agent, a failure is not handed over (the agent already heard
  part of the reply) unless ``retry_on_chunk_sent``.
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.agents import llm
from livekit.agents._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
)
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from voicegateway.metering.instrument import (
    Instrument,
    _count_pushed_audio,
    _count_pushed_text,
)
from voicegateway.metering.records import Call
from voicegateway.policies.circuit import BreakerPolicy, CircuitBreaker
from voicegateway.policies.errors import RateLimited

log = logging.getLogger("voicegateway.fallback")

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


class AttemptInstrument(Instrument):
    """The metering of one member: an :class:`Instrument` whose calls the adapter opens and
    settles, so an attempt that handed over is recorded ``fallback``, not ``error``.

    The plugin's ``error`` events are not re-emitted on the wrapper: a failure that was handed
    over is no error for the agent, and the adapter's own stream reports the final one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempts: dict[str, _Attempt] = {}

    def open_attempt(self, fallback_from: str | None) -> Call:
        """Open a call for one attempt (the chain's start steps may refuse it by raising)."""
        call = self._new_call()
        if fallback_from is not None:
            call.fallback_from = fallback_from
        self._chain.start(call)
        self._open.add(call.call_id)
        self._attempts[call.call_id] = _Attempt()
        return call

    def attempt_stream(self, call: Call, create: Callable[[], Any], *, chat_ctx: Any = None):
        """Create the plugin's stream inside ``call`` (what ``stream_call`` does for a call it
        opened itself)."""
        call.chat_ctx = chat_ctx
        try:
            with self.scope(call):
                stream = create()
        except BaseException as exc:
            self.end(call, error=exc)  # kept until the adapter settles the attempt
            raise
        if self._modality == "stt":
            _count_pushed_audio(stream, call)
        elif self._modality == "tts":
            _count_pushed_text(stream, call)
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
                    task = error = None
            elif attempt.error is not None and error is None:
                error = attempt.error  # a failure the adapter saw and the stream's task did not
        super().end(call, task, error)

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


async def _admit(member: Member, failed_from: str | None) -> Call:
    """Open an attempt, awaiting the waits an ``on_limit: wait`` rate limit asks for, so the
    event loop keeps serving every other conversation meanwhile."""
    while True:
        try:
            return member.instrument.open_attempt(failed_from)
        except RateLimited as limited:
            if limited.may_wait < limited.retry_after:
                raise
            await asyncio.sleep(limited.retry_after)


class FallbackLLMStream(llm.LLMStream):
    """One ``chat()`` served by the first member that can (see the module docstring).

    Chunks are passed through as they arrive; usage is metered by each member's instrument
    (re-emitted on the wrapper, labelled with the serving member), so this stream's own metrics
    task emits nothing.
    """

    _llm_attempt_span_name = None
    _genai_operation_name = None

    def __init__(
        self,
        owner: Any,
        members: list[Member],
        settings: FallbackSettings,
        *,
        chat_ctx: Any,
        tools: list[Any] | None,
        conn_options: APIConnectOptions,
        extra: dict[str, Any],
    ) -> None:
        self._members = members
        self._settings = settings
        self._extra = extra
        self._current: llm.LLMStream | None = None
        self._owner = owner
        super().__init__(
            owner,
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=dataclasses.replace(conn_options, max_retry=0),
        )

    @property
    def chat_ctx(self) -> Any:
        return self._chat_ctx if self._current is None else self._current.chat_ctx

    @property
    def tools(self) -> list[Any]:
        return self._tools if self._current is None else self._current.tools

    def _order(self) -> tuple[list[tuple[Member, bool]], str | None]:
        """Members to try, with whether the breaker let them through (every member when all
        circuits are open), and the first member skipped for its open circuit."""
        allowed, skipped = [], None
        for member in self._members:
            if member.breaker.allow():
                allowed.append((member, True))
            else:
                log.warning("llm %s skipped: %s", member.label, member.breaker.blocked())
                skipped = skipped or member.label
        if allowed:
            return allowed, skipped
        log.error("llm: every circuit of the chain is open; trying them all, first one first")
        return [(m, False) for m in self._members], None

    async def _run(self) -> None:
        settings = self._settings
        refused: BaseException | None = None
        failures: list[str] = []
        order, failed_from = self._order()
        for position, (member, claimed) in enumerate(order):
            last_member = position == len(order) - 1
            for attempt in range(settings.retries + 1):
                try:
                    call = await _admit(member, failed_from)
                except Exception as exc:  # refused at admission (budget, rate limit)
                    if claimed:
                        member.breaker.release()
                    log.warning("llm %s refused the call: %s", member.label, exc)
                    refused = exc
                    failures.append(f"{member.label}: refused ({exc})")
                    failed_from = failed_from or member.label
                    break
                sent = False
                try:
                    async with member.instrument.attempt_stream(
                        call,
                        lambda m=member: m.plugin.chat(
                            chat_ctx=self._chat_ctx,
                            tools=self._tools,
                            conn_options=APIConnectOptions(
                                max_retry=0, timeout=settings.attempt_timeout_s
                            ),
                            **self._extra,
                        ),
                        chat_ctx=self._chat_ctx,
                    ) as stream:
                        async for chunk in stream:
                            delta = chunk.delta
                            if not sent and delta and (delta.content or delta.tool_calls):
                                sent = True  # the agent has part of the reply now
                                self._current = stream
                                self._owner._serving = member
                            self._event_ch.send_nowait(chunk)
                except asyncio.CancelledError:
                    member.instrument.settle(call, handed_over=False)
                    if claimed:
                        member.breaker.release()
                    raise
                except Exception as exc:
                    action = classify(exc)
                    reason = describe(exc)
                    member.breaker.failure(reason)
                    again = (
                        action == RETRY
                        and attempt < settings.retries
                        and member.breaker.blocked() is None
                    )
                    can_hand_over = not sent or settings.retry_on_chunk_sent
                    hand_over = can_hand_over and (again or not last_member)
                    member.instrument.settle(call, handed_over=hand_over, error=exc)
                    failures.append(f"{member.label}: {reason}")
                    if not can_hand_over:
                        log.error("llm %s failed mid-reply, not handed over: %s", member.label, exc)
                        raise
                    if again:
                        log.warning("llm %s failed (%s), retrying it", member.label, reason)
                        claimed = False
                        continue
                    if not last_member:
                        log.warning("llm %s failed (%s), handing over", member.label, reason)
                    failed_from = failed_from or member.label
                    break
                else:
                    member.instrument.settle(call, handed_over=False)
                    member.breaker.success()
                    self._owner._serving = member
                    return
        if refused is not None and all("refused (" in f for f in failures):
            raise refused  # nothing failed: every candidate was refused at admission
        raise APIConnectionError(
            "every LLM of the chain failed: " + "; ".join(failures or ["none could be tried"]),
            retryable=False,
        )

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        async for _ in event_aiter:
            pass
