"""Piper as a LiveKit ``tts.TTS``, running piper-tts (onnxruntime) in this process.

Piper synthesizes one sentence at a time, so a request's audio is pushed sentence by sentence as
it is made, from the default thread pool executor, never on the event loop. The TTS is not
streaming (Piper takes whole text): ``AgentSession`` wraps it in ``tts.StreamAdapter``, which sends
it one sentence of the reply at a time. Each voice is loaded once per process and shared.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from voicegateway.plugin_api import EngineCache

if TYPE_CHECKING:
    from piper import PiperVoice


@dataclass(frozen=True)
class VoiceOptions:
    """The files of one voice: one voice is loaded per distinct value, per process."""

    model_path: str
    config_path: str


def _load(options: VoiceOptions) -> PiperVoice:
    from piper import PiperVoice

    return PiperVoice.load(options.model_path, config_path=options.config_path)


_voices: EngineCache[VoiceOptions, PiperVoice] = EngineCache("piper", "Piper voice", _load)

load_voice = _voices.get
"""The voice for some ``VoiceOptions``, loaded once per process. Blocking: call it from a worker
thread."""

# Piper phonemizes with espeak-ng, whose state is global to the process: two texts phonemized at
# once in two threads could mix. Inference (onnxruntime) is thread-safe and runs outside it.
_espeak_lock = threading.Lock()


class _Synthesis(TypedDict):
    """``piper.SynthesisConfig``'s arguments (piper is imported only when a voice loads)."""

    speaker_id: int | None
    length_scale: float | None
    noise_scale: float | None
    noise_w_scale: float | None


class PiperTTS(tts.TTS):
    """Text-to-speech with a local Piper voice.

    ``model`` is the name records carry (``en_US-joe-medium``); ``voice`` says which files to
    load; ``sample_rate`` is the voice's own (from its config). ``speaker_id`` picks a speaker of
    a multi-speaker voice; the scales are Piper's synthesis settings (None: the voice's own).
    """

    def __init__(
        self,
        *,
        model: str,
        voice: VoiceOptions,
        sample_rate: int,
        speaker_id: int | None = None,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self._model = model
        self._voice = voice
        self._synthesis: _Synthesis = {
            "speaker_id": speaker_id,
            "length_scale": length_scale,
            "noise_scale": noise_scale,
            "noise_w_scale": noise_w_scale,
        }

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return "piper"

    def prewarm(self) -> None:
        """Start loading the voice in the background, so the first reply does not wait."""
        _voices.prewarm(self._voice)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _PiperStream(tts=self, input_text=text, conn_options=conn_options)

    def _start(self, voice: PiperVoice, text: str) -> tuple[bytes | None, Iterator[bytes]]:
        """Runs in a worker thread, the voice loaded: phonemize, and make the first sentence.
        Returns its 16-bit PCM (None: the text has nothing to say) and the later sentences."""
        from piper import SynthesisConfig

        chunks = voice.synthesize(text, SynthesisConfig(**self._synthesis))
        sentences = (chunk.audio_int16_bytes for chunk in chunks)
        with _espeak_lock:  # the generator phonemizes the whole text before its first sentence
            first = next(sentences, None)
        return first, sentences


class _PiperStream(tts.ChunkedStream):
    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._tts: PiperTTS = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        loop = asyncio.get_running_loop()
        try:
            pcm, sentences = await _voices.run(self._tts._voice, self._tts._start, self.input_text)
            while pcm is not None:
                output_emitter.push(pcm)
                pcm = await loop.run_in_executor(None, next, sentences, None)
        except Exception as exc:
            raise APIError(f"Piper could not synthesize: {exc}", retryable=False) from exc
