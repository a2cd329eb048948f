"""ElevenLabs TTS through ``voicegateway.inference``: the real
``livekit.plugins.elevenlabs.TTS`` against the testkit's ElevenLabs server, on the HTTP
(``synthesize()``) and multi-context websocket (``stream()``) paths. ElevenLabs bills the
characters of the text it is sent, so every record's ``characters`` is checked against what the
server received."""

from __future__ import annotations

from decimal import Decimal

import pytest
from livekit.agents import APIConnectionError, APIStatusError
from livekit.plugins import elevenlabs as lk_elevenlabs

from voicegateway import inference
from voicegateway_testkit.conformance import wait_ended
from voicegateway_testkit.tts_checks import (
    check_plugin_import_is_light,
    failed_call,
    speak,
    synthesize,
)

VOICE = "21m00Tcm4TlvDq8ikWAM"  # conftest.VOICE
KEY = "sk_test_elevenlabs_0123456789"  # conftest.ELEVENLABS_KEY
HTTP_PATH = f"/v1/text-to-speech/{VOICE}/stream"
WS_PATH = f"/v1/text-to-speech/{VOICE}/multi-stream-input"
FLASH_PER_CHAR = Decimal("0.05") / 1000  # voice-prices: elevenlabs/eleven_flash_v2_5
MULTILINGUAL_PER_CHAR = Decimal("0.1") / 1000  # voice-prices: elevenlabs/eleven_multilingual_v2


async def test_synthesize_bills_the_text_sent(gateway, elevenlabs_server, lk_http, no_retry):
    text = "Your table for two is booked for seven tonight."
    voice = inference.TTS("voice", conn_options=no_retry)
    assert isinstance(voice.plugin, lk_elevenlabs.TTS)
    reported = []
    voice.on("metrics_collected", reported.append)
    frames = await synthesize(voice, text)

    assert frames and all(f.sample_rate == 24000 and f.num_channels == 1 for f in frames)
    assert sum(f.duration for f in frames) == pytest.approx(len(text) * 0.05, abs=0.05)
    [request] = elevenlabs_server.requests_for(HTTP_PATH)  # the voice came from the suffix
    assert request.headers["xi-api-key"] == KEY
    assert request.query["output_format"] == "pcm_24000"  # raw PCM, not the plugin's MP3
    assert request.json["model_id"] == "eleven_flash_v2_5"
    assert elevenlabs_server.texts() == [text]

    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == (
        "elevenlabs",
        "eleven_flash_v2_5",
        "ok",
    )
    assert record.characters == len(text)
    assert [(m.characters_count, m.streamed) for m in reported] == [(len(text), False)]
    assert (record.price_source, record.cost_usd) == ("catalog", len(text) * FLASH_PER_CHAR)


async def test_stream_bills_the_text_pushed(gateway, elevenlabs_server, lk_http, no_retry):
    """A context opens with a single space and the plugin appends a space to each sentence:
    protocol padding around the text; the record bills the text itself."""
    pieces = ["Your table ", "is booked. ", "We look forward ", "to seeing you at seven."]
    pushed = "".join(pieces)
    voice = inference.TTS("voice", conn_options=no_retry)
    reported = []
    voice.on("metrics_collected", reported.append)
    frames = await speak(voice, pieces)

    assert sum(f.duration for f in frames) > 1.0
    [connection] = elevenlabs_server.requests_for(WS_PATH)
    assert connection.headers["xi-api-key"] == KEY
    assert connection.query["model_id"] == "eleven_flash_v2_5"
    assert connection.query["output_format"] == "pcm_24000"
    assert connection.messages[0]["text"] == " "  # the message that opens the context
    assert connection.messages[-1] == {
        "context_id": connection.messages[0]["context_id"],
        "close_context": True,
    }
    [received] = elevenlabs_server.texts()
    assert received.strip() == pushed and (received[0] + received[len(pushed) + 1 :]).isspace()

    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == (
        "elevenlabs",
        "eleven_flash_v2_5",
        "ok",
    )
    assert record.characters == len(pushed)
    # LiveKit counts the text pushed before the flush too, not the padded text sent
    assert [(m.characters_count, m.streamed) for m in reported] == [(len(pushed), True)]
    assert record.cost_usd == len(pushed) * FLASH_PER_CHAR


async def test_an_interrupted_stream_bills_what_elevenlabs_received(
    gateway, elevenlabs_server, lk_http, no_retry
):
    """The user barges in while the first audio plays: ElevenLabs was sent the whole text and
    bills it. (LiveKit reports the segment when the plugin ends it on close, with
    ``cancelled`` false, so the record's status is not ``cancelled``; its units are right.)"""
    elevenlabs_server.chunk_interval = 0.05
    text = "I am sorry, we have no table left at seven, but there is one at eight."
    voice = inference.TTS("voice", conn_options=no_retry)
    stream = voice.stream()
    stream.push_text(text)
    stream.flush()
    async for _ in stream:
        break
    await stream.aclose()
    await wait_ended(voice)

    [received] = elevenlabs_server.texts()
    assert received.strip() == text
    [record] = gateway.records()
    assert record.characters == len(text)
    assert record.cost_usd == len(text) * FLASH_PER_CHAR


async def test_the_model_sets_the_price(gateway, elevenlabs_server, lk_http, no_retry):
    """Multilingual v2 costs a credit a character, Flash and Turbo half that: same characters,
    twice the cost."""
    text = "Bonjour, votre table est prête."
    voice = inference.TTS(
        "elevenlabs/eleven_multilingual_v2", voice=VOICE, language="fr", conn_options=no_retry
    )
    await synthesize(voice, text)
    [request] = elevenlabs_server.requests_for(HTTP_PATH)
    assert request.json["model_id"] == "eleven_multilingual_v2"
    assert request.json["language_code"] == "fr"
    [record] = gateway.records()
    assert (record.model, record.characters) == ("eleven_multilingual_v2", len(text))
    assert record.cost_usd == len(text) * MULTILINGUAL_PER_CHAR


async def test_sample_rate_picks_the_pcm_format(gateway, elevenlabs_server, lk_http, no_retry):
    voice = inference.TTS("voice", sample_rate=16000, conn_options=no_retry)
    frames = await synthesize(voice, "Hello.")
    assert {f.sample_rate for f in frames} == {16000}
    [request] = elevenlabs_server.requests_for(HTTP_PATH)
    assert request.query["output_format"] == "pcm_16000"


@pytest.mark.parametrize("path", ["synthesize", "stream"])
async def test_a_wrong_key_raises_401_without_the_key(
    gateway, elevenlabs_server, lk_http, no_retry, path
):
    voice = inference.TTS("voice", api_key="sk_wrong_987654321", conn_options=no_retry)
    call = synthesize(voice, "Hello.") if path == "synthesize" else speak(voice, ["Hello."])
    failure = await failed_call(gateway, voice, call, APIStatusError)
    assert failure.status_code == 401 and not failure.retryable
    assert "987654321" not in repr(failure)


async def test_a_server_error_is_retryable_and_recorded(
    gateway, elevenlabs_server, lk_http, no_retry
):
    elevenlabs_server.fault(HTTP_PATH, status=500, times=1)
    voice = inference.TTS("voice", conn_options=no_retry)
    failure = await failed_call(gateway, voice, synthesize(voice, "Hello."), APIStatusError)
    assert failure.status_code == 500 and failure.retryable


async def test_a_websocket_dropped_mid_stream(gateway, elevenlabs_server, lk_http, no_retry):
    """The connection is cut after two audio messages: LiveKit raises, and the call is billed
    for the text ElevenLabs had received and started speaking."""
    elevenlabs_server.fault(WS_PATH, drop_after=2, times=1)
    text = "Your table for two is booked for seven tonight."
    voice = inference.TTS("voice", conn_options=no_retry)
    call = speak(voice, [text])
    await failed_call(gateway, voice, call, APIStatusError, match="closed unexpectedly")

    [received] = elevenlabs_server.texts()
    assert received.strip() == text
    assert gateway.records()[0].characters == len(text)


async def test_an_http_response_dropped_mid_stream(gateway, elevenlabs_server, lk_http, no_retry):
    elevenlabs_server.fault(HTTP_PATH, drop_after=1, times=1)
    voice = inference.TTS("voice", conn_options=no_retry)
    await failed_call(
        gateway, voice, synthesize(voice, "Your table for two is booked."), APIConnectionError
    )


async def test_a_refused_connection_bills_nothing(gateway, elevenlabs_server, lk_http, no_retry):
    voice = inference.TTS("voice", api_key="sk_wrong_987654321", conn_options=no_retry)
    await failed_call(gateway, voice, speak(voice, ["Hello there."]), APIStatusError)
    assert elevenlabs_server.texts() == []  # the handshake was refused: no text was sent
    assert gateway.records()[0].characters == 0


def test_importing_the_plugin_module_loads_no_livekit_plugin():
    check_plugin_import_is_light("voicegateway_elevenlabs", "livekit.plugins.elevenlabs")


async def test_the_key_may_come_from_elevenlabs_api_key(
    gateway, elevenlabs_server, lk_http, no_retry, monkeypatch
):
    """The plugin reads ``ELEVEN_API_KEY``; ElevenLabs' own SDKs read ``ELEVENLABS_API_KEY``."""
    monkeypatch.delenv("ELEVEN_API_KEY")
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    await synthesize(inference.TTS("voice", conn_options=no_retry), "Hello.")
    [request] = elevenlabs_server.requests_for(HTTP_PATH)
    assert request.headers["xi-api-key"] == KEY
