"""Whisper as a LiveKit ``stt.STT``, running faster-whisper (CTranslate2) in this process.

Whisper transcribes whole utterances, so the STT is not streaming: ``AgentSession`` wraps it in
``stt.StreamAdapter`` with its VAD, which hands it one utterance at a time. Loading (a second or
more) and transcribing run in the default thread pool executor, never on the event loop; each
model is loaded once per process and shared by every ``WhisperSTT`` that uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from voicegateway.plugin_api import EngineCache

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16000
"""Whisper's feature extractor takes 16 kHz mono float32."""


@dataclass(frozen=True)
class EngineOptions:
    """What a loaded model depends on: one model is loaded per distinct value, per process."""

    model_path: str
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0


def _load(options: EngineOptions) -> WhisperModel:
    from faster_whisper import WhisperModel

    return WhisperModel(
        options.model_path,
        device=options.device,
        compute_type=options.compute_type,
        cpu_threads=options.cpu_threads,
    )


_engines: EngineCache[EngineOptions, WhisperModel] = EngineCache("whisper", "Whisper model", _load)


def _mono_16k(frame: rtc.AudioFrame) -> np.ndarray:
    """``frame`` as 16 kHz mono float32 in [-1, 1], as Whisper takes it."""
    samples = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
    if frame.sample_rate != SAMPLE_RATE:
        resampler = rtc.AudioResampler(frame.sample_rate, SAMPLE_RATE, num_channels=1)
        out = [*resampler.push(bytearray(samples.tobytes())), *resampler.flush()]
        samples = np.frombuffer(rtc.combine_audio_frames(out).data, dtype=np.int16)
    return samples.astype(np.float32) / 32768.0


class WhisperSTT(stt.STT):
    """Batch speech-to-text with a local Whisper model.

    ``model`` is the name records carry (``tiny.en``); ``engine`` says which files to load and
    how. ``language`` (None: detected, or English for ``.en`` models) can be overridden per call.
    """

    def __init__(
        self,
        *,
        model: str,
        engine: EngineOptions,
        language: str | None = None,
        beam_size: int = 5,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._model = model
        self._engine = engine
        self._language = language
        self._beam_size = beam_size

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return "whisper"

    def prewarm(self) -> None:
        """Start loading the model in the background, so the first utterance does not wait."""
        _engines.prewarm(self._engine)

    def load(self) -> None:
        """Load the model now unless it is loaded. Blocking: never call it on the event loop."""
        _engines.get(self._engine)

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        spoken = language if is_given(language) and language else self._language
        try:
            data = await _engines.run(self._engine, self._transcribe, frame, spoken)
        except Exception as exc:
            raise APIError(f"Whisper could not transcribe: {exc}", retryable=False) from exc
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid(),
            alternatives=[data],
        )

    def _transcribe(
        self, engine: WhisperModel, frame: rtc.AudioFrame, language: str | None
    ) -> stt.SpeechData:
        """Runs in a worker thread, the model loaded: resample, transcribe."""
        segments, info = engine.transcribe(
            _mono_16k(frame), language=language, beam_size=self._beam_size
        )
        segments = list(segments)  # the generator decodes as it is consumed: here, off the loop
        text = "".join(segment.text for segment in segments).strip()
        confidence = (
            sum(math.exp(s.avg_logprob) for s in segments) / len(segments) if segments else 0.0
        )
        return stt.SpeechData(
            language=LanguageCode(info.language),
            text=text,
            start_time=segments[0].start if segments else 0.0,
            end_time=segments[-1].end if segments else 0.0,
            confidence=confidence,
        )
