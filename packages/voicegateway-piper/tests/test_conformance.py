"""The provider conformance kit, run against the piper provider with the real en_US-joe-medium
voice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicegateway_piper.plugin import MODELS
from voicegateway_testkit.conformance import ProviderConformance, drive_tts

TEXT = "Conformance, for real."


class TestConformance(ProviderConformance):
    provider = "piper"
    api_key = None

    @pytest.fixture
    def provider_block(self, joe: tuple[Path, Path], tmp_path: Path) -> dict[str, Any]:
        """A directory of voices holding every listed name: en_US-joe-medium stands in for each,
        so that every listed voice builds."""
        model, config = joe
        for info in MODELS:
            (tmp_path / f"{info.name}.onnx").symlink_to(model)
            (tmp_path / f"{info.name}.onnx.json").symlink_to(config)
        return {"model_path": str(tmp_path)}

    async def bill_tts(self, tts: Any, server: Any) -> dict[str, float]:
        seconds = await drive_tts(tts, TEXT)
        return {"characters": len(TEXT), "audio_seconds": seconds}
