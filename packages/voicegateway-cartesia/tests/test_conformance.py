"""The provider conformance kit, run against the cartesia provider and the local Cartesia
server."""

from __future__ import annotations

import pytest

from voicegateway_testkit.conformance import ProviderConformance
from voicegateway_testkit.servers.cartesia import CartesiaServer
from voicegateway_testkit.tts_checks import billed_characters


class TestConformance(ProviderConformance):
    provider = "cartesia"
    api_key = "sk_car_test_0123456789"  # conftest.CARTESIA_KEY

    @pytest.fixture
    def server(self, cartesia_server: CartesiaServer) -> CartesiaServer:
        return cartesia_server

    @pytest.fixture
    def provider_block(self, server: CartesiaServer) -> dict:
        return {"base_url": server.url, "api_key": self.api_key}

    async def bill_tts(self, tts, server: CartesiaServer) -> dict[str, float]:
        return await billed_characters(tts, server.transcripts)

    def fail_next(self, server: CartesiaServer, modality: str, status: int) -> None:
        server.fault("/tts/bytes", status=status, times=1)
