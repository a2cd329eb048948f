"""The provider conformance kit, run against the kokoro provider with the tiny Kokoro-shaped
model of tiny_kokoro.py (no English Kokoro weights are on PyPI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_tts

TEXT = "Conformance, with a tiny model."


class TestConformance(ProviderConformance):
    provider = "kokoro"
    api_key = None

    @pytest.fixture
    def provider_block(self, kokoro_files: tuple[Path, Path]) -> dict[str, Any]:
        model, voices = kokoro_files
        return {"model_path": str(model), "voices_path": str(voices), "voice": "af_test"}

    async def bill_tts(self, tts: Any, server: Any) -> dict[str, float]:
        seconds = await drive_tts(tts, TEXT)
        return {"characters": len(TEXT), "audio_seconds": seconds}
