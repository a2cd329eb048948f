"""Kokoro as a LiveKit ``tts.TTS``, running kokoro-onnx (onnxruntime, espeak-ng phonemes) in
this process.

Each request is synthesized whole, with ``Kokoro.create`` in the default thread pool executor.
kokoro-onnx's own ``create_stream`` would split a long text into batches, but it phonemizes the
text on the event loop first; replies reach a TTS one sentence at a time anyway (``AgentSession``
wraps a non-streaming TTS in ``tts.StreamAdapter``), so nothing is lost. Each model is loaded once
per process and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from voicegateway.plugin_api import EngineCache

if TYPE_CHECKING:
    from kokoro_onnx import Kokoro

SAMPLE_RATE = 24000
"""What every Kokoro model produces (``kokoro_onnx.config.SAMPLE_RATE``)."""


@dataclass(frozen=True)
class EngineOptions:
    """The files of one model: one model is loaded per distinct value, per process."""

    model_path: str
    voices_path: str


def _load(options: EngineOptions) -> Kokoro:
    from kokoro_onnx import Kokoro

    return Kokoro(options.model_path, options.voices_path)


_engines: EngineCache[EngineOptions, Kokoro] = EngineCache("kokoro", "Kokoro model", _load)


class KokoroTTS(tts.TTS):
    """Text-to-speech with a local Kokoro model.

    ``model`` is the name records carry (``v1.0``); ``engine`` says which files to load;
    ``voice`` is a name in the voices file, ``lang`` espeak-ng's language for the phonemes.
    """

    def __init__(
        self,
        *,
        model: str,
        engine: EngineOptions,
        voice: str,
        speed: float = 1.0,
        lang: str = "en-us",
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self._model = model
        self._engine = engine
        self._voice = voice
        self._speed = speed
        self._lang = lang

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return "kokoro"

    def prewarm(self) -> None:
        """Start loading the model in the background, so the first reply does not wait."""
        _engines.prewarm(self._engine)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _KokoroStream(tts=self, input_text=text, conn_options=conn_options)

    def _synthesize_pcm(self, engine: Kokoro, text: str) -> bytes:
        """Runs in a worker thread, the model loaded: phonemize and synthesize; 16-bit PCM."""
        audio, _ = engine.create(text, voice=self._voice, speed=self._speed, lang=self._lang)
        return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class _KokoroStream(tts.ChunkedStream):
    def __init__(self, *, tts: KokoroTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._tts: KokoroTTS = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        try:
            pcm = await _engines.run(self._tts._engine, self._tts._synthesize_pcm, self.input_text)
        except Exception as exc:
            raise APIError(f"Kokoro could not synthesize: {exc}", retryable=False) from exc
        output_emitter.push(pcm)
