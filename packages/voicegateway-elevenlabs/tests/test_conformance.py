"""The provider conformance kit, run against the elevenlabs provider and the local ElevenLabs
server."""

from __future__ import annotations

import pytest

from voicegateway_testkit.conformance import ProviderConformance
from voicegateway_testkit.servers.elevenlabs import ElevenLabsServer
from voicegateway_testkit.tts_checks import billed_characters


class TestConformance(ProviderConformance):
    provider = "elevenlabs"
    api_key = "sk_test_elevenlabs_0123456789"  # conftest.ELEVENLABS_KEY

    @pytest.fixture
    def server(self, elevenlabs_server: ElevenLabsServer) -> ElevenLabsServer:
        return elevenlabs_server

    @pytest.fixture
    def provider_block(self, server: ElevenLabsServer) -> dict:
        return {"base_url": f"{server.url}/v1", "api_key": self.api_key}

    async def bill_tts(self, tts, server: ElevenLabsServer) -> dict[str, float]:
        return await billed_characters(tts, server.texts)

    def fail_next(self, server: ElevenLabsServer, modality: str, status: int) -> None:
        from livekit.plugins.elevenlabs.tts import DEFAULT_VOICE_ID

        server.fault(f"/v1/text-to-speech/{DEFAULT_VOICE_ID}/stream", status=status, times=1)
