"""The anthropic provider against the conformance kit, served by the testkit's AnthropicServer."""

from __future__ import annotations

from typing import Any

import pytest

from voicegateway_testkit.conformance import ProviderConformance, drive_llm
from voicegateway_testkit.servers.anthropic import AnthropicServer


class TestConformance(ProviderConformance):
    provider = "anthropic"
    api_key = "sk-ant-conformance-0123456789abcdef"

    @pytest.fixture
    def server(self, anthropic_server: AnthropicServer) -> AnthropicServer:
        anthropic_server.api_key = self.api_key
        return anthropic_server

    @pytest.fixture
    def provider_block(self, server: AnthropicServer) -> dict[str, Any]:
        return {"base_url": server.url, "api_key": self.api_key}

    async def bill_llm(self, obj: Any, server: AnthropicServer) -> dict[str, float]:
        """Anthropic bills the uncached input, the cache reads and writes, and the final
        cumulative output count; the prompt a record carries is the sum of the three inputs."""
        server.reply = "Sure, seven o'clock."
        server.input_tokens, server.output_tokens = 30, 5
        server.cache_read_input_tokens, server.cache_creation_input_tokens = 8, 4
        assert await drive_llm(obj, "Book a table.") == "Sure, seven o'clock."
        return {
            "input_tokens": 30 + 8 + 4,
            "cached_tokens": 8,
            "cache_creation_tokens": 4,
            "output_tokens": 5,
        }

    def fail_next(self, server: AnthropicServer, modality: str, status: int) -> None:
        server.fault("/v1/messages", status=status, times=1)
