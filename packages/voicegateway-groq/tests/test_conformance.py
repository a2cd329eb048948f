"""The groq provider against the conformance kit, served by the testkit's GroqServer."""

from __future__ import annotations

from typing import Any

import pytest

from voicegateway_groq.plugin import MIN_BILLED_SECONDS
from voicegateway_testkit.conformance import ProviderConformance, drive_llm, drive_stt, speech
from voicegateway_testkit.servers.groq import PREFIX, GroqServer

PATHS = {"stt": f"{PREFIX}/audio/transcriptions", "llm": f"{PREFIX}/chat/completions"}


class TestConformance(ProviderConformance):
    provider = "groq"
    api_key = "gsk_conformance_0123456789abcdef"

    @pytest.fixture
    def server(self, groq_server: GroqServer) -> GroqServer:
        groq_server.api_key = self.api_key
        return groq_server

    @pytest.fixture
    def provider_block(self, server: GroqServer) -> dict[str, Any]:
        return {"base_url": f"{server.url}{PREFIX}", "api_key": self.api_key}

    async def bill_stt(self, obj: Any, server: GroqServer) -> dict[str, float]:
        """Groq bills the uploaded audio, at least 10 seconds a request (the seconds sent are
        checked in test_groq.py: they are not a billed unit)."""
        server.transcript = "one two three four"
        assert await drive_stt(obj, speech(2.0)) == "one two three four"
        return {"audio_seconds": max(server.transcribed_seconds[-1], MIN_BILLED_SECONDS)}

    async def bill_llm(self, obj: Any, server: GroqServer) -> dict[str, float]:
        server.reply = "Sure, seven o'clock."
        server.prompt_tokens, server.completion_tokens = 42, 5
        assert await drive_llm(obj, "Book a table.") == "Sure, seven o'clock."
        return {"input_tokens": 42, "output_tokens": 5}

    def fail_next(self, server: GroqServer, modality: str, status: int) -> None:
        server.fault(PATHS[modality], status=status, times=1)
