"""The provider conformance kit, run against the whisper provider with the real tiny.en model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_stt, speech
from voicegateway_whisper.plugin import MODELS


class TestConformance(ProviderConformance):
    provider = "whisper"
    api_key = None

    @pytest.fixture
    def provider_block(self, tiny_en: Path, tmp_path: Path) -> dict[str, Any]:
        """A directory of models holding every listed name: tiny.en stands in for each, so that
        every listed model builds."""
        models = tmp_path / "models"
        models.mkdir()
        for info in MODELS:
            (models / info.name).symlink_to(tiny_en)
        return {"model_path": str(models), "beam_size": 1}

    async def bill_stt(self, stt: Any, server: Any) -> dict[str, float]:
        frames = speech()
        await drive_stt(stt, frames)
        return {"audio_seconds": sum(frame.duration for frame in frames)}
