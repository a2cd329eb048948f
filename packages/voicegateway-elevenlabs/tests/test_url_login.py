"""A proxy's ``user:password@`` in elevenlabs' base_url: the plugin is given the URL without it
and a session that sends it as ``Authorization: Basic`` beside the key's own ``xi-api-key``, on
the HTTP request and the websocket alike; no log or repr holds it."""

from __future__ import annotations

import base64
import logging

from voicegateway import inference
from voicegateway_testkit.tts_checks import speak, synthesize

from .conftest import ELEVENLABS_KEY, VOICE

BASIC = base64.b64encode(b"alice:s3cr3t").decode()


async def test_the_http_request_and_the_websocket_carry_the_login(
    use_config, elevenlabs_server, monkeypatch, lk_http, no_retry, caplog
):
    monkeypatch.setenv("ELEVEN_API_KEY", ELEVENLABS_KEY)
    host = elevenlabs_server.url.removeprefix("http://")
    use_config(f"""
        providers:
          elevenlabs: {{base_url: "http://alice:s3cr3t@{host}/v1"}}
    """)
    caplog.set_level(logging.DEBUG)
    voice = inference.TTS("elevenlabs/eleven_flash_v2_5", voice=VOICE, conn_options=no_retry)

    assert await synthesize(voice, "Your table is booked.")
    assert await speak(voice, ["Your table ", "is booked."])

    [request] = elevenlabs_server.requests_for(f"/v1/text-to-speech/{VOICE}/stream")
    [connection] = elevenlabs_server.requests_for(f"/v1/text-to-speech/{VOICE}/multi-stream-input")
    for sent in (request, connection):
        assert sent.headers["Authorization"] == f"Basic {BASIC}"
        assert sent.headers["xi-api-key"] == ELEVENLABS_KEY
    assert "s3cr3t" not in caplog.text and BASIC not in caplog.text
    shown = repr(voice.plugin.__dict__) + repr(voice.plugin._opts)
    assert "s3cr3t" not in shown and BASIC not in shown
