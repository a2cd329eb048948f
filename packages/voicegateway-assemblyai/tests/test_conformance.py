"""The assemblyai provider against the conformance kit, served by the testkit's
AssemblyAIServer."""

from __future__ import annotations

from typing import Any

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_stt, speech
from voicegateway_testkit.servers.assemblyai import AssemblyAIServer

from .conftest import KEY


class TestConformance(ProviderConformance):
    provider = "assemblyai"
    api_key = KEY

    @pytest.fixture
    def server(self, assemblyai_server: AssemblyAIServer) -> AssemblyAIServer:
        return assemblyai_server

    @pytest.fixture
    def provider_block(self, server: AssemblyAIServer) -> dict[str, Any]:
        return {"base_url": server.url, "api_key": self.api_key}

    async def bill_stt(self, obj: Any, server: AssemblyAIServer) -> dict[str, float]:
        """Universal-Streaming bills the seconds the session was open, as its Termination
        message says."""
        server.transcript = "book a table"
        assert await drive_stt(obj, speech(2.0)) == "book a table book a table"
        termination = server.terminations[-1]
        return {"audio_seconds": termination["session_duration_seconds"]}

    def fail_next(self, server: AssemblyAIServer, modality: str, status: int) -> None:
        server.fault("/v3/ws", status=status, times=1)
