"""Registers the ``kokoro`` provider: Kokoro-82M running in this process through kokoro-onnx.

``kokoro/<model>:<voice>`` names the model files ``providers.kokoro.model_path`` and
``voices_path`` point at (see :class:`KokoroSettings`) and a voice in the voices file
(``kokoro/v1.0:af_heart``). No package ships English Kokoro weights, and nothing is downloaded:
missing files are an error at build time, saying where to get them. The engine needs no key and
costs $0 unless ``pricing:`` gives it a rate; the billed unit is characters, as for cloud TTS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from voicegateway.plugin_api import (
    BuildRequest,
    ModelInfo,
    ProviderSettings,
    ProviderUnavailable,
    hookimpl,
    local_provider_spec,
)

VOICEGATEWAY_PLUGIN_API = 1

RELEASES = "https://github.com/thewh1teagle/kokoro-onnx/releases/tag/model-files-v1.0"

MODELS = (
    ModelInfo(
        "v1.0",
        "tts",
        "Kokoro-82M v1.0 (kokoro-v1.0.onnx, voices-v1.0.bin); voice in the suffix: "
        "kokoro/v1.0:af_heart",
    ),
)


class KokoroSettings(ProviderSettings):
    """``providers.kokoro`` in voicegw.yaml.

    - ``model_path``: the model (``kokoro-v1.0.onnx``, or its ``.fp16``/``.int8`` variants).
    - ``voices_path``: the voices file (``voices-v1.0.bin``).
    - ``voice``: the voice when the model string has no ``:voice`` suffix.
    - ``speed`` (0.5 to 2) and ``lang`` (espeak-ng's language for phonemes: ``en-us``,
      ``en-gb``...; a ``language=`` given to the TTS wins).
    """

    model_path: str | None = None
    voices_path: str | None = None
    voice: str = "af_heart"
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    lang: str = "en-us"


def _existing(model: str, setting: str, value: str | None, example: str) -> Path:
    if not value:
        raise ProviderUnavailable(
            f"kokoro/{model} needs providers.kokoro.{setting} (no package ships English Kokoro "
            f"weights): download {example} from {RELEASES} and set it to its path"
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise ProviderUnavailable(
            f"kokoro/{model}: providers.kokoro.{setting} {path} does not exist; download "
            f"{example} from {RELEASES}"
        )
    return path.resolve()  # one load per model, however it is reached


def voices_in(path: Path) -> list[str]:
    """The voice names of a voices file (a NumPy ``.npz`` archive); reads its index only."""
    import numpy as np

    with np.load(path) as voices:
        return list(voices.files)


def make_tts(request: BuildRequest) -> Any:
    from voicegateway_kokoro.tts import EngineOptions, KokoroTTS

    settings = request.settings
    if not isinstance(settings, KokoroSettings):
        settings = KokoroSettings()  # no providers.kokoro block: fails on model_path below
    model = _existing(request.model, "model_path", settings.model_path, "kokoro-v1.0.onnx")
    voices = _existing(request.model, "voices_path", settings.voices_path, "voices-v1.0.bin")
    voice = request.voice or settings.voice
    known = voices_in(voices)
    if voice not in known:
        raise ProviderUnavailable(
            f"kokoro/{request.model}: no voice {voice!r} in {voices} ({', '.join(sorted(known))})"
        )
    kwargs: dict[str, Any] = {
        "voice": voice,
        "speed": settings.speed,
        "lang": request.language or settings.lang,
    }
    kwargs.update(request.extra)
    return KokoroTTS(model=request.model, engine=EngineOptions(str(model), str(voices)), **kwargs)


@hookimpl
def register_providers(register):
    register(
        local_provider_spec(
            "kokoro",
            "voicegateway_kokoro.tts",
            tts=make_tts,
            models=MODELS,
            default_models={"tts": "v1.0"},
            settings=KokoroSettings,
        )
    )
