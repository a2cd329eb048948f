"""A proxy's ``user:password@`` in elevenlabs' base_url: the plugin is given the URL without it
and a session that sends it as ``Authorization: Basic`` beside the key's own ``xi-api-key``, on
the HTTP request and the websocket alike; no log or repr holds it."""

from __future__ import annotations

import logging

from voicegateway import inference
from voicegateway_testkit.tts_checks import speak, synthesize
from voicegateway_testkit.url_login import check_login_sent, login_url

from .conftest import ELEVENLABS_KEY, VOICE


async def test_the_http_request_and_the_websocket_carry_the_login(
    use_config, elevenlabs_server, monkeypatch, lk_http, no_retry, caplog
):
    monkeypatch.setenv("ELEVEN_API_KEY", ELEVENLABS_KEY)
    use_config(f"""
        providers:
          elevenlabs: {{base_url: "{login_url(elevenlabs_server.url, "/v1")}"}}
    """)
    caplog.set_level(logging.DEBUG)
    voice = inference.TTS("elevenlabs/eleven_flash_v2_5", voice=VOICE, conn_options=no_retry)

    assert await synthesize(voice, "Your table is booked.")
    assert await speak(voice, ["Your table ", "is booked."])

    [request] = elevenlabs_server.requests_for(f"/v1/text-to-speech/{VOICE}/stream")
    [connection] = elevenlabs_server.requests_for(f"/v1/text-to-speech/{VOICE}/multi-stream-input")
    shown = repr(voice.plugin.__dict__) + repr(voice.plugin._opts)
    check_login_sent([request, connection], "xi-api-key", ELEVENLABS_KEY, caplog.text, shown)
