"""Streaming transcription is billed for the connection's lifetime, as Deepgram bills it.

Real ``inference.STT("deepgram/nova-3")`` streams against the testkit's DeepgramServer, which
bills each connection for as long as it was open (``DeepgramServer.billed_seconds``). A stream
that sits idle after its audio is billed for the idle time too, whether it ends with
``end_input()`` (LiveKit's own close-time report) or is closed with ``aclose()`` (which may
cancel the metrics task before it reads that report: the call's closing record then bills it).
The records must match the server's bill, not the audio sent, and not LiveKit's lifetime, which
runs on until its keepalive task wakes.
"""

from __future__ import annotations

import asyncio

import pytest

from voicegateway import inference
from voicegateway_testkit.conformance import NO_RETRY, billed, call_records, speech, wait_ended
from voicegateway_testkit.servers import DeepgramServer

KEY = "dg-lifetime-0123456789abcdef"
IDLE = 1.5  # seconds the stream stays open after its audio
CLOCKS = 0.2
"""How far two clocks of one connection may differ: the server's runs from its handshake to its
close, the client's from the handshake's answer to the close message (a round trip each end,
on a loaded machine)."""


@pytest.fixture
def listener(use_config, deepgram_server: DeepgramServer, lk_http):
    deepgram_server.api_key = KEY
    gateway = use_config(f"""
        default_project: app
        providers:
          deepgram: {{api_key: {KEY}, base_url: "{deepgram_server.url}/v1"}}
    """)
    return gateway, inference.STT("deepgram/nova-3", conn_options=NO_RETRY)


@pytest.mark.parametrize("ending", ["end_input", "aclose"])
async def test_an_idle_stream_is_billed_for_its_lifetime(listener, deepgram_server, ending):
    gateway, listener = listener
    stream = listener.stream(conn_options=NO_RETRY)
    for frame in speech(0.5):
        stream.push_frame(frame)
    await asyncio.sleep(IDLE)
    if ending == "end_input":
        stream.end_input()
        async for _ in stream:
            pass
    else:
        await stream.aclose()
    await wait_ended(listener)

    [listen] = deepgram_server.requests_for("/v1/listen")
    bill = await deepgram_server.billed_seconds(listen)
    assert bill > IDLE - CLOCKS  # the connection, not the 0.5 s of audio
    records = call_records(gateway, listener)
    assert billed(records, "audio_seconds") == pytest.approx(bill, abs=CLOCKS), [
        (r.audio_seconds, r.audio_seconds_measured, r.estimated) for r in records
    ]
