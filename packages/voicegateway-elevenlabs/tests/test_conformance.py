"""The provider conformance kit, run against the elevenlabs provider and the local ElevenLabs
server."""

from __future__ import annotations

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_tts
from voicegateway_testkit.servers.elevenlabs import ElevenLabsServer

KEY = "sk_conformance_elevenlabs_0123456789"


class TestConformance(ProviderConformance):
    provider = "elevenlabs"
    api_key = KEY

    @pytest.fixture
    def server(self):
        with ElevenLabsServer(api_key=KEY) as server:
            yield server

    @pytest.fixture
    def provider_block(self, server: ElevenLabsServer) -> dict:
        return {"base_url": f"{server.url}/v1", "api_key": self.api_key}

    async def bill_tts(self, tts, server: ElevenLabsServer) -> dict[str, float]:
        before = len(server.texts())
        await drive_tts(tts, "Your table for two is booked for seven tonight.")
        [text] = server.texts()[before:]
        return {"characters": len(text)}

    def fail_next(self, server: ElevenLabsServer, modality: str, status: int) -> None:
        from livekit.plugins.elevenlabs.tts import DEFAULT_VOICE_ID

        server.fault(f"/v1/text-to-speech/{DEFAULT_VOICE_ID}/stream", status=status, times=1)
