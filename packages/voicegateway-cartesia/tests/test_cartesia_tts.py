"""Cartesia TTS through ``voicegateway.inference``: the real ``livekit.plugins.cartesia.TTS``
against the testkit's Cartesia server, on the bytes (``synthesize()``) and websocket
(``stream()``) paths. Cartesia bills about one credit per character of the transcripts it is
sent, so every record's ``characters`` is checked against what the server received."""

from __future__ import annotations

from decimal import Decimal

import pytest
from livekit.agents import APIConnectionError, APIStatusError
from livekit.plugins import cartesia as lk_cartesia

from voicegateway import inference
from voicegateway_testkit.conformance import wait_ended
from voicegateway_testkit.tts_checks import (
    check_plugin_import_is_light,
    failed_call,
    speak,
    synthesize,
)

VOICE_ID = "a0e99841-438c-4a64-b679-ae501e7d6091"
KEY = "sk_car_test_0123456789"  # conftest.CARTESIA_KEY
SONIC_PER_CHAR = Decimal("0.05") / 1000  # voice-prices: cartesia/sonic-3, input_kchars


async def test_synthesize_bills_the_transcript_sent(gateway, cartesia_server, lk_http, no_retry):
    text = "Your table for two is booked for seven tonight."
    voice = inference.TTS("voice", conn_options=no_retry)
    assert isinstance(voice.plugin, lk_cartesia.TTS)
    reported = []
    voice.on("metrics_collected", reported.append)
    frames = await synthesize(voice, text)

    assert frames and all(f.sample_rate == 24000 and f.num_channels == 1 for f in frames)
    assert sum(f.duration for f in frames) == pytest.approx(len(text) * 0.05, abs=0.05)
    [request] = cartesia_server.requests_for("/tts/bytes")
    assert request.headers["X-API-Key"] == KEY and request.headers["Cartesia-Version"]
    assert request.json["model_id"] == "sonic-3"
    assert request.json["voice"] == {"mode": "id", "id": VOICE_ID}  # from the model suffix
    assert cartesia_server.transcripts() == [text]

    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == ("cartesia", "sonic-3", "ok")
    assert record.characters == len(text)
    assert [(m.characters_count, m.streamed) for m in reported] == [(len(text), False)]
    assert (record.price_source, record.cost_usd) == ("catalog", len(text) * SONIC_PER_CHAR)


async def test_stream_bills_the_text_pushed(gateway, cartesia_server, lk_http, no_retry):
    """The plugin sends each sentence with a trailing space and ends the context with a lone
    space; the record bills the text itself, which is the transcript without that padding."""
    pieces = ["Your table ", "is booked. ", "We look forward ", "to seeing you at seven."]
    pushed = "".join(pieces)
    voice = inference.TTS("cartesia/sonic-3", voice=VOICE_ID, conn_options=no_retry)
    reported = []
    voice.on("metrics_collected", reported.append)
    frames = await speak(voice, pieces)

    assert sum(f.duration for f in frames) > 1.0
    [connection] = cartesia_server.requests_for("/tts/websocket")
    assert connection.headers["X-API-Key"] == KEY
    assert connection.query["cartesia_version"] == lk_cartesia.tts.API_VERSION
    requests = [m for m in connection.messages if "transcript" in m]
    assert [m["continue"] for m in requests] == [True] * (len(requests) - 1) + [False]
    [received] = cartesia_server.transcripts()
    assert received.rstrip() == pushed and received[len(pushed) :].isspace()

    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == ("cartesia", "sonic-3", "ok")
    assert record.characters == len(pushed)
    # LiveKit counts the text pushed before the flush too, not the padded text sent
    assert [(m.characters_count, m.streamed) for m in reported] == [(len(pushed), True)]
    assert record.cost_usd == len(pushed) * SONIC_PER_CHAR


async def test_an_interrupted_stream_bills_what_cartesia_received(
    gateway, cartesia_server, lk_http, no_retry
):
    """LiveKit never reports a segment interrupted before its end; Cartesia was sent the text
    and bills it, so the call closes with a record for it."""
    cartesia_server.chunk_interval = 0.05
    text = "I am sorry, we have no table left at seven, but there is one at eight."
    voice = inference.TTS("voice", conn_options=no_retry)
    stream = voice.stream()
    stream.push_text(text)
    stream.flush()
    async for _ in stream:
        break  # the user barges in while the first audio plays
    await stream.aclose()
    await wait_ended(voice)

    [received] = cartesia_server.transcripts()
    assert received.rstrip() == text
    [record] = gateway.records()
    assert (record.status, record.characters) == ("cancelled", len(text))
    assert record.cost_usd == len(text) * SONIC_PER_CHAR


async def test_voice_language_and_sample_rate_reach_cartesia(
    gateway, cartesia_server, lk_http, no_retry
):
    voice = inference.TTS(
        "cartesia/sonic-turbo:fr-voice", language="fr", sample_rate=16000, conn_options=no_retry
    )
    frames = await synthesize(voice, "Bonjour.")
    assert {f.sample_rate for f in frames} == {16000}
    [request] = cartesia_server.requests_for("/tts/bytes")
    assert request.json["model_id"] == "sonic-turbo"
    assert request.json["voice"]["id"] == "fr-voice" and request.json["language"] == "fr"
    assert request.json["output_format"]["sample_rate"] == 16000
    [record] = gateway.records()
    assert (record.model, record.characters, record.price_source) == ("sonic-turbo", 8, "catalog")


@pytest.mark.parametrize("path", ["synthesize", "stream"])
async def test_a_wrong_key_raises_401_without_the_key(
    gateway, cartesia_server, lk_http, no_retry, path
):
    voice = inference.TTS("voice", api_key="sk_car_wrong_987654321", conn_options=no_retry)
    call = synthesize(voice, "Hello.") if path == "synthesize" else speak(voice, ["Hello."])
    failure = await failed_call(gateway, voice, call, APIStatusError)
    assert failure.status_code == 401 and not failure.retryable
    assert "987654321" not in repr(failure)


async def test_a_server_error_is_retryable_and_recorded(
    gateway, cartesia_server, lk_http, no_retry
):
    cartesia_server.fault("/tts/bytes", status=500, times=1)
    voice = inference.TTS("voice", conn_options=no_retry)
    failure = await failed_call(gateway, voice, synthesize(voice, "Hello."), APIStatusError)
    assert failure.status_code == 500 and failure.retryable


async def test_a_websocket_dropped_mid_stream(gateway, cartesia_server, lk_http, no_retry):
    """The connection is cut after two audio chunks: LiveKit raises, and the call is billed for
    the text Cartesia had received and started speaking."""
    cartesia_server.fault("/tts/websocket", drop_after=2, times=1)
    text = "Your table for two is booked for seven tonight."
    voice = inference.TTS("voice", conn_options=no_retry)
    call = speak(voice, [text])
    await failed_call(gateway, voice, call, APIStatusError, match="closed unexpectedly")

    [received] = cartesia_server.transcripts()
    assert received.rstrip() == text
    assert gateway.records()[0].characters == len(text)


async def test_a_bytes_response_dropped_mid_stream(gateway, cartesia_server, lk_http, no_retry):
    cartesia_server.fault("/tts/bytes", drop_after=1, times=1)
    voice = inference.TTS("voice", conn_options=no_retry)
    await failed_call(
        gateway, voice, synthesize(voice, "Your table for two is booked."), APIConnectionError
    )


async def test_a_refused_connection_bills_nothing(gateway, cartesia_server, lk_http, no_retry):
    cartesia_server.fault("/tts/websocket", status=401, times=1)
    voice = inference.TTS("voice", conn_options=no_retry)
    await failed_call(gateway, voice, speak(voice, ["Hello there."]), APIStatusError)
    assert cartesia_server.transcripts() == []  # the handshake was refused: no text was sent
    assert gateway.records()[0].characters == 0


def test_importing_the_plugin_module_loads_no_livekit_plugin():
    check_plugin_import_is_light("voicegateway_cartesia", "livekit.plugins.cartesia")
