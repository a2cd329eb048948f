"""A voicegw.yaml whose ``cartesia`` provider is the testkit's local Cartesia server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import voicegateway
from voicegateway_testkit.servers.cartesia import CartesiaServer

CARTESIA_KEY = "sk_car_test_0123456789"


@pytest.fixture
def cartesia_server() -> Iterator[CartesiaServer]:
    with CartesiaServer(api_key=CARTESIA_KEY) as server:
        yield server


@pytest.fixture
def gateway(cartesia_server, use_config, monkeypatch) -> voicegateway.Gateway:
    """The process's gateway: ``cartesia`` at the local server, its key from the environment."""
    monkeypatch.setenv("CARTESIA_API_KEY", CARTESIA_KEY)
    return use_config(f"""
        default_project: app
        providers:
          cartesia: {{base_url: "{cartesia_server.url}"}}
        models:
          voice: cartesia/sonic-3:a0e99841-438c-4a64-b679-ae501e7d6091
    """)
