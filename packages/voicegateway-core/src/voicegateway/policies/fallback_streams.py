"""The LiveKit streams that serve a call through :func:`.fallback.serve`, one per kind of call.

Each is a real ``livekit.agents`` stream owned by the ``voicegateway.inference`` wrapper, so
``AgentSession`` sees nothing unusual; inside, each attempt is the member plugin's own stream,
metered by the member's instrument (its metrics are re-emitted on the wrapper, labelled with the
member), so these streams' own metrics tasks emit nothing.

- :class:`FallbackLLMStream`: chunks are passed through as they arrive.
- :class:`FallbackChunkedStream` (``TTS.synthesize``) and :class:`FallbackSynthesizeStream`
  (``TTS.stream``): audio is passed through, resampled when a member speaks at another rate than
  the wrapper; the text pushed so far is replayed to the member that takes over.
- :class:`FallbackRecognizeStream` (``STT.stream``) and :func:`recognize` (``STT.recognize``):
  transcripts are passed through; the audio since the last final transcript (at most
  :data:`REPLAY_SECONDS`) is replayed to the member that takes over, so the utterance in progress
  is not lost.

:class:`ChainServing` is the serving strategy an ``inference`` wrapper holds when its calls go
through these streams.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from livekit import rtc
from livekit.agents import llm, stt, tts, utils
from livekit.agents.types import APIConnectOptions
from livekit.agents.utils.audio import calculate_audio_duration

from voicegateway.metering.call_scope import MeteredCall
from voicegateway.policies.fallback import (
    DEFAULT_FALLBACK_CONN_OPTIONS,
    FallbackSettings,
    Member,
    Progress,
    log,
    serve,
)

_FLUSHES = (stt.RecognizeStream._FlushSentinel, tts.SynthesizeStream._FlushSentinel)

REPLAY_SECONDS = 30.0
"""The most audio an STT hand-over replays: an utterance longer than this loses its start."""


def _attempt_options(settings: FallbackSettings) -> APIConnectOptions:
    return APIConnectOptions(max_retry=0, timeout=settings.attempt_timeout_s)


def _serving(owner: Any, member: Member) -> None:
    owner._serving = member


async def _drain(event_aiter: Any) -> None:
    async for _ in event_aiter:
        pass


async def _pump(
    source: utils.aio.Chan[Any],
    stream: Any,
    push: Callable[[Any], None],
    arm: Callable[[], None] | None = None,
) -> None:
    """Feed a member's stream from a channel of pushed items (frames or text, and flushes);
    ``arm`` is called at each flush and at the end of input."""
    try:
        async for item in source:
            if isinstance(item, _FLUSHES):
                stream.flush()
                if arm:
                    arm()
            else:
                push(item)
    finally:
        stream.end_input()
        if arm:
            arm()


class _Replay:
    """What the agent pushed into a fallback stream, kept to replay to the member that takes
    over, and forwarded live to the current attempt."""

    def __init__(self) -> None:
        self.items: collections.deque[Any] = collections.deque()
        self.done = False
        self._live: utils.aio.Chan[Any] | None = None

    def add(self, item: Any) -> None:
        self.items.append(item)
        if self._live is not None:
            self._live.send_nowait(item)

    def close(self) -> None:
        self.done = True
        if self._live is not None:
            self._live.close()

    def channel(self) -> utils.aio.Chan[Any]:
        """A new channel for an attempt: everything kept so far, then what comes next."""
        if self._live is not None:
            self._live.close()
        self._live = utils.aio.Chan()
        for item in self.items:
            self._live.send_nowait(item)
        if self.done:
            self._live.close()
        return self._live

    async def forward(self, source: AsyncIterator[Any]) -> None:
        try:
            async for item in source:
                self.add(item)
        finally:
            self.close()


class FallbackLLMStream(llm.LLMStream):
    """One ``chat()`` served by the first member that can."""

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

    async def _attempt(self, member: Member, call: MeteredCall, progress: Progress) -> None:
        create = lambda: member.plugin.chat(  # noqa: E731
            chat_ctx=self._chat_ctx,
            tools=self._tools,
            conn_options=_attempt_options(self._settings),
            **self._extra,
        )
        async with call.open_stream(create) as stream:
            async for chunk in stream:
                delta = chunk.delta
                if not progress.sent and delta and (delta.content or delta.tool_calls):
                    progress.output()  # the agent has part of the reply now
                    self._current = stream
                    _serving(self._owner, member)
                self._event_ch.send_nowait(chunk)

    async def _run(self) -> None:
        member, _ = await serve(
            "llm", self._members, self._settings, self._attempt, chat_ctx=self._chat_ctx
        )
        _serving(self._owner, member)

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        await _drain(event_aiter)


class _AudioOut:
    """Pushes a member's audio into the wrapper's emitter at the wrapper's sample rate."""

    def __init__(self, owner: tts.TTS, emitter: tts.AudioEmitter, *, stream: bool) -> None:
        self._owner, self._emitter, self._stream = owner, emitter, stream
        self._initialized = False

    def start(self) -> None:
        if self._initialized:
            return
        self._initialized = True
        self._emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=self._owner.sample_rate,
            num_channels=self._owner.num_channels,
            mime_type="audio/pcm",
            stream=self._stream,
        )
        if self._stream:
            self._emitter.start_segment(segment_id=utils.shortuuid())

    async def play(self, member: Member, stream: Any, progress: Progress) -> None:
        self.start()
        resampler = (
            rtc.AudioResampler(
                input_rate=member.plugin.sample_rate, output_rate=self._owner.sample_rate
            )
            if member.plugin.sample_rate != self._owner.sample_rate
            else None
        )
        async for audio in stream:
            frames = resampler.push(audio.frame) if resampler else [audio.frame]
            for frame in frames:
                self._emitter.push_frame(frame)
                progress.output()
        if resampler is not None:
            for frame in resampler.flush():
                self._emitter.push_frame(frame)


class FallbackChunkedStream(tts.ChunkedStream):
    """One ``synthesize(text)`` served by the first member that can."""

    def __init__(
        self,
        owner: Any,
        members: list[Member],
        settings: FallbackSettings,
        *,
        text: str,
        conn_options: APIConnectOptions,
    ) -> None:
        self._members, self._settings, self._owner = members, settings, owner
        super().__init__(
            tts=owner, input_text=text, conn_options=dataclasses.replace(conn_options, max_retry=0)
        )

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        out = _AudioOut(self._owner, output_emitter, stream=False)

        async def attempt(member: Member, call: MeteredCall, progress: Progress) -> None:
            create = lambda: member.plugin.synthesize(  # noqa: E731
                self.input_text, conn_options=_attempt_options(self._settings)
            )
            async with call.open_stream(create) as stream:
                await out.play(member, stream, progress)

        member, _ = await serve("tts", self._members, self._settings, attempt, text=self.input_text)
        out.start()  # a member that spoke nothing still leaves a valid (empty) result
        _serving(self._owner, member)

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        await _drain(event_aiter)


class FallbackSynthesizeStream(tts.SynthesizeStream):
    """One ``stream()`` of pushed text served by the first member that can; non-streaming
    members are driven through LiveKit's ``tts.StreamAdapter`` (one request per sentence)."""

    def __init__(
        self,
        owner: Any,
        members: list[Member],
        settings: FallbackSettings,
        *,
        conn_options: APIConnectOptions,
    ) -> None:
        self._members, self._settings, self._owner = members, settings, owner
        super().__init__(tts=owner, conn_options=dataclasses.replace(conn_options, max_retry=0))

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        out = _AudioOut(self._owner, output_emitter, stream=True)
        out.start()
        pushed = _Replay()
        reader = asyncio.create_task(pushed.forward(self._input_ch))

        async def attempt(member: Member, call: MeteredCall, progress: Progress) -> None:
            adapter = (
                None
                if member.plugin.capabilities.streaming
                else tts.StreamAdapter(tts=member.plugin)
            )
            source = adapter or member.plugin
            options = _attempt_options(self._settings)
            stream = call.open_stream(
                lambda: source.stream(conn_options=options), count_pushed=adapter is None
            )
            # the first-audio clock starts at a flush: a sentence in progress has no audio yet
            feed = asyncio.create_task(
                _pump(pushed.channel(), stream, stream.push_text, progress.arm)
            )
            try:
                async with stream:
                    await out.play(member, stream, progress)
            finally:
                await utils.aio.cancel_and_wait(feed)
                if adapter is not None:
                    await adapter.aclose()

        try:
            member, _ = await serve("tts", self._members, self._settings, attempt, armed=False)
        finally:
            await utils.aio.cancel_and_wait(reader)
        _serving(self._owner, member)

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        await _drain(event_aiter)


class _AudioReplay(_Replay):
    """Frames not yet covered by a final transcript, at most :data:`REPLAY_SECONDS` of them.

    Positions are seconds since the wrapper's stream began; an attempt's transcripts are timed
    from the first frame replayed to it (:attr:`base`).
    """

    def __init__(self) -> None:
        super().__init__()
        self._pushed = 0.0  # seconds pushed so far
        self._kept_from = 0.0  # position of the first frame kept
        self.base = 0.0

    def add(self, item: Any) -> None:
        if isinstance(item, rtc.AudioFrame):
            self._pushed += item.duration
            while self._pushed - self._kept_from > REPLAY_SECONDS and self.items:
                self._drop_first()
        super().add(item)

    def channel(self) -> utils.aio.Chan[Any]:
        self.base = self._kept_from
        return super().channel()

    def transcribed(self, end_time: float) -> None:
        """A final transcript covers the audio up to ``end_time`` (seconds into the attempt;
        0 when the provider gives no timing: then everything pushed so far)."""
        until = self.base + end_time if end_time > 0 else self._pushed
        while self.items and (
            not isinstance(self.items[0], rtc.AudioFrame)
            or self._kept_from + self.items[0].duration <= until + 1e-6
        ):
            self._drop_first()

    def _drop_first(self) -> None:
        dropped = self.items.popleft()
        if isinstance(dropped, rtc.AudioFrame):
            self._kept_from += dropped.duration


class FallbackRecognizeStream(stt.RecognizeStream):
    """One ``stream()`` of audio recognized by the first member that can. A member that cannot
    stream takes part only when the wrapper was given a ``vad`` (LiveKit's ``stt.StreamAdapter``
    needs one)."""

    def __init__(
        self,
        owner: Any,
        members: list[Member],
        settings: FallbackSettings,
        *,
        language: Any,
        vad: Any,
        conn_options: APIConnectOptions,
    ) -> None:
        self._settings, self._owner, self._language = settings, owner, language
        self._members = []
        for member in members:
            if member.plugin.capabilities.streaming or vad is not None:
                self._members.append(member)
            else:
                log.warning("stt %s cannot stream and no vad= was given: left out", member.label)
        self._vad = vad
        super().__init__(stt=owner, conn_options=dataclasses.replace(conn_options, max_retry=0))

    async def _run(self) -> None:
        audio = _AudioReplay()
        reader = asyncio.create_task(audio.forward(self._input_ch))

        async def attempt(member: Member, call: MeteredCall, progress: Progress) -> None:
            adapter = (
                None
                if member.plugin.capabilities.streaming
                else stt.StreamAdapter(stt=member.plugin, vad=self._vad)
            )
            source = adapter or member.plugin
            options = _attempt_options(self._settings)
            stream = call.open_stream(
                lambda: source.stream(language=self._language, conn_options=options),
                count_pushed=adapter is None,  # it sends only what its VAD calls speech
            )
            feed = asyncio.create_task(_pump(audio.channel(), stream, stream.push_frame))
            try:
                async with stream:
                    async for event in stream:
                        if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                            timing = event.alternatives[0].end_time if event.alternatives else 0
                            audio.transcribed(timing)
                            _serving(self._owner, member)
                        self._event_ch.send_nowait(event)
            finally:
                await utils.aio.cancel_and_wait(feed)
                if adapter is not None:
                    await adapter.aclose()

        try:
            # no first-output deadline: a listener may hear silence for as long as the caller
            # is quiet; the plugin's connect timeout covers the connection
            member, _ = await serve("stt", self._members, self._settings, attempt, armed=False)
        finally:
            await utils.aio.cancel_and_wait(reader)
        _serving(self._owner, member)

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        await _drain(event_aiter)


async def recognize(
    owner: Any,
    members: list[Member],
    settings: FallbackSettings,
    buffer: Any,
    *,
    language: Any,
    audio_seconds: float,
) -> stt.SpeechEvent:
    """One batch ``recognize()`` served by the first member that can."""

    async def attempt(member: Member, call: MeteredCall, progress: Progress) -> stt.SpeechEvent:
        return await call.run(
            lambda: member.plugin.recognize(
                buffer, language=language, conn_options=_attempt_options(settings)
            ),
        )

    member, event = await serve("stt", members, settings, attempt, audio_seconds=audio_seconds)
    _serving(owner, member)
    return event


class ChainServing:
    """The serving strategy of a wrapper whose calls go through :func:`.fallback.serve`: a chain
    of usable candidates, or a project whose budget or rate limit may refuse a call or make it
    wait (admission is awaited there, and a refusal raised inside the stream)."""

    def __init__(self, owner: Any, members: list[Member], settings: FallbackSettings) -> None:
        self.owner, self.members, self.settings = owner, members, settings

    async def recognize(
        self, buffer: Any, *, language: Any, conn_options: APIConnectOptions
    ) -> stt.SpeechEvent:
        """``conn_options`` is the agent's; each attempt has the chain's own (no retries, the
        attempt timeout)."""
        return await recognize(
            self.owner,
            self.members,
            self.settings,
            buffer,
            language=language,
            audio_seconds=calculate_audio_duration(buffer),
        )

    def stt_stream(
        self, *, language: Any, conn_options: APIConnectOptions, vad: Any
    ) -> stt.RecognizeStream:
        return FallbackRecognizeStream(
            self.owner,
            self.members,
            self.settings,
            language=language,
            vad=vad,
            conn_options=conn_options,
        )

    def chat(self, kwargs: dict[str, Any]) -> llm.LLMStream:
        kwargs = dict(kwargs)
        chat_ctx = kwargs.pop("chat_ctx")
        tools = kwargs.pop("tools", None)
        conn_options = kwargs.pop("conn_options", DEFAULT_FALLBACK_CONN_OPTIONS)
        return FallbackLLMStream(
            self.owner,
            self.members,
            self.settings,
            chat_ctx=chat_ctx,
            tools=tools,
            conn_options=conn_options,
            extra=kwargs,
        )

    def synthesize(self, text: str, *, conn_options: APIConnectOptions) -> tts.ChunkedStream:
        return FallbackChunkedStream(
            self.owner, self.members, self.settings, text=text, conn_options=conn_options
        )

    def tts_stream(self, *, conn_options: APIConnectOptions) -> tts.SynthesizeStream:
        return FallbackSynthesizeStream(
            self.owner, self.members, self.settings, conn_options=conn_options
        )
