"""One call's lifecycle, from admission to its last record: :class:`MeteredCall`.

Every call VoiceGateway meters goes through one of these, whoever makes it (an ``inference``
wrapper, an ``attach()``-ed plugin, an attempt of a fallback chain):

1. **Admission**, on entering (``with``) or :meth:`MeteredCall.admit`: the chain's steps nest
   (``MiddlewareChain.start``); a refusal unwinds them and leaves a ``refused`` record.
2. **Serving**, inside the scope: the plugin's stream is created, or its batch recognition
   awaited, with the call current (a context variable its tasks copy), so the plugin's reports
   are attributed to it.
3. **The end**, once the outcome is known and the stream's last report is in: the status and the
   closing record (what the provider was given but never reported), then the chain's
   ``on_call_end``. A call on its own takes its outcome from its stream; an attempt of a fallback
   chain is told its :class:`Outcome` by the attempt loop (``fallback.serve``) before it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from voicegateway.metering import estimate
from voicegateway.policies.errors import RateLimited, Refused
from voicegateway.records import Call, UsageRecord

if TYPE_CHECKING:
    from voicegateway.metering.instrument import Instrument

log = logging.getLogger("voicegateway.metering")
S = TypeVar("S")
T = TypeVar("T")

current: contextvars.ContextVar[MeteredCall | None] = contextvars.ContextVar(
    "voicegateway_call", default=None
)
"""The call the code running now serves (set while a stream is created, copied by its tasks)."""


class Outcome(enum.Enum):
    """How a call ended, as its owner says. The record's status follows from it and from how the
    plugin's stream ended (a stream cancelled under a served call is still ``cancelled``)."""

    SERVED = "served"
    """Done: the stream's own end says ``ok``, ``error`` or ``cancelled``."""
    HANDED_OVER = "handed_over"
    """An attempt that failed and passed the call to the next provider: ``fallback``."""
    REFUSED = "refused"
    """A step of the chain refused it at admission (set by :meth:`MeteredCall.admit`)."""
    ERROR = "error"
    """Failed with nowhere left to go."""
    CANCELLED = "cancelled"
    """Its caller was cancelled."""


def outcome_of(error: BaseException) -> Outcome:
    return Outcome.CANCELLED if isinstance(error, asyncio.CancelledError) else Outcome.ERROR


class MeteredCall:
    """One call of one metered plugin. Used as a context manager around the work that serves
    it: entering admits it; leaving on an exception ends it with that error; leaving normally
    ends it when its stream does (or at once when it has none), unless its owner decides.

    ``owned``: an attempt of a fallback chain. Its owner sets the outcome (:meth:`close`); its
    plugin's ``cancelled`` reports (the attempt's stream cut by a deadline or a sibling's failure)
    are held until then, and then say ``fallback`` or ``error`` as the outcome does.
    """

    __slots__ = (
        "_failed",
        "_reports",
        "_stream_task",
        "_text_given",
        "admitted",
        "call",
        "error",
        "held",
        "instrument",
        "outcome",
        "owned",
    )

    def __init__(
        self, instrument: Instrument, call: Call, *, owned: bool, text_given: bool
    ) -> None:
        self.instrument = instrument
        self.call = call
        self.owned = owned
        self.admitted = False
        self.outcome: Outcome | None = None  # set once, by close()
        self.error: BaseException | None = None  # what the owner saw (a deadline it enforced)
        self.held: list[UsageRecord] = []
        self._text_given = text_given
        self._failed: BaseException | None = None  # what the provider's work itself raised
        self._stream_task: asyncio.Future | None = None
        self._reports: asyncio.Future | None = None  # the stream's metrics task

    # -- admission ----------------------------------------------------------------------------

    def admit(self) -> MeteredCall:
        """Run the chain's start steps; a call they refuse leaves a ``refused`` record (zero
        units, the reason) before the refusal is raised. A rate limit that lets an awaiting
        caller wait (``may_wait``) is not a refusal yet: nothing is recorded."""
        try:
            self.instrument.chain.start(self.call)
        except Refused as exc:
            if not isinstance(exc, RateLimited) or exc.may_wait < exc.retry_after:
                self.refuse(exc)
            raise
        self.admitted = True
        self.instrument.in_flight += 1
        return self

    def refuse(self, error: Exception) -> None:
        """Record this call refused (by the chain, or by an owner that gave up waiting for the
        policy state); it never reaches the provider."""
        call = self.call
        self.outcome = Outcome.REFUSED
        call.status, call.error_class, call.ended = "refused", type(error).__name__, True
        record = UsageRecord.for_call(call)
        record.status, record.error_class, record.reason = "refused", call.error_class, str(error)
        instrument = self.instrument
        log.warning("%s %s/%s refused: %s", call.modality, instrument.provider, call.model, error)
        instrument.chain.usage(call, record)

    def __enter__(self) -> MeteredCall:
        return self if self.admitted else self.admit()

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if self.outcome is not None or self.call.ended:
            return
        if error is not None:
            self._failed = self._failed or error
            self.close(outcome_of(error))
        elif not self.owned and self._reports is None:
            self.close(Outcome.SERVED)
        # else: a stream ends it (close on its metrics task), or the owner does

    # -- serving ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Make this call current while the plugin's stream (and its tasks) are created."""
        token = current.set(self)
        try:
            yield
        finally:
            current.reset(token)

    def open_stream(self, create: Callable[[], S], *, count_pushed: bool = True) -> S:
        """Create the plugin's stream inside this call and follow it to its end.

        ``count_pushed=False`` for a LiveKit ``StreamAdapter`` around a plugin that cannot
        stream: it sends only part of what is pushed (sentences without the whitespace between
        them, the audio its VAD calls speech), and the plugin reports each request, so what it
        bills is what it reports."""
        call = self.call
        try:
            with self.scope():
                stream = create()
        except BaseException as exc:
            self._failed = exc
            raise
        if call.modality == "stt" and count_pushed:
            _count_pushed_audio(stream, call)
        elif call.modality == "tts" and not self._text_given:
            if count_pushed:
                _count_pushed_text(stream, call)
            else:
                call.text_counted = False
        # ChunkedStream names its main task differently from the other streams
        self._stream_task = getattr(stream, "_task", None) or getattr(
            stream, "_synthesize_task", None
        )
        reports = getattr(stream, "_metrics_task", None)
        if reports is None:
            # SynthesizeStream starts its metrics task on the first push_text, outside our scope.
            # Start it now, inside the scope, so its reports carry this call.
            synthesis: Any = stream  # its private members, which LiveKit does not type
            with self.scope():
                reports = asyncio.create_task(
                    synthesis._metrics_monitor_task(synthesis._monitor_aiter),
                    name="TTS._metrics_task",
                )
            synthesis._metrics_task = reports
        self._reports = reports
        if not self.owned:
            reports.add_done_callback(lambda _: self.close(Outcome.SERVED))
        return stream

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Await a batch request (a recognition: it reports before it returns) inside this
        call; a call of its own ends with it."""
        try:
            with self.scope():
                result = await work()
        except BaseException as exc:
            self._failed = exc
            raise
        if not self.owned:
            self.close(Outcome.SERVED)
        return result

    # -- the end ------------------------------------------------------------------------------

    def close(self, outcome: Outcome, error: BaseException | None = None) -> None:
        """Set the outcome (``error``: what the owner saw, such as a deadline it enforced) and
        end the call, once its stream's last report is in."""
        if self.outcome is not None or self.call.ended:
            return
        self.outcome, self.error = outcome, error
        reports = self._reports
        if reports is not None and not reports.done():
            reports.add_done_callback(lambda _: self._end())
        else:
            self._end()

    def _end(self) -> None:
        call = self.call
        if call.ended:
            return
        self.instrument.in_flight -= 1
        error = self._failed
        task = self._stream_task
        if self.outcome is Outcome.HANDED_OVER:
            seen = self.error or error
            if seen is None and task is not None and task.done() and not task.cancelled():
                seen = task.exception()
            if seen is not None and not isinstance(seen, asyncio.CancelledError):
                call.status, call.error_class = "fallback", type(seen).__name__
                forget_refused(call, seen)
                task = error = None
        elif self.error is not None and error is None:
            error = self.error  # a failure the owner saw and the stream's task did not
        marker = self._release_held(error) == 0 and call.status == "fallback"
        if task is not None and task.done():
            if task.cancelled():
                call.status = "cancelled"
            else:
                error = task.exception()
        if error is not None:
            call.status = "cancelled" if isinstance(error, asyncio.CancelledError) else "error"
            call.error_class = type(error).__name__
            forget_refused(call, error)
        closing = self._closing_record()
        if closing is None and marker:
            # the provider had reported usage before it failed (a dropped stream): this record,
            # with no units, marks where the call moved on
            closing = UsageRecord.for_call(call)
            closing.status, closing.error_class = call.status, call.error_class
        chain = self.instrument.chain
        if closing is not None:
            chain.usage(call, closing)
        chain.end(call)

    def _release_held(self, error: BaseException | None) -> int:
        """Pass on the held ``cancelled`` reports, labelled as the outcome says."""
        call, held = self.call, self.held
        for record in held:
            if call.status == "fallback":
                record.status, record.error_class = "fallback", call.error_class
            elif error is not None and not isinstance(error, asyncio.CancelledError):
                record.status, record.error_class = "error", type(error).__name__
            self.instrument.chain.usage(call, record)
        return len(held)

    def _closing_record(self) -> UsageRecord | None:
        """What the provider was given and never reported, billed at the end; a failure with
        nothing to bill still leaves a record, so errors are visible."""
        call = self.call
        interrupted_llm = call.records == 0 and call.status == "cancelled" and call.chat_ctx
        failed = call.records == 0 and call.status != "ok"
        if not (call.audio_pending > 1e-9 or call.chars_pending or interrupted_llm or failed):
            return None  # everything was reported, or nothing was asked of the provider
        record = UsageRecord.for_call(call)
        record.status, record.error_class = call.status, call.error_class
        if call.audio_pending > 1e-9:
            record.audio_seconds_measured = call.audio_pending
            record.estimated = True  # priced from what we pushed, not from the provider's report
        elif call.chars_pending:
            record.characters = call.chars_pending
            if record.status == "ok":
                record.status = "cancelled"  # LiveKit reports a segment only when it completes
        elif interrupted_llm:
            record.input_tokens = estimate.prompt_tokens(call.chat_ctx)
            record.estimated = True
        call.audio_pending, call.chars_pending = 0.0, 0
        return record


def forget_refused(call: Call, error: BaseException) -> None:
    """A provider that answered an HTTP error status (a bad key, a refused websocket handshake,
    a 5xx) before reporting anything served nothing and bills nothing: drop what was pushed, so
    no closing record prices it. A connection cut after the provider had the input (LiveKit
    reports websocket close codes such as 1006 as the status) is still billed."""
    if call.records == 0 and 400 <= getattr(error, "status_code", -1) <= 599:
        call.audio_pending, call.chars_pending = 0.0, 0


def _count_pushed_audio(stream: Any, call: Call) -> None:
    """Count every frame pushed to an STT stream: the audio the provider receives and bills."""
    push = stream.push_frame

    def push_frame(frame: Any) -> None:
        call.audio_pending += frame.duration
        push(frame)

    stream.push_frame = push_frame


def _count_pushed_text(stream: Any, call: Call) -> None:
    """Count every character pushed to a TTS stream: the text the provider receives and bills."""
    push = stream.push_text

    def push_text(token: str) -> None:
        if token:
            call.chars_pending += len(token)
        push(token)

    stream.push_text = push_text
