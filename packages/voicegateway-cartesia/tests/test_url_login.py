"""A proxy's ``user:password@`` in cartesia's base_url: the plugin is given the URL without it
and a session that sends it as ``Authorization: Basic`` beside the key's own ``X-API-Key``, on
the bytes request and the websocket alike; no log or repr holds it."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from voicegateway import inference
from voicegateway.errors import ProviderUnavailable
from voicegateway_testkit.tts_checks import speak, synthesize
from voicegateway_testkit.url_login import check_login_sent, login_url

from .conftest import CARTESIA_KEY

VOICE_ID = "a0e99841-438c-4a64-b679-ae501e7d6091"


@pytest.fixture
def behind_a_proxy(use_config, cartesia_server, monkeypatch, caplog):
    monkeypatch.setenv("CARTESIA_API_KEY", CARTESIA_KEY)
    use_config(f"""
        providers:
          cartesia: {{base_url: "{login_url(cartesia_server.url)}"}}
    """)
    caplog.set_level(logging.DEBUG)


def assert_login_sent_and_never_shown(request, voice, caplog) -> None:
    shown = repr(voice.plugin.__dict__) + repr(voice.plugin._opts)
    check_login_sent([request], "X-API-Key", CARTESIA_KEY, caplog.text, shown)


async def test_the_bytes_request_and_the_websocket_carry_the_login(
    behind_a_proxy, cartesia_server, lk_http, no_retry, caplog
):
    voice = inference.TTS("cartesia/sonic-3", voice=VOICE_ID, conn_options=no_retry)

    assert await synthesize(voice, "Your table is booked.")
    assert await speak(voice, ["Your table ", "is booked."])

    [request] = cartesia_server.requests_for("/tts/bytes")
    assert_login_sent_and_never_shown(request, voice, caplog)
    [connection] = cartesia_server.requests_for("/tts/websocket")
    assert_login_sent_and_never_shown(connection, voice, caplog)


async def test_an_agents_own_session_carries_the_login_too(
    behind_a_proxy, cartesia_server, no_retry, caplog
):
    async with aiohttp.ClientSession() as session:
        voice = inference.TTS(
            "cartesia/sonic-3", voice=VOICE_ID, conn_options=no_retry, http_session=session
        )
        assert await synthesize(voice, "Your table is booked.")

    [request] = cartesia_server.requests_for("/tts/bytes")
    assert_login_sent_and_never_shown(request, voice, caplog)


def test_outside_a_job_without_a_session_the_build_says_what_to_do(behind_a_proxy):
    with pytest.raises(ProviderUnavailable) as refused:
        inference.TTS("cartesia/sonic-3", voice=VOICE_ID)

    message = str(refused.value)
    assert message.startswith("cartesia: ") and "http_session=" in message
    assert "s3cr3t" not in message and "alice" not in message
