"""Fake LiveKit STT, LLM and TTS plugins, and fake audio I/O for a voice ``AgentSession``.

The fakes report usage the way real plugins do, through LiveKit's base classes: ``FakeLLM`` ends
its stream with a usage chunk, ``FakeSTT`` streams ``RECOGNITION_USAGE`` events (and its batch
path is metered by ``STT.recognize``), ``FakeTTS`` pushes audio through the ``AudioEmitter``.
LiveKit turns those into ``metrics_collected`` events, so whatever meters a real plugin meters a
fake identically; nothing here emits metrics by hand.

Each fake takes ``fail_with``: an exception (``APIStatusError``, ``APIConnectionError``, ...)
raised by every request while it is set, to exercise retries, fallbacks and error accounting.
LiveKit retries retryable errors, so pass ``conn_options`` with ``max_retry=0`` to fail fast.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import llm, stt, tts, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import AudioBuffer
from livekit.agents.voice import io

from voicegateway_testkit import Scripted, ScriptSource
from voicegateway_testkit.audio import audio_frames, pcm_silence, pcm_tone

PROVIDER = "fake"
"""The ``provider`` every fake reports, and the id of the ``fake`` VoiceGateway provider."""

# -- STT ----------------------------------------------------------------------------------------


class FakeSTT(stt.STT):
    """Transcribes any audio as the scripted ``transcript``; callables get the seconds of audio.

    Streaming: each ``utterance_seconds`` of audio, and what is pending on ``flush()``, becomes
    START_OF_SPEECH, FINAL_TRANSCRIPT, END_OF_SPEECH and a RECOGNITION_USAGE event for that
    audio, so an ``AgentSession`` with ``turn_detection="stt"`` takes a user turn each time.
    Speech is announced only when an utterance completes: audio left over after the last one
    must not leave the session waiting for a user who never stops speaking.
    Batch ``recognize()`` returns one final transcript for the whole buffer.
    """

    def __init__(
        self,
        *,
        transcript: ScriptSource = "Hello, this is a test.",
        model: str = "fake-stt",
        language: str = "en",
        utterance_seconds: float = 1.0,
        sample_rate: int = 16000,
        fail_with: Exception | None = None,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self.transcript = transcript
        self._model = model
        self.language = language
        self.utterance_seconds = utterance_seconds
        self.sample_rate = sample_rate
        self.fail_with = fail_with

    transcript = Scripted()

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return PROVIDER

    def _speech(self, seconds: float, *, start: float = 0.0) -> stt.SpeechData:
        return stt.SpeechData(
            language=self.language,
            text=self.transcript.next(seconds),
            start_time=start,
            end_time=start + seconds,
            confidence=1.0,
        )

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        if self.fail_with is not None:
            raise self.fail_with
        seconds = utils.audio.calculate_audio_duration(buffer)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("fake-stt-"),
            alternatives=[self._speech(seconds)],
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> FakeRecognizeStream:
        return FakeRecognizeStream(stt=self, conn_options=conn_options)


class FakeRecognizeStream(stt.RecognizeStream):
    def __init__(self, *, stt: FakeSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=stt.sample_rate)
        self._fake = stt

    async def _run(self) -> None:
        if self._fake.fail_with is not None:
            raise self._fake.fail_with
        request_id = utils.shortuuid("fake-stt-")
        received = 0.0  # seconds of audio in this stream
        start = 0.0  # where the pending utterance begins

        def finish_utterance() -> None:
            nonlocal start
            seconds = received - start
            offset = self.start_time_offset
            events = (
                stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH, request_id=request_id),
                stt.SpeechEvent(
                    type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                    request_id=request_id,
                    alternatives=[self._fake._speech(seconds, start=offset + start)],
                ),
                stt.SpeechEvent(type=stt.SpeechEventType.END_OF_SPEECH, request_id=request_id),
                stt.SpeechEvent(
                    type=stt.SpeechEventType.RECOGNITION_USAGE,
                    request_id=request_id,
                    recognition_usage=stt.RecognitionUsage(audio_duration=seconds),
                ),
            )
            for event in events:
                self._event_ch.send_nowait(event)
            start = received

        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                if received > start:
                    finish_utterance()
                continue
            received += item.duration
            if received - start >= self._fake.utterance_seconds - 1e-9:
                finish_utterance()


# -- LLM ----------------------------------------------------------------------------------------


class FakeLLM(llm.LLM):
    """Streams the scripted ``reply`` word by word; callables get the ``ChatContext``.

    The stream ends with a usage chunk, as real plugins' streams do. ``prompt_tokens`` defaults
    to the words in the chat context and ``completion_tokens`` to the words in the reply;
    ``cached_tokens`` is reported as given.
    """

    def __init__(
        self,
        *,
        reply: ScriptSource = "Hello! How can I help you today?",
        model: str = "fake-llm",
        prompt_tokens: int | None = None,
        cached_tokens: int = 0,
        completion_tokens: int | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        super().__init__()
        self.reply = reply
        self._model = model
        self.prompt_tokens = prompt_tokens
        self.cached_tokens = cached_tokens
        self.completion_tokens = completion_tokens
        self.fail_with = fail_with
        self.chat_contexts: list[llm.ChatContext] = []
        """The context of every ``chat()`` call, oldest first."""

    reply = Scripted()

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return PROVIDER

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> FakeLLMStream:
        self.chat_contexts.append(chat_ctx)
        return FakeLLMStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class FakeLLMStream(llm.LLMStream):
    def __init__(
        self,
        fake: FakeLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(fake, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._fake = fake

    async def _run(self) -> None:
        fake = self._fake
        if fake.fail_with is not None:
            raise fake.fail_with
        text = fake.reply.next(self._chat_ctx)
        request_id = utils.shortuuid("fake-llm-")
        for piece in re.findall(r"\S+\s*|\s+", text):
            delta = llm.ChoiceDelta(role="assistant", content=piece)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
            await asyncio.sleep(0)  # a stream, not one burst: consumers see each chunk arrive

        prompt = fake.prompt_tokens
        if prompt is None:
            prompt = sum(
                len((item.text_content or "").split())
                for item in self._chat_ctx.items
                if item.type == "message"
            )
        completion = fake.completion_tokens
        if completion is None:
            completion = len(text.split())
        usage = llm.CompletionUsage(
            prompt_tokens=prompt,
            prompt_cached_tokens=fake.cached_tokens,
            completion_tokens=completion,
            total_tokens=prompt + completion,
        )
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=usage))


# -- TTS ----------------------------------------------------------------------------------------


class FakeTTS(tts.TTS):
    """Speaks any text as a tone of ``seconds_per_char`` per character.

    ``streaming=False`` (the default) makes a chunked-only TTS, which ``AgentSession`` wraps in
    LiveKit's sentence-splitting ``StreamAdapter``, like most HTTP TTS plugins. ``streaming=True``
    adds ``stream()``: audio for each pushed text chunk, one segment per ``flush()``, like the
    websocket plugins.
    """

    def __init__(
        self,
        *,
        model: str = "fake-tts",
        streaming: bool = False,
        sample_rate: int = 24000,
        seconds_per_char: float = 0.05,
        fail_with: Exception | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=streaming),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self._model = model
        self.seconds_per_char = seconds_per_char
        self.fail_with = fail_with
        self.texts: list[str] = []
        """Every text synthesized: each ``synthesize()`` call, each streamed chunk."""

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return PROVIDER

    def _speak(self, text: str) -> bytes:
        self.texts.append(text)
        return pcm_tone(len(text) * self.seconds_per_char, sample_rate=self.sample_rate)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> FakeChunkedStream:
        return FakeChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> FakeSynthesizeStream:
        if not self.capabilities.streaming:
            raise NotImplementedError("this FakeTTS was built with streaming=False")
        return FakeSynthesizeStream(tts=self, conn_options=conn_options)


class FakeChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: FakeTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._fake = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        if self._fake.fail_with is not None:
            raise self._fake.fail_with
        output_emitter.initialize(
            request_id=utils.shortuuid("fake-tts-"),
            sample_rate=self._fake.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        output_emitter.push(self._fake._speak(self.input_text))
        output_emitter.flush()


class FakeSynthesizeStream(tts.SynthesizeStream):
    def __init__(self, *, tts: FakeTTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._fake = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        if self._fake.fail_with is not None:
            raise self._fake.fail_with
        output_emitter.initialize(
            request_id=utils.shortuuid("fake-tts-"),
            sample_rate=self._fake.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            stream=True,
        )
        in_segment = False
        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                if in_segment:
                    output_emitter.end_segment()
                    in_segment = False
                continue
            if not in_segment:
                output_emitter.start_segment(segment_id=utils.shortuuid("fake-segment-"))
                in_segment = True
            self._mark_started()
            output_emitter.push(self._fake._speak(item))
            output_emitter.flush()


# -- audio I/O ----------------------------------------------------------------------------------


class FakeAudioInput(io.AudioInput):
    """A microphone for ``session.input.audio``: it delivers the audio a test pushes.

    Frames are 20 ms, like a LiveKit track's. ``close()`` ends the stream.
    """

    def __init__(self, *, sample_rate: int = 16000, label: str = "fake-audio-in") -> None:
        super().__init__(label=label)
        self.sample_rate = sample_rate
        self._ch = utils.aio.Chan[rtc.AudioFrame]()

    async def __anext__(self) -> rtc.AudioFrame:
        return await self._ch.__anext__()

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        self._ch.send_nowait(frame)

    def push_pcm(self, pcm: bytes) -> None:
        """Push 16-bit mono PCM at :attr:`sample_rate`."""
        for frame in audio_frames(pcm, sample_rate=self.sample_rate):
            self.push_frame(frame)

    def push_seconds(self, seconds: float, *, frequency: float | None = None) -> None:
        """Push ``seconds`` of silence, or of a tone at ``frequency`` Hz (e.g. for a VAD)."""
        if frequency is None:
            self.push_pcm(pcm_silence(seconds, sample_rate=self.sample_rate))
        else:
            self.push_pcm(pcm_tone(seconds, frequency=frequency, sample_rate=self.sample_rate))

    def close(self) -> None:
        self._ch.close()


@dataclass
class PlayedSegment:
    """One played segment: from the first frame after a flush to the next flush or clear."""

    seconds: float
    interrupted: bool


class FakeAudioOutput(io.AudioOutput):
    """A speaker for ``session.output.audio`` that plays instantly and keeps what it played.

    It reports playback started on a segment's first frame and finished right after each
    ``flush()`` (interrupted on ``clear_buffer()``), as a real sink does at the end of playout.
    """

    def __init__(self, *, sample_rate: int | None = None, label: str = "fake-audio-out") -> None:
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=sample_rate,
        )
        self.frames: list[rtc.AudioFrame] = []
        """Every frame captured, in order."""
        self.segments: list[PlayedSegment] = []
        """Every finished segment, in order."""
        self._pending = 0.0
        self._capturing = False

    @property
    def played_seconds(self) -> float:
        return sum(segment.seconds for segment in self.segments)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._capturing:
            self._capturing = True
            self.on_playback_started(created_at=time.time())
        self.frames.append(frame)
        self._pending += frame.duration

    def flush(self) -> None:
        super().flush()
        if not self._capturing:
            return
        self._capturing = False
        seconds, self._pending = self._pending, 0.0
        asyncio.get_running_loop().call_soon(self._finish, seconds, False)

    def clear_buffer(self) -> None:
        if not self._capturing:
            return
        self._capturing = False
        seconds, self._pending = self._pending, 0.0
        self._finish(seconds, True)

    def _finish(self, seconds: float, interrupted: bool) -> None:
        self.segments.append(PlayedSegment(seconds=seconds, interrupted=interrupted))
        self.on_playback_finished(playback_position=seconds, interrupted=interrupted)


@dataclass
class VoiceTurn:
    """What :func:`voice_turn` saw: the played segments, the session's model usage, and the
    (closed) session itself."""

    speaker: FakeAudioOutput
    usage: list[Any]
    session: Any = None


async def voice_turn(
    stt: Any,
    llm: Any,
    tts: Any,
    *,
    instructions: str = "Be brief.",
    seconds: float = 1.0,
    frequency: float | None = None,
    timeout: float = 10.0,
) -> VoiceTurn:
    """One spoken turn through a real ``AgentSession`` with no room: ``seconds`` of audio into
    the microphone (the STT's turn detection ends the turn), until the agent's reply has been
    played, then the session is closed."""
    from livekit.agents import Agent, AgentSession

    session = AgentSession(
        stt=stt,
        llm=llm,
        tts=tts,
        vad=None,
        turn_handling={"turn_detection": "stt", "endpointing": {"min_delay": 0.0}},
    )
    mic, speaker = FakeAudioInput(), FakeAudioOutput()
    session.input.audio, session.output.audio = mic, speaker
    await session.start(Agent(instructions=instructions))
    try:
        mic.push_seconds(seconds, frequency=frequency)
        async with asyncio.timeout(timeout):
            while not speaker.segments:
                await asyncio.sleep(0.02)
        usage = list(session.usage.model_usage)
    finally:
        await session.aclose()
    return VoiceTurn(speaker, usage, session)
