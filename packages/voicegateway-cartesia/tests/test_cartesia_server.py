"""The testkit's CartesiaServer on its own: the parts of Cartesia's protocol the plugin does not
exercise (other ways to authenticate, versioned error bodies, cancelling a context)."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from voicegateway_testkit.servers.cartesia import CartesiaServer

KEY = "sk_car_test_0123456789"
BODY = {
    "model_id": "sonic-3",
    "transcript": "Hello.",
    "voice": {"mode": "id", "id": "v"},
    "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 8000},
}


@pytest.mark.parametrize(
    ("headers", "query"),
    [({"X-API-Key": KEY}, {}), ({"Authorization": f"Bearer {KEY}"}, {}), ({}, {"api_key": KEY})],
)
async def test_every_way_to_pass_the_key(cartesia_server, headers, query):
    headers = {**headers, "Cartesia-Version": "2025-04-16"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{cartesia_server.url}/tts/bytes", json=BODY, headers=headers, params=query
        ) as resp,
    ):
        audio = await resp.read()
    assert resp.status == 200
    assert len(audio) == round(len("Hello.") * 0.05 * 8000) * 2


@pytest.mark.parametrize(
    ("version", "content_type"),
    [("2025-04-16", "text/plain"), ("2026-03-01", "application/json")],
)
async def test_errors_take_the_shape_of_the_api_version(cartesia_server, version, content_type):
    headers = {"X-API-Key": "sk_car_wrong", "Cartesia-Version": version}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{cartesia_server.url}/tts/bytes", json=BODY, headers=headers) as resp,
    ):
        text = await resp.text()
    assert (resp.status, resp.content_type) == (401, content_type)
    assert "Invalid API key" in text


async def test_a_request_without_a_version_is_refused(cartesia_server):
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{cartesia_server.url}/tts/bytes", json=BODY, headers={"X-API-Key": KEY}
        ) as resp,
    ):
        assert resp.status == 400
        assert "Cartesia-Version" in await resp.text()


async def test_websocket_continuations_cancel_and_format_errors(cartesia_server):
    url = f"{cartesia_server.url.replace('http', 'ws')}/tts/websocket"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url, params={"cartesia_version": "2025-04-16"}, headers={"X-API-Key": KEY}
        ) as ws,
    ):
        await ws.send_json({**BODY, "context_id": "a", "continue": True})
        audio = b""
        while len(audio) < 4800:  # 0.3 s of 16-bit audio at 8 kHz, in 0.1 s chunks
            message = await ws.receive_json()
            assert (message["type"], message["context_id"]) == ("chunk", "a")
            audio += base64.b64decode(message["data"])
        await ws.send_json({"context_id": "a", "cancel": True})
        await ws.send_json({**BODY, "context_id": "a", "continue": False})  # ignored
        wrong = {**BODY["output_format"], "encoding": "pcm_f32le"}
        await ws.send_json({**BODY, "output_format": wrong, "context_id": "b"})
        error = await ws.receive_json()
    assert (error["type"], error["context_id"], error["status_code"]) == ("error", "b", 400)
    assert audio  # a's audio came, then a was cancelled: its last request was not generated
    assert cartesia_server.transcripts() == ["Hello."]  # only a's first request was spoken


async def test_stop_closes_an_open_websocket():
    with CartesiaServer() as server:
        url = f"{server.url.replace('http', 'ws')}/tts/websocket?cartesia_version=2025-04-16"
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url, headers={"X-API-Key": "any"})
            server.stop()
            message = await ws.receive()
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await ws.close()
