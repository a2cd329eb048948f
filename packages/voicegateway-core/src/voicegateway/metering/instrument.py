"""The LiveKit side of metering: ties a plugin instance's events to VoiceGateway calls.

A wrapper (``voicegateway.inference.STT`` and friends, or :func:`voicegateway.attach` for plain
plugins) opens a call (:meth:`Instrument.call`, a :class:`~.call_scope.MeteredCall`) for each
chat, recognition or synthesis, and creates the plugin's stream inside it. LiveKit starts a
stream's tasks in its constructor, and asyncio tasks copy the current context, so when the plugin
later emits ``metrics_collected`` from one of those tasks, the context variable still names the
call. Counting therefore costs one record per report and nothing per token.

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

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from voicegateway.metering import estimate
from voicegateway.metering.call_scope import MeteredCall, current
from voicegateway.metering.estimate import output_cap
from voicegateway.metering.middleware import MiddlewareChain
from voicegateway.records import UNIT_FIELDS, Call, Meter, UsageRecord

log = logging.getLogger("voicegateway.metering")
S = TypeVar("S")
T = TypeVar("T")


class Instrument:
    """Meters one plugin instance.

    With an ``owner`` (a wrapper), every ``metrics_collected`` event of the plugin is re-emitted
    on the owner, so ``AgentSession`` (which listens on the wrapper) sees it exactly once; the
    metrics carry the VoiceGateway provider id and model instead of the host name LiveKit reports
    for OpenAI-compatible clients. So is every ``error`` event, unless ``forward_errors=False``
    (a member of a fallback chain: a failure handed over is no error for the agent, and the
    chain's own stream reports the final one). Without an owner (``attach``), the session
    listens on the plugin itself and nothing is re-emitted.
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
        forward_errors: bool = True,
    ) -> None:
        self._owner = owner
        self._modality = modality
        self.provider = provider
        self._model = model
        self._project = project
        self.chain = chain
        self._meter = meter
        self._inner = inner
        self._fallback_from = fallback_from
        self._metadata: Any = None
        self.in_flight = 0
        """Calls of this plugin admitted and not ended yet (kept by :class:`MeteredCall`)."""
        inner.on("metrics_collected", self._on_metrics)
        if owner is not None and forward_errors:
            inner.on("error", self._on_error)

    # -- calls -------------------------------------------------------------------------------

    def _new_call(self) -> Call:
        return Call(
            self._modality,
            self.provider,
            self._model,
            self._project,
            fallback_from=self._fallback_from,
        )

    def call(
        self,
        *,
        chat_ctx: Any = None,
        text: str | None = None,
        audio_seconds: float = 0.0,
        fallback_from: str | None = None,
        owned: bool = False,
    ) -> MeteredCall:
        """A new call, not admitted yet (``with`` admits it). Admission sees the prompt
        (``chat_ctx``), the text to speak or the audio to recognize, to estimate what the call
        may cost; ``fallback_from`` names the chain member it serves in place of; ``owned``: an
        attempt whose outcome its owner sets (see :class:`~.call_scope.MeteredCall`)."""
        call = self._new_call()
        if fallback_from is not None:
            call.fallback_from = fallback_from
        call.chat_ctx = chat_ctx
        if text is not None:
            call.chars_pending = len(text)
        call.audio_pending = audio_seconds
        if self._modality == "llm":
            call.output_cap = output_cap(self._inner)
        return MeteredCall(self, call, owned=owned, text_given=text is not None)

    def stream_call(
        self, create: Callable[[], S], *, text: str | None = None, chat_ctx: Any = None
    ) -> S:
        """One call around the plugin's stream, ending with it. ``text`` is what a
        ``synthesize()`` bills; ``chat_ctx`` what an LLM prompt is estimated from if the stream
        is interrupted before the provider reports its usage."""
        with self.call(chat_ctx=chat_ctx, text=text) as metered:
            return metered.open_stream(create)

    async def recognize_call(
        self, recognize: Callable[[], Awaitable[T]], audio_seconds: float
    ) -> T:
        """A batch recognition: one call around ``recognize()``, which reports synchronously."""
        with self.call(audio_seconds=audio_seconds) as metered:
            return await metered.run(recognize)

    # -- plugin events -----------------------------------------------------------------------

    def _on_metrics(self, metrics: Any) -> None:
        try:
            self._record(metrics)
        except Exception:
            log.exception("could not meter a %s report from %s", self._modality, self.provider)
        if self._owner is not None:
            self._owner.emit("metrics_collected", self._relabel(metrics))

    def _record(self, metrics: Any) -> None:
        metered = current.get()
        if metered is not None and (metered.instrument is not self or metered.call.ended):
            metered = None  # not a call of this plugin's still open
        if metered is None:
            # A report outside any call we opened (LiveKit internals we did not anticipate):
            # still recorded, as a call of its own, never lost.
            call = self._new_call()
            with contextlib.suppress(Exception):
                self.chain.start(call)
        else:
            call = metered.call
        record = UsageRecord.for_call(call)
        if self._meter(metrics, record) and self._account(call, record):
            if metered is not None and metered.owned and record.status == "cancelled":
                metered.held.append(record)  # its label waits for the attempt's outcome
            else:
                self.chain.usage(call, record)
        if metered is None:
            self.chain.end(call)

    def _account(self, call: Call, record: UsageRecord) -> bool:
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
                update={"model_provider": self.provider, "model_name": self._model}
            )
        return metrics.model_copy(update={"metadata": self._metadata})

    def _on_error(self, error: Any) -> None:
        self._owner.emit("error", error)


def report_usage(**units: int) -> None:
    """Add units the provider billed that LiveKit does not report, to the current call.

    For provider plugins: call it from code that runs inside the call (an HTTP response hook of the
    SDK client the factory built, for example), with ``UsageRecord`` unit names:
    ``report_usage(input_tokens=120, output_tokens=14)``. LiveKit's batch ``recognize()`` drops the
    token usage of token-billed transcription models; the openai provider restores it this way.
    Outside a call it does nothing.
    """
    metered = current.get()
    if metered is None:
        return
    call = metered.call
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
    metered = current.get()
    if metered is not None and seconds > 0:
        metered.call.audio_pending += seconds
