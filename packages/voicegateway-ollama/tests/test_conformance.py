"""The ollama provider against the conformance kit, served by the testkit's OllamaServer."""

from __future__ import annotations

from typing import Any

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_llm
from voicegateway_testkit.servers.ollama import OllamaServer


class TestConformance(ProviderConformance):
    provider = "ollama"
    api_key = None  # Ollama checks no key

    @pytest.fixture
    def server(self, ollama_server: OllamaServer) -> OllamaServer:
        return ollama_server

    @pytest.fixture
    def provider_block(self, server: OllamaServer) -> dict[str, Any]:
        return {"base_url": f"{server.url}/v1"}

    async def bill_llm(self, obj: Any, server: OllamaServer) -> dict[str, float]:
        """A local engine bills nothing, but the records keep the tokens of its usage chunk."""
        server.reply = "Sure, seven o'clock."
        server.prompt_tokens, server.completion_tokens = 42, 5
        assert await drive_llm(obj, "Book a table.") == "Sure, seven o'clock."
        return {"input_tokens": 42, "output_tokens": 5}
