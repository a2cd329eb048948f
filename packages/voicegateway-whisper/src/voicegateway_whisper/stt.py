"""Whisper as a LiveKit ``stt.STT``, running faster-whisper (CTranslate2) in this process.

Whisper transcribes whole utterances, so the STT is not streaming: ``AgentSession`` wraps it in
``stt.StreamAdapter`` with its VAD, which hands it one utterance at a time. Loading (a second or
more) and transcribing run in the default thread pool executor, never on the event loop; each
model is loaded once per process and shared by every ``WhisperSTT`` that uses it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger("voicegateway.whisper")

SAMPLE_RATE = 16000
"""Whisper's feature extractor takes 16 kHz mono float32."""


@dataclass(frozen=True)
class EngineOptions:
    """What a loaded model depends on: one model is loaded per distinct value, per process."""

    model_path: str
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0


_engines: dict[EngineOptions, WhisperModel] = {}
_engines_lock = threading.Lock()


def load_engine(options: EngineOptions) -> WhisperModel:
    """The model for ``options``, loaded by the first caller while the others wait. Blocking:
    call it from a worker thread."""
    engine = _engines.get(options)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(options)
            if engine is None:
                from faster_whisper import WhisperModel

                started = time.perf_counter()
                engine = WhisperModel(
                    options.model_path,
                    device=options.device,
                    compute_type=options.compute_type,
                    cpu_threads=options.cpu_threads,
                )
                _engines[options] = engine
                log.info(
                    "loaded Whisper model %s in %.1f s",
                    options.model_path,
                    time.perf_counter() - started,
                )
    return engine


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
        threading.Thread(
            target=load_engine, args=(self._engine,), name="whisper-load", daemon=True
        ).start()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        language = language if is_given(language) and language else self._language
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, self._transcribe, frame, language)
        except Exception as exc:
            raise APIError(f"Whisper could not transcribe: {exc}", retryable=False) from exc
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid(),
            alternatives=[data],
        )

    def _transcribe(self, frame: rtc.AudioFrame, language: str | None) -> stt.SpeechData:
        """Runs in a worker thread: load (first use), resample, transcribe."""
        engine = load_engine(self._engine)
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
