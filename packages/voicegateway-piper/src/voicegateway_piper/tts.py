"""Piper as a LiveKit ``tts.TTS``, running piper-tts (onnxruntime) in this process.

Piper synthesizes one sentence at a time, so a request's audio is pushed sentence by sentence as
it is made, from the default thread pool executor, never on the event loop. The TTS is not
streaming (Piper takes whole text): ``AgentSession`` wraps it in ``tts.StreamAdapter``, which sends
it one sentence of the reply at a time. Each voice is loaded once per process and shared.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

if TYPE_CHECKING:
    from piper import PiperVoice

log = logging.getLogger("voicegateway.piper")


@dataclass(frozen=True)
class VoiceOptions:
    """The files of one voice: one voice is loaded per distinct value, per process."""

    model_path: str
    config_path: str


_voices: dict[VoiceOptions, PiperVoice] = {}
_voices_lock = threading.Lock()

# Piper phonemizes with espeak-ng, whose state is global to the process: two texts phonemized at
# once in two threads could mix. Inference (onnxruntime) is thread-safe and runs outside it.
_espeak_lock = threading.Lock()


def load_voice(options: VoiceOptions) -> PiperVoice:
    """The voice for ``options``, loaded by the first caller while the others wait. Blocking:
    call it from a worker thread."""
    voice = _voices.get(options)
    if voice is None:
        with _voices_lock:
            voice = _voices.get(options)
            if voice is None:
                from piper import PiperVoice

                started = time.perf_counter()
                voice = PiperVoice.load(options.model_path, config_path=options.config_path)
                _voices[options] = voice
                log.info(
                    "loaded Piper voice %s in %.1f s",
                    options.model_path,
                    time.perf_counter() - started,
                )
    return voice


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
        self._synthesis = {
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
        threading.Thread(
            target=load_voice, args=(self._voice,), name="piper-load", daemon=True
        ).start()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _PiperStream(tts=self, input_text=text, conn_options=conn_options)

    def _start(self, text: str) -> tuple[bytes | None, Iterator[bytes]]:
        """Runs in a worker thread: load (first use), phonemize, and make the first sentence.
        Returns its 16-bit PCM (None: the text has nothing to say) and the later sentences."""
        from piper import SynthesisConfig

        voice = load_voice(self._voice)
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
            pcm, sentences = await loop.run_in_executor(None, self._tts._start, self.input_text)
            while pcm is not None:
                output_emitter.push(pcm)
                pcm = await loop.run_in_executor(None, next, sentences, None)
        except Exception as exc:
            raise APIError(f"Piper could not synthesize: {exc}", retryable=False) from exc
