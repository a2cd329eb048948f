"""DeepgramServer against the real ``livekit.plugins.deepgram`` classes, and on the wire."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from livekit.agents import APIConnectOptions, APIError, APIStatusError, stt
from livekit.agents.metrics import STTMetrics
from livekit.plugins import deepgram

from voicegateway_testkit.audio import audio_frames, pcm_silence, pcm_to_wav
from voicegateway_testkit.servers import DeepgramServer

pytestmark = pytest.mark.usefixtures("lk_http")


def collect_metrics(plugin) -> list:
    received: list = []
    plugin.on("metrics_collected", received.append)
    return received


async def test_stt_stream_to_the_end(deepgram_server: DeepgramServer, no_retry: APIConnectOptions):
    """The whole live session, CloseStream included. Slow on purpose: after end_input the plugin
    waits out its 5 s keepalive sleep before the stream ends."""
    deepgram_server.transcript = ["book a table", "for two"]
    plugin = deepgram.STT(api_key="test-key", base_url=deepgram_server.url + "/v1/listen")
    metrics = collect_metrics(plugin)

    stream = plugin.stream(conn_options=no_retry)
    for frame in audio_frames(pcm_silence(2.0)):
        stream.push_frame(frame)
    stream.end_input()
    events = [event async for event in stream]
    await asyncio.sleep(0.05)  # RecognizeStream's metrics task runs beside the stream

    final = stt.SpeechEventType.FINAL_TRANSCRIPT
    assert [e.alternatives[0].text for e in events if e.type == final] == [
        "book a table",
        "for two",
    ]
    usage = [m.audio_duration for m in metrics if isinstance(m, STTMetrics) and m.audio_duration]
    # the audio sent on flush, then what the plugin adds at close: "Deepgram bills WebSocket
    # lifetime", so the remainder of the connection's wall-clock time is reported too
    assert usage[0] == pytest.approx(2.0)
    assert sum(usage) > 2.0
    [request] = deepgram_server.requests_for("/v1/listen")
    assert request.headers["Authorization"] == "Token test-key"
    assert request.query["model"] == "nova-3"
    assert request.query["encoding"] == "linear16"
    assert request.query["sample_rate"] == "16000"
    assert request.body_size == 2.0 * 16000 * 2
    assert [m["type"] for m in request.messages][:2] == ["Finalize", "CloseStream"]


async def test_live_protocol_on_the_wire(deepgram_server: DeepgramServer):
    deepgram_server.utterance_seconds = None  # results only on Finalize
    url = deepgram_server.url.replace("http", "ws") + "/v1/listen?sample_rate=8000&vad_events=true"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers={"Authorization": "Token k"}) as ws,
    ):
        await ws.send_bytes(pcm_silence(1.5, sample_rate=8000))
        await ws.send_str(json.dumps({"type": "KeepAlive"}))
        await ws.send_str(json.dumps({"type": "Finalize"}))
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        messages = [msg.json() async for msg in ws]

    started, results, metadata = messages
    assert started["type"] == "SpeechStarted"
    assert results["type"] == "Results" and results["from_finalize"] is True
    assert results["is_final"] and results["speech_final"]
    assert (results["start"], results["duration"]) == (0.0, 1.5)
    alternative = results["channel"]["alternatives"][0]
    assert alternative["transcript"] == "Hello, this is a test."
    assert [(w["word"], w["punctuated_word"]) for w in alternative["words"][:2]] == [
        ("hello", "Hello,"),
        ("this", "this"),
    ]
    assert alternative["words"][-1]["end"] == pytest.approx(1.5)
    assert metadata["type"] == "Metadata" and metadata["duration"] == 1.5


async def test_stt_prerecorded(deepgram_server: DeepgramServer, no_retry: APIConnectOptions):
    plugin = deepgram.STT(api_key="k", base_url=deepgram_server.url + "/v1/listen")
    metrics = collect_metrics(plugin)

    event = await plugin.recognize(audio_frames(pcm_silence(1.0)), conn_options=no_retry)

    assert event.alternatives[0].text == "Hello, this is a test."
    assert event.alternatives[0].end_time == pytest.approx(1.0)
    [m] = metrics
    assert not m.streamed and m.audio_duration == pytest.approx(1.0)


async def test_prerecorded_metadata_reports_the_duration(deepgram_server: DeepgramServer):
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            deepgram_server.url + "/v1/listen?model=nova-3",
            data=pcm_to_wav(pcm_silence(0.75), sample_rate=16000),
            headers={"Authorization": "Token k", "Content-Type": "audio/wav"},
        ) as resp,
    ):
        body = await resp.json()
    assert body["metadata"]["duration"] == 0.75
    assert body["results"]["channels"][0]["alternatives"][0]["transcript"]


async def test_tts_synthesize(deepgram_server: DeepgramServer, no_retry: APIConnectOptions):
    plugin = deepgram.TTS(api_key="k", base_url=deepgram_server.url + "/v1/speak")
    metrics = collect_metrics(plugin)

    async with plugin.synthesize("Hello world", conn_options=no_retry) as stream:
        frame = await stream.collect()
    await plugin.aclose()

    assert frame.sample_rate == 24000
    assert frame.duration == pytest.approx(len("Hello world") * 0.05, abs=0.02)
    [m] = metrics
    assert m.characters_count == len("Hello world")
    [request] = deepgram_server.requests_for("/v1/speak")
    assert request.json == {"text": "Hello world"}
    assert request.query["encoding"] == "linear16" and request.query["container"] == "none"
    assert request.query["model"] == "aura-2-andromeda-en"


async def test_tts_stream_over_the_websocket(
    deepgram_server: DeepgramServer, no_retry: APIConnectOptions
):
    plugin = deepgram.TTS(
        api_key="k", base_url=deepgram_server.url + "/v1/speak", sample_rate=16000
    )
    metrics = collect_metrics(plugin)

    async with plugin.stream(conn_options=no_retry) as stream:
        stream.push_text("Hello streaming world.")
        stream.end_input()
        seconds = sum([event.frame.duration async for event in stream])
    await plugin.aclose()

    assert seconds == pytest.approx(len("Hello streaming world. ") * 0.05, abs=0.02)
    [m] = metrics
    assert m.streamed and m.characters_count == len("Hello streaming world.")
    [request] = deepgram_server.requests_for("/v1/speak")
    assert request.method == "GET" and request.query["sample_rate"] == "16000"
    spoken = [m["text"] for m in request.messages if m["type"] == "Speak"]
    assert "".join(spoken) == "Hello streaming world. "
    assert {"type": "Flush"} in request.messages


async def test_wrong_key_is_rejected_with_401(no_retry: APIConnectOptions):
    with DeepgramServer(api_key="right-key") as srv:
        listen = deepgram.STT(api_key="wrong-key", base_url=srv.url + "/v1/listen")
        speak = deepgram.TTS(api_key="wrong-key", base_url=srv.url + "/v1/speak")

        stream = listen.stream(conn_options=no_retry)
        stream.end_input()
        with pytest.raises(APIStatusError) as live:
            async for _ in stream:
                pass
        with pytest.raises(APIStatusError) as batch:
            await speak.synthesize("hi", conn_options=no_retry).collect()
        await speak.aclose()

    assert live.value.status_code == 401
    assert batch.value.status_code == 401


async def test_injected_fault_on_the_websocket_handshake(
    deepgram_server: DeepgramServer, no_retry: APIConnectOptions
):
    deepgram_server.fault("/v1/listen", status=503)
    plugin = deepgram.STT(api_key="k", base_url=deepgram_server.url + "/v1/listen")

    stream = plugin.stream(conn_options=no_retry)
    stream.end_input()
    with pytest.raises(APIStatusError) as raised:
        async for _ in stream:
            pass

    assert raised.value.status_code == 503


async def test_dropped_websocket_fails_the_tts_stream(
    deepgram_server: DeepgramServer, no_retry: APIConnectOptions
):
    deepgram_server.fault("/v1/speak", drop_after=2)  # Metadata, one audio chunk, then cut
    plugin = deepgram.TTS(api_key="k", base_url=deepgram_server.url + "/v1/speak")
    errors: list = []
    plugin.on("error", errors.append)

    with pytest.raises(APIError):
        async with plugin.stream(conn_options=no_retry) as stream:
            stream.push_text("This sentence is long enough for several audio chunks.")
            stream.end_input()
            async for _ in stream:
                pass
    await plugin.aclose()

    assert [e.recoverable for e in errors] == [False]
