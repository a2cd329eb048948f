"""The testkit's ElevenLabsServer on its own: the parts of ElevenLabs' protocol the plugin does
not exercise (the non-streaming route, error bodies, several contexts on one socket)."""

from __future__ import annotations

import base64

import aiohttp
import pytest

KEY = "sk_test_elevenlabs_0123456789"
VOICE = "21m00Tcm4TlvDq8ikWAM"


async def test_the_non_streaming_route_returns_pcm(elevenlabs_server):
    url = f"{elevenlabs_server.url}/v1/text-to-speech/{VOICE}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            params={"output_format": "pcm_16000"},
            json={"text": "Hello.", "model_id": "eleven_flash_v2_5"},
            headers={"xi-api-key": KEY},
        ) as resp,
    ):
        audio = await resp.read()
    assert (resp.status, resp.content_type) == (200, "audio/pcm")
    assert resp.headers["request-id"]
    assert len(audio) == round(len("Hello.") * 0.05 * 16000) * 2
    assert elevenlabs_server.texts() == ["Hello."]


@pytest.mark.parametrize(
    ("headers", "params", "status", "kind"),
    [
        ({}, {"output_format": "pcm_24000"}, 401, "invalid_api_key"),
        ({"xi-api-key": "sk_wrong"}, {"output_format": "pcm_24000"}, 401, "invalid_api_key"),
        ({"xi-api-key": KEY}, {"output_format": "mp3_44100_128"}, 400, "invalid_request"),
    ],
)
async def test_errors_carry_elevenlabs_detail(elevenlabs_server, headers, params, status, kind):
    url = f"{elevenlabs_server.url}/v1/text-to-speech/{VOICE}/stream"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params=params, json={"text": "Hi."}, headers=headers) as resp,
    ):
        body = await resp.json()
    assert resp.status == status
    assert body["detail"]["status"] == kind and body["detail"]["message"]


async def test_contexts_on_one_socket(elevenlabs_server):
    url = f"{elevenlabs_server.url.replace('http', 'ws')}/v1/text-to-speech/{VOICE}"
    params = {"model_id": "eleven_flash_v2_5", "output_format": "pcm_8000"}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{url}/multi-stream-input", params=params, headers={"xi-api-key": KEY}
        ) as ws,
    ):
        for context in ("a", "b"):
            await ws.send_json({"text": " ", "context_id": context})
        await ws.send_json({"text": "Hi there.", "context_id": "b"})
        await ws.send_json({"text": "", "context_id": "a"})  # a keep-alive: nothing to say
        await ws.send_json({"context_id": "b", "close_context": True})
        messages = []
        while not messages or not messages[-1].get("isFinal"):
            messages.append(await ws.receive_json())
        await ws.send_json({"close_socket": True})
        closed = await ws.receive()
    assert {m["contextId"] for m in messages} == {"b"}
    audio = b"".join(base64.b64decode(m["audio"]) for m in messages if "audio" in m)
    assert len(audio) == round(len("Hi there.") * 0.05 * 8000) * 2
    assert "alignment" not in messages[0]  # sync_alignment was not asked for
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert elevenlabs_server.texts() == [" ", " Hi there."]
