"""The openai provider against the conformance kit, served by the testkit's OpenAIServer."""

from __future__ import annotations

import math
from typing import Any

import pytest

from voicegateway_testkit.conformance import (
    ProviderConformance,
    drive_llm,
    drive_stt,
    drive_tts,
    speech,
)
from voicegateway_testkit.servers import OpenAIServer
from voicegateway_testkit.servers.openai import AUDIO_TOKENS_PER_SECOND

PATHS = {
    "stt": "/v1/audio/transcriptions",
    "llm": "/v1/chat/completions",
    "tts": "/v1/audio/speech",
}


class TestConformance(ProviderConformance):
    provider = "openai"
    api_key = "sk-conformance-0123456789abcdef"

    @pytest.fixture
    def server(self, openai_server: OpenAIServer) -> OpenAIServer:
        openai_server.api_key = self.api_key
        return openai_server

    @pytest.fixture
    def provider_block(self, server: OpenAIServer) -> dict[str, Any]:
        return {"base_url": f"{server.url}/v1", "api_key": self.api_key}

    async def bill_stt(self, obj: Any, server: OpenAIServer) -> dict[str, float]:
        """gpt-4o-mini-transcribe bills the uploaded audio as input tokens and the transcript as
        output tokens, as the server's ``usage`` reports them."""
        server.transcript = "one two three four"
        frames = speech(2.0)
        assert await drive_stt(obj, frames) == "one two three four"
        seconds = round(sum(frame.duration for frame in frames), 6)  # the WAV the server read
        return {
            "input_tokens": math.ceil(seconds * AUDIO_TOKENS_PER_SECOND),
            "output_tokens": 4,
        }

    async def bill_llm(self, obj: Any, server: OpenAIServer) -> dict[str, float]:
        server.reply = "Sure, seven o'clock."
        server.prompt_tokens, server.cached_tokens, server.completion_tokens = 42, 10, 5
        assert await drive_llm(obj, "Book a table.") == "Sure, seven o'clock."
        return {"input_tokens": 42, "cached_tokens": 10, "output_tokens": 5}

    async def bill_tts(self, obj: Any, server: OpenAIServer) -> dict[str, float]:
        """gpt-4o-mini-tts bills the text as input tokens (the server counts words) and the
        audio as output tokens."""
        text = "Your table is booked."
        server.speech_seconds_per_char = 0.1
        seconds = await drive_tts(obj, text)
        assert seconds == pytest.approx(len(text) * 0.1, abs=0.05)
        return {
            "input_tokens": len(text.split()),
            "output_tokens": math.ceil(len(text) * 0.1 * AUDIO_TOKENS_PER_SECOND),
            "characters": len(text),
        }

    def fail_next(self, server: OpenAIServer, modality: str, status: int) -> None:
        server.fault(PATHS[modality], status=status, times=1)
