"""The deepgram provider against the conformance kit, served by the testkit's DeepgramServer."""

from __future__ import annotations

from typing import Any

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_stt, drive_tts, speech
from voicegateway_testkit.servers import DeepgramServer

PATHS = {"stt": "/v1/listen", "tts": "/v1/speak"}


class TestConformance(ProviderConformance):
    provider = "deepgram"
    api_key = "dg-conformance-0123456789abcdef"

    @pytest.fixture
    def server(self, deepgram_server: DeepgramServer) -> DeepgramServer:
        deepgram_server.api_key = self.api_key
        return deepgram_server

    @pytest.fixture
    def provider_block(self, server: DeepgramServer) -> dict[str, Any]:
        return {"base_url": f"{server.url}/v1", "api_key": self.api_key}

    async def bill_stt(self, obj: Any, server: DeepgramServer) -> dict[str, float]:
        """Live transcription bills the connection's lifetime, or the audio it carried when that
        is longer (here: 2 s of speech sent faster than real time)."""
        server.transcript = "book a table"
        assert await drive_stt(obj, speech(2.0)) == "book a table book a table"
        [listen] = server.requests_for("/v1/listen")
        return {"audio_seconds": await server.billed_seconds(listen)}

    async def bill_tts(self, obj: Any, server: DeepgramServer) -> dict[str, float]:
        """Aura bills the characters of the text sent."""
        text = "Your table is booked."
        assert await drive_tts(obj, text) > 0
        [speak] = server.requests_for("/v1/speak")
        return {"characters": len(speak.json["text"])}

    def fail_next(self, server: DeepgramServer, modality: str, status: int) -> None:
        server.fault(PATHS[modality], status=status, times=1)
