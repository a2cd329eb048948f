"""A voicegw.yaml whose ``elevenlabs`` provider is the testkit's local ElevenLabs server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import voicegateway
from voicegateway_testkit.servers.elevenlabs import ElevenLabsServer

ELEVENLABS_KEY = "sk_test_elevenlabs_0123456789"
VOICE = "21m00Tcm4TlvDq8ikWAM"


@pytest.fixture
def elevenlabs_server() -> Iterator[ElevenLabsServer]:
    with ElevenLabsServer(api_key=ELEVENLABS_KEY) as server:
        yield server


@pytest.fixture
def gateway(elevenlabs_server, use_config, monkeypatch) -> voicegateway.Gateway:
    """The process's gateway: ``elevenlabs`` at the local server, its key from the environment."""
    monkeypatch.setenv("ELEVEN_API_KEY", ELEVENLABS_KEY)
    return use_config(f"""
        default_project: app
        providers:
          elevenlabs: {{base_url: "{elevenlabs_server.url}/v1"}}
        models:
          voice: elevenlabs/eleven_flash_v2_5:{VOICE}
    """)
