"""The provider conformance kit, run against the cartesia provider and the local Cartesia
server."""

from __future__ import annotations

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_tts
from voicegateway_testkit.servers.cartesia import CartesiaServer

KEY = "sk_car_conformance_0123456789"


class TestConformance(ProviderConformance):
    provider = "cartesia"
    api_key = KEY

    @pytest.fixture
    def server(self):
        with CartesiaServer(api_key=KEY) as server:
            yield server

    @pytest.fixture
    def provider_block(self, server: CartesiaServer) -> dict:
        return {"base_url": server.url, "api_key": self.api_key}

    async def bill_tts(self, tts, server: CartesiaServer) -> dict[str, float]:
        before = len(server.transcripts())
        await drive_tts(tts, "Your table for two is booked for seven tonight.")
        [transcript] = server.transcripts()[before:]
        return {"characters": len(transcript)}

    def fail_next(self, server: CartesiaServer, modality: str, status: int) -> None:
        server.fault("/tts/bytes", status=status, times=1)
