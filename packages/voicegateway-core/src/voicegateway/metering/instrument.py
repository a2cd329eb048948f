"""The LiveKit side of metering: ties a plugin instance's events to VoiceGateway calls.

A wrapper (``voicegateway.inference.STT`` and friends, or :func:`voicegateway.attach` for plain
plugins) opens a :class:`Call` for each chat, recognition or synthesis, and creates the plugin's
stream inside :meth:`Instrument.scope`. LiveKit starts a stream's tasks in its constructor, and
asyncio tasks copy the current context, so when the plugin later emits ``metrics_collected`` from
one of those tasks, the context variable still names the call. Counting therefore costs one
record per report and nothing per token.

LiveKit's reports have gaps the provider's bill does not (see docs/architecture.md), so the
instrument also keeps its own account of what the provider was given:

- STT: the seconds of audio pushed (``audio_seconds_measured``), including the silence LiveKit
  pushes at close; audio never reported (a report lost when the stream closed) is billed from it
  at the end, marked ``estimated``.
- TTS: the characters pushed; a segment interrupted before LiveKit's report is still billed, and
  the second report of a ``synthesize()`` that wraps ``stream()`` is not counted again.
- LLM: a stream interrupted before its usage chunk still bills the prompt; it is estimated from the
  chat context and marked ``estimated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from voicegateway.metering import estimate
from voicegateway.metering.estimate import output_cap
from voicegateway.metering.middleware import MiddlewareChain
from voicegateway.policies.errors import RateLimited, Refused
from voicegateway.records import UNIT_FIELDS, Call, Meter, UsageRecord

log = logging.getLogger("voicegateway.metering")
S = TypeVar("S")
T = TypeVar("T")

_current_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "voicegateway_call", default=None
)


class Instrument:
    """Meters one plugin instance.

    With an ``owner`` (a wrapper), every ``metrics_collected`` and ``error`` event of the plugin is
    re-emitted on the owner, so ``AgentSession`` (which listens on the wrapper) sees them exactly
    once; the metrics carry the VoiceGateway provider id and model instead of the host name LiveKit
    reports for OpenAI-compatible clients. Without one (``attach``), the session listens on the
    plugin itself and nothing is re-emitted.
    """

    def __init__(
        self,
        owner: Any,
        inner: Any,
        *,
        modality: str,
        provider: str,
        model: str,
        project: str,
        chain: MiddlewareChain,
        meter: Meter,
        fallback_from: str | None = None,
    ) -> None:
        self._owner = owner
        self._modality = modality
        self._provider = provider
        self._model = model
        self._project = project
        self._chain = chain
        self._meter = meter
        self._inner = inner
        self._fallback_from = fallback_from
        self._open: set[str] = set()
        self._metadata: Any = None
        inner.on("metrics_collected", self._on_metrics)
        if owner is not None:
            inner.on("error", self._on_error)

    # -- calls -------------------------------------------------------------------------------

    def _new_call(self) -> Call:
        return Call(
            self._modality,
            self._provider,
            self._model,
            self._project,
            fallback_from=self._fallback_from,
        )

    def open_call(
        self, *, chat_ctx: Any = None, text: str | None = None, audio_seconds: float = 0.0
    ) -> Call:
        """Start a call: the chain's start steps run now and may refuse it by raising. They see
        the prompt (``chat_ctx``), the text to speak or the audio to recognize, to estimate what
        the call may cost."""
        call = self._new_call()
        call.chat_ctx = chat_ctx
        if text is not None:
            call.chars_pending = len(text)
        call.audio_pending = audio_seconds
        if self._modality == "llm":
            call.output_cap = output_cap(self._inner)
        self.start(call)
        self._open.add(call.call_id)
        return call

    def start(self, call: Call) -> None:
        """Run the chain's start steps; a call they refuse leaves a ``refused`` record (zero
        units, the reason) before the refusal is raised."""
        try:
            self._chain.start(call)
        except Refused as exc:
            if not isinstance(exc, RateLimited) or exc.may_wait < exc.retry_after:
                self._refused(call, exc)
            raise

    def _refused(self, call: Call, error: Exception) -> None:
        call.status, call.error_class = "refused", type(error).__name__
        record = UsageRecord.for_call(call)
        record.status, record.error_class, record.reason = "refused", call.error_class, str(error)
        log.warning("%s %s/%s refused: %s", self._modality, self._provider, self._model, error)
        self._chain.usage(call, record)

    @contextlib.contextmanager
    def scope(self, call: Call) -> Iterator[None]:
        """Make ``call`` current while the plugin's stream (and its tasks) are created."""
        token = _current_call.set(call)
        try:
            yield
        finally:
            _current_call.reset(token)

    def stream_call(
        self, create: Callable[[], S], *, text: str | None = None, chat_ctx: Any = None
    ) -> S:
        """Open a call, create the plugin's stream inside it, and end the call with the stream.

        ``text`` is what a ``synthesize()`` bills; ``chat_ctx`` what an LLM prompt is estimated
        from if the stream is interrupted before the provider reports its usage.
        """
        call = self.open_call(chat_ctx=chat_ctx, text=text)
        with self.scope(call):
            stream = create()
        if self._modality == "stt":
            _count_pushed_audio(stream, call)
        elif self._modality == "tts" and text is None:
            _count_pushed_text(stream, call)
        # ChunkedStream names its main task differently from the other streams
        main_task = getattr(stream, "_task", None) or getattr(stream, "_synthesize_task", None)
        self._end_when_done(call, stream, main_task)
        return stream

    async def recognize_call(
        self, recognize: Callable[[], Awaitable[T]], audio_seconds: float
    ) -> T:
        """A batch recognition: one call around ``recognize()``, which reports synchronously."""
        call = self.open_call(audio_seconds=audio_seconds)
        return await self.recognize_in(call, recognize)

    async def recognize_in(self, call: Call, recognize: Callable[[], Awaitable[T]]) -> T:
        """Run a batch recognition inside an open ``call`` and end the call with it."""
        try:
            with self.scope(call):
                result = await recognize()
        except BaseException as exc:
            self.end(call, error=exc)
            raise
        self.end(call)
        return result

    def _end_when_done(self, call: Call, stream: Any, main_task: asyncio.Task | None) -> None:
        """End ``call`` once ``stream``'s metrics task has run out (the stream is closed)."""
        metrics_task = getattr(stream, "_metrics_task", None)
        if metrics_task is None:
            # SynthesizeStream starts its metrics task on the first push_text, outside our scope.
            # Start it now, inside the scope, so its reports carry this call.
            with self.scope(call):
                metrics_task = asyncio.create_task(
                    stream._metrics_monitor_task(stream._monitor_aiter), name="TTS._metrics_task"
                )
            stream._metrics_task = metrics_task
        metrics_task.add_done_callback(lambda _: self.end(call, main_task))

    def end(
        self, call: Call, task: asyncio.Future | None = None, error: BaseException | None = None
    ) -> None:
        """End ``call``, taking its status from the stream's main task or the error raised, and
        bill what the provider was given but never reported."""
        if call.ended:
            return
        if task is not None and task.done():
            if task.cancelled():
                call.status = "cancelled"
            else:
                error = task.exception()
        if error is not None:
            call.status = "cancelled" if isinstance(error, asyncio.CancelledError) else "error"
            call.error_class = type(error).__name__
            forget_refused(call, error)
        self._open.discard(call.call_id)
        closing = self._closing_record(call)
        if closing is not None:
            self._chain.usage(call, closing)
        self._chain.end(call)

    def _closing_record(self, call: Call) -> UsageRecord | None:
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
        # else: a failure with nothing to bill still leaves a record, so errors are visible
        call.audio_pending, call.chars_pending = 0.0, 0
        return record

    # -- plugin events -----------------------------------------------------------------------

    def _on_metrics(self, metrics: Any) -> None:
        try:
            self._record(metrics)
        except Exception:
            log.exception("could not meter a %s report from %s", self._modality, self._provider)
        if self._owner is not None:
            self._owner.emit("metrics_collected", self._relabel(metrics))

    def _record(self, metrics: Any) -> None:
        call = _current_call.get()
        adhoc = call is None or call.call_id not in self._open
        if adhoc:
            # A report outside any call we opened (LiveKit internals we did not anticipate):
            # still recorded, as a call of its own, never lost.
            call = self._new_call()
            with contextlib.suppress(Exception):
                self._chain.start(call)
        record = UsageRecord.for_call(call)
        if self._meter(metrics, record) and self._account(call, record, metrics):
            self._chain.usage(call, record)
        if adhoc:
            self._chain.end(call)

    def _account(self, call: Call, record: UsageRecord, metrics: Any) -> bool:
        """Settle a report against what the call was given; False drops a duplicate report."""
        if call.reported:
            for unit, value in call.reported.items():
                setattr(record, unit, getattr(record, unit) + value)
            call.reported = None
        if self._modality == "stt":
            record.audio_seconds_measured = min(call.audio_pending, record.audio_seconds) or (
                call.audio_pending
            )
            call.audio_pending = max(0.0, call.audio_pending - record.audio_seconds_measured)
        elif self._modality == "tts":
            if not call.text_counted:
                return True
            if call.chars_pending == 0 and record.characters and call.records:
                # synthesize() wrapping stream(): the inner stream already billed this text
                return bool(record.input_tokens or record.output_tokens)
            if call.chars_pending or call.records:
                record.characters = min(record.characters, call.chars_pending)
                call.chars_pending -= record.characters
        elif self._modality == "llm" and record.status == "cancelled" and record.input_tokens == 0:
            record.input_tokens = estimate.prompt_tokens(call.chat_ctx)
            record.estimated = True
        return True

    def _relabel(self, metrics: Any) -> Any:
        """A copy of the metrics naming our provider id and model (built once, reused)."""
        metadata = getattr(metrics, "metadata", None)
        if metadata is None:
            return metrics
        if self._metadata is None:
            self._metadata = metadata.model_copy(
                update={"model_provider": self._provider, "model_name": self._model}
            )
        return metrics.model_copy(update={"metadata": self._metadata})

    def _on_error(self, error: Any) -> None:
        self._owner.emit("error", error)


def forget_refused(call: Call, error: BaseException) -> None:
    """A provider that answered an HTTP error status (a bad key, a refused websocket handshake,
    a 5xx) before reporting anything served nothing and bills nothing: drop what was pushed, so
    no closing record prices it. A connection cut after the provider had the input (LiveKit
    reports websocket close codes such as 1006 as the status) is still billed."""
    if call.records == 0 and 400 <= getattr(error, "status_code", -1) <= 599:
        call.audio_pending, call.chars_pending = 0.0, 0


def report_usage(**units: int) -> None:
    """Add units the provider billed that LiveKit does not report, to the current call.

    For provider plugins: call it from code that runs inside the call (an HTTP response hook of the
    SDK client the factory built, for example), with ``UsageRecord`` unit names:
    ``report_usage(input_tokens=120, output_tokens=14)``. LiveKit's batch ``recognize()`` drops the
    token usage of token-billed transcription models; the openai provider restores it this way.
    Outside a call it does nothing.
    """
    call = _current_call.get()
    if call is None:
        return
    reported = call.reported if call.reported is not None else {}
    for unit, value in units.items():
        if unit not in UNIT_FIELDS:
            raise ValueError(f"report_usage: {unit!r} is not a unit ({', '.join(UNIT_FIELDS)})")
        reported[unit] = reported.get(unit, 0) + value
    call.reported = reported


def expect_audio(seconds: float) -> None:
    """Add audio seconds the provider bills the current STT call beyond the frames pushed (a
    streaming connection billed for its whole lifetime, idle time included).

    For provider plugins, from code that runs inside the call (the stream's own tasks). The
    plugin's reports settle them like pushed audio; what no report settles (a report lost when
    ``aclose()`` cancels the metrics task) is billed by the call's closing record, ``estimated``.
    Outside a call it does nothing.
    """
    call = _current_call.get()
    if call is not None and seconds > 0:
        call.audio_pending += seconds


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
