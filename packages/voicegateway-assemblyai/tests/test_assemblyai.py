"""The assemblyai provider through ``voicegateway.inference``: the real
``livekit.plugins.assemblyai`` STT against the testkit's AssemblyAIServer (the v3 websocket)."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal

import pytest
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError, stt
from livekit.plugins import assemblyai as lk_assemblyai

from voicegateway import inference
from voicegateway.policies.fallback import NEXT, RETRY, classify
from voicegateway_testkit.conformance import speech, wait_ended

from .conftest import KEY

NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)
STREAMING_RATE = Decimal("0.041667") / 1000  # voice-prices: universal-streaming-*, $ per second


async def transcribe(model, seconds: float, *, idle: float = 0.0, conn_options=NO_RETRY):
    """Stream ``seconds`` of speech, keep the session open ``idle`` seconds more, end it as the
    plugin does (``Terminate``), and return the final transcripts."""
    finals = []
    async with model.stream(conn_options=conn_options) as stream:
        for frame in speech(seconds):
            stream.push_frame(frame)
        await asyncio.sleep(idle)
        stream.end_input()
        async for event in stream:
            if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                finals.append(event.alternatives[0].text)
    await wait_ended(model)
    return finals


def billed_seconds(records) -> float:
    return sum(r.audio_seconds for r in records)


async def test_streams_turns_and_bills_the_session(gateway, assemblyai_server, lk_http):
    assemblyai_server.transcript = ["Book a table.", "For two, please."]
    listener = inference.STT("assemblyai/universal-streaming-english")
    assert isinstance(listener.plugin, lk_assemblyai.STT)

    finals = await transcribe(listener, 2.0)

    assert finals == ["book a table", "for two please"]
    [session] = assemblyai_server.requests_for("/v3/ws")
    assert session.headers["Authorization"] == KEY
    assert session.query["speech_model"] == "universal-streaming-english"
    assert session.query["sample_rate"] == "16000"
    assert session.messages == [{"type": "Terminate"}]
    [termination] = assemblyai_server.terminations
    session = termination["session_duration_seconds"]
    assert session >= 2  # at least its audio: 2 s (more only on a machine slower than that)

    records = gateway.records()
    assert {(r.provider, r.model, r.status) for r in records} == {
        ("assemblyai", "universal-streaming-english", "ok")
    }
    assert billed_seconds(records) == pytest.approx(session)
    assert sum(r.audio_seconds_measured for r in records) == pytest.approx(2.0)
    assert {r.price_source for r in records} == {"catalog"}
    assert sum(r.cost_usd for r in records) == pytest.approx(session * STREAMING_RATE)


async def test_idle_session_time_is_billed_as_assemblyai_bills_it(
    gateway, assemblyai_server, lk_http
):
    """LiveKit reports the audio sent at each end of turn; AssemblyAI bills the seconds the
    websocket was open. The difference arrives in Termination and is recorded."""
    listener = inference.STT("assemblyai/universal-streaming-english")
    reported = []
    listener.on("metrics_collected", lambda m: reported.append(m.audio_duration))

    await transcribe(listener, 1.0, idle=2.2)

    [termination] = assemblyai_server.terminations
    assert termination["audio_duration_seconds"] == 1
    session = termination["session_duration_seconds"]
    assert session >= 3  # open 2.2 s after its 1 s of audio; a second begun is billed
    records = gateway.records()
    assert billed_seconds(records) == pytest.approx(session)
    plugin_turn, session_rest = records
    assert plugin_turn.audio_seconds == pytest.approx(1.0)
    assert plugin_turn.audio_seconds_measured == pytest.approx(1.0)
    assert session_rest.audio_seconds == pytest.approx(session - 1.0)
    assert session_rest.audio_seconds_measured == pytest.approx(0.0)
    assert not any(r.estimated for r in records)
    # the session's rest went through LiveKit's own metrics, so AgentSession usage sees it too
    assert reported == pytest.approx([1.0, session - 1.0])
    assert sum(r.cost_usd for r in records) == pytest.approx(session * STREAMING_RATE)


async def test_audio_after_the_last_turn_is_billed_once(gateway, assemblyai_server, lk_http):
    """The plugin never reports audio sent after the last end of turn; the session's bill covers
    it, and nothing is billed twice."""
    assemblyai_server.turn_seconds = None  # no turn ends until Terminate
    listener = inference.STT("assemblyai/universal-streaming-english")

    finals = await transcribe(listener, 1.5)

    assert finals == ["hello this is a test"]
    [termination] = assemblyai_server.terminations
    assert termination["session_duration_seconds"] >= 2  # 1.5 s of audio, a second begun
    records = gateway.records()
    assert billed_seconds(records) == pytest.approx(termination["session_duration_seconds"])
    assert sum(r.audio_seconds_measured for r in records) == pytest.approx(1.5)


async def test_force_endpoint_and_formatted_turns(gateway, assemblyai_server, lk_http):
    assemblyai_server.transcript = "Book a table."
    assemblyai_server.turn_seconds = None
    listener = inference.STT(
        "assemblyai/universal-streaming-english", extra_kwargs={"format_turns": True}
    )
    async with listener.stream(conn_options=NO_RETRY) as stream:
        for frame in speech(0.5):
            stream.push_frame(frame)
        await asyncio.sleep(0.2)  # let the audio reach the server before the endpoint
        stream.force_endpoint()
        async with asyncio.timeout(5):
            async for event in stream:
                if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    final = event.alternatives[0].text
                    break
        stream.end_input()
    await wait_ended(listener)

    assert final == "Book a table."  # the formatted turn, not the raw one before it
    [session] = assemblyai_server.requests_for("/v3/ws")
    assert session.query["format_turns"] == "true"
    assert {"type": "ForceEndpoint"} in session.messages


async def test_a_refused_key_is_a_401_that_goes_to_the_next_provider(
    configure, assemblyai_server, lk_http
):
    gateway = configure(base_url=assemblyai_server.url, api_key="aai-wrong-key-987654")
    listener = inference.STT("assemblyai/universal-streaming-english")

    with pytest.raises(APIStatusError) as refused:
        await transcribe(listener, 1.0)

    assert refused.value.status_code == 401 and not refused.value.retryable
    assert classify(refused.value) == NEXT
    assert "aai-wrong-key-987654" not in f"{refused.value} {refused.value!r}"
    [record] = gateway.records()
    assert (record.status, record.error_class) == ("error", "APIStatusError")
    assert record.audio_seconds == 0  # AssemblyAI opened no session, so reported nothing
    assert "aai-wrong-key-987654" not in repr(record)


async def test_a_500_handshake_is_retried(gateway, assemblyai_server, lk_http):
    assemblyai_server.fault("/v3/ws", status=500, times=1)
    listener = inference.STT("assemblyai/universal-streaming-english")
    errors = []
    listener.on("error", errors.append)

    retry = APIConnectOptions(max_retry=1, retry_interval=0.01, timeout=5)
    finals = await transcribe(listener, 1.0, conn_options=retry)

    assert finals == ["hello this is a test"]
    [failed] = errors
    assert failed.recoverable and failed.error.status_code == 500
    assert classify(failed.error) == RETRY
    assert len(assemblyai_server.requests_for("/v3/ws")) == 2
    records = gateway.records()
    assert {r.status for r in records} == {"ok"}
    assert billed_seconds(records) == pytest.approx(1.0)


async def test_a_websocket_dropped_mid_stream_fails_the_call_and_bills_what_was_sent(
    gateway, assemblyai_server, lk_http
):
    # the server cuts the connection instead of sending the first final Turn
    assemblyai_server.fault("/v3/ws", drop_after=3)  # Begin, SpeechStarted, a partial Turn
    listener = inference.STT("assemblyai/universal-streaming-english")

    with pytest.raises(APIStatusError) as dropped:
        async with listener.stream(conn_options=NO_RETRY) as stream:
            for frame in speech(1.0):
                stream.push_frame(frame)
            async with asyncio.timeout(5):
                async for _ in stream:
                    pass
    await wait_ended(listener)

    assert classify(dropped.value) == RETRY
    assert assemblyai_server.terminations == []
    [record] = gateway.records()
    assert (record.status, record.error_class) == ("error", "APIStatusError")
    # no Termination, so no session bill: the audio VoiceGateway measured, marked estimated
    assert record.audio_seconds_measured == pytest.approx(1.0) and record.estimated


async def test_a_session_cut_before_its_termination_is_billed_from_the_audio(
    gateway, assemblyai_server, lk_http
):
    """The plugin takes a connection lost after it sent Terminate for a normal end."""
    assemblyai_server.turn_seconds = None
    assemblyai_server.fault("/v3/ws", drop_after=1)  # Begin only
    listener = inference.STT("assemblyai/universal-streaming-english")

    assert await transcribe(listener, 1.0) == []

    assert assemblyai_server.terminations == []
    [record] = gateway.records()
    assert record.status == "ok" and record.estimated
    assert record.audio_seconds_measured == pytest.approx(1.0)


async def test_no_server_is_a_connection_error(configure, lk_http, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    configure(base_url=f"http://127.0.0.1:{port}")
    listener = inference.STT("assemblyai/universal-streaming-english")

    with pytest.raises(APIConnectionError, match="could not reach AssemblyAI"):
        await transcribe(listener, 0.5)


async def test_streaming_rate_ids_and_unpriced_models(gateway, assemblyai_server, lk_http):
    """Model names are voice-prices ids: universal-3-5-pro-streaming is AssemblyAI's
    universal-3-5-pro priced at its streaming rate; the bare id, priced at the async rate by
    voice-prices, is refused rather than under-billed."""
    pro = inference.STT("assemblyai/universal-3-5-pro-streaming")
    await transcribe(pro, 1.0)
    [session] = assemblyai_server.requests_for("/v3/ws")
    assert session.query["speech_model"] == "universal-3-5-pro"
    [record] = gateway.records()
    assert record.model == "universal-3-5-pro-streaming" and record.price_source == "catalog"
    assert record.cost_usd == pytest.approx(Decimal("0.125") / 1000)

    with pytest.raises(ValueError, match="universal-3-5-pro-streaming"):
        inference.STT("assemblyai/universal-3-5-pro")

    steered = inference.STT("assemblyai/universal-3-6-pro:es")
    await transcribe(steered, 1.0)
    latest = assemblyai_server.requests_for("/v3/ws")[-1]
    assert latest.query["speech_model"] == "universal-3-6-pro"
    assert latest.query["language_codes"] == '["es"]'
    unpriced = [r for r in gateway.records() if r.model == "universal-3-6-pro"]
    assert unpriced and {r.price_source for r in unpriced} == {"unpriced"}
    assert billed_seconds(unpriced) == pytest.approx(1.0)
