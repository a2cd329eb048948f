"""The groq provider: the real livekit.plugins.groq LLM and STT through voicegateway.inference,
against the testkit's GroqServer, billed as Groq bills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from livekit.agents import APIConnectOptions, APIStatusError, llm, stt
from livekit.plugins import groq as lk_groq

from voicegateway import inference
from voicegateway.pricing import rates_for
from voicegateway_groq.plugin import MODELS
from voicegateway_testkit.audio import audio_frames, pcm_silence, pcm_tone
from voicegateway_testkit.servers.groq import PREFIX

from .conftest import GROQ_KEY

NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)


def _frames(seconds: float) -> list:
    return audio_frames(pcm_silence(seconds, sample_rate=16000), sample_rate=16000)


async def _chat(model: llm.LLM, text: str = "Is seven free?") -> str:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content=text)
    async with model.chat(chat_ctx=ctx, conn_options=NO_RETRY) as stream:
        return "".join([chunk.delta.content async for chunk in stream if chunk.delta])


async def test_streamed_chat_bills_tokens(gateway, groq_server):
    groq_server.reply = "Seven is free."
    groq_server.prompt_tokens, groq_server.completion_tokens = 40, 4
    model = inference.LLM("groq/llama-3.3-70b-versatile")
    assert isinstance(model.plugin, lk_groq.LLM)

    assert await _chat(model) == "Seven is free."

    [request] = groq_server.requests_for(f"{PREFIX}/chat/completions")
    assert request.headers["Authorization"] == f"Bearer {GROQ_KEY}"
    assert request.json["model"] == "llama-3.3-70b-versatile"
    assert request.json["stream_options"] == {"include_usage": True}
    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == (
        "groq",
        "llama-3.3-70b-versatile",
        "ok",
    )
    assert (record.input_tokens, record.cached_tokens, record.output_tokens) == (40, 0, 4)
    assert record.cost_usd == (40 * Decimal("0.59") + 4 * Decimal("0.79")) / 10**6


async def test_cached_prompt_tokens_are_priced_as_cache_reads(gateway, groq_server):
    groq_server.prompt_tokens, groq_server.cached_tokens, groq_server.completion_tokens = 100, 60, 5
    await _chat(inference.LLM("groq/openai/gpt-oss-120b"))
    [record] = gateway.records()
    assert (record.input_tokens, record.cached_tokens, record.output_tokens) == (100, 60, 5)
    rates = Decimal("0.15") * 40 + Decimal("0.075") * 60 + Decimal("0.6") * 5
    assert record.cost_usd == rates / 10**6


async def test_short_clip_is_billed_the_ten_second_minimum(gateway, groq_server):
    groq_server.transcript = "Book a table."
    listener = inference.STT("groq/whisper-large-v3-turbo:en")
    assert isinstance(listener.plugin, lk_groq.STT)

    event = await listener.recognize(_frames(2.0), conn_options=NO_RETRY)

    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert event.alternatives[0].text == "Book a table."
    [request] = groq_server.requests_for(f"{PREFIX}/audio/transcriptions")
    assert request.headers["Authorization"] == f"Bearer {GROQ_KEY}"
    assert request.form["model"] == "whisper-large-v3-turbo"
    assert request.form["language"] == "en"
    assert groq_server.transcribed_seconds == [pytest.approx(2.0)]
    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == (
        "groq",
        "whisper-large-v3-turbo",
        "ok",
    )
    assert record.audio_seconds == 10.0
    assert record.audio_seconds_measured == pytest.approx(2.0)
    assert not record.estimated
    # $0.04 an hour: 10 seconds, not 2
    assert record.cost_usd == Decimal("0.011111") * 10 / 1000


async def test_clip_longer_than_the_minimum_is_billed_as_sent(gateway, groq_server):
    listener = inference.STT("groq/whisper-large-v3")
    await listener.recognize(
        audio_frames(pcm_tone(12.5, sample_rate=16000), sample_rate=16000), conn_options=NO_RETRY
    )
    [record] = gateway.records()
    assert record.audio_seconds == pytest.approx(12.5)
    assert record.audio_seconds_measured == pytest.approx(12.5)
    assert record.cost_usd == Decimal("0.030833") * Decimal("12.5") / 1000


async def test_each_request_pays_its_own_minimum(gateway, groq_server):
    listener = inference.STT("groq/whisper-large-v3-turbo")
    for _ in range(3):
        await listener.recognize(_frames(1.0), conn_options=NO_RETRY)
    records = gateway.records()
    assert [r.audio_seconds for r in records] == [10.0, 10.0, 10.0]
    assert sum(r.audio_seconds_measured for r in records) == pytest.approx(3.0)


async def test_wrong_key_is_a_401_status_error_recorded_without_the_key(use_config, groq_server):
    gateway = use_config(f"""
        providers:
          groq: {{base_url: "{groq_server.url}{PREFIX}", api_key: "gsk_wrong_secret_999"}}
    """)
    model = inference.LLM("groq/llama-3.1-8b-instant")
    with pytest.raises(APIStatusError) as caught:
        await _chat(model)
    assert caught.value.status_code == 401
    listener = inference.STT("groq/whisper-large-v3-turbo")
    with pytest.raises(APIStatusError) as stt_caught:
        await listener.recognize(_frames(1.0), conn_options=NO_RETRY)
    assert stt_caught.value.status_code == 401
    records = gateway.records()
    assert [(r.modality, r.status, r.error_class) for r in records] == [
        ("llm", "error", "APIStatusError"),
        ("stt", "error", "APIStatusError"),
    ]
    # the failed transcription billed nothing: the measured seconds are not a bill
    assert records[1].audio_seconds == 0
    text = repr(records) + str(caught.value) + str(stt_caught.value)
    assert "gsk_wrong_secret_999" not in text


async def test_server_errors_are_status_errors_and_recorded(gateway, groq_server):
    groq_server.fault(f"{PREFIX}/chat/completions", status=500, times=1)
    groq_server.fault(f"{PREFIX}/audio/transcriptions", status=503, times=1)
    with pytest.raises(APIStatusError) as chat_error:
        await _chat(inference.LLM("groq/llama-3.3-70b-versatile"))
    with pytest.raises(APIStatusError) as stt_error:
        await inference.STT("groq/whisper-large-v3-turbo").recognize(
            _frames(1.0), conn_options=NO_RETRY
        )
    assert (chat_error.value.status_code, stt_error.value.status_code) == (500, 503)
    assert [(r.modality, r.status) for r in gateway.records()] == [
        ("llm", "error"),
        ("stt", "error"),
    ]


def test_defaults_and_every_listed_model_is_priced(use_config, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    use_config("providers: {groq: {}}")
    assert inference.LLM("groq").model == "llama-3.3-70b-versatile"
    assert inference.STT("groq").model == "whisper-large-v3-turbo"
    for info in MODELS:
        rates = rates_for("groq", info.name, info.modality, catalog="groq")
        assert info.unpriced is None
        assert rates.source == "catalog", (info.name, rates.detail)
        unit = "input_audio_kseconds" if info.modality == "stt" else "input_mtok"
        assert unit in rates.rates


def test_plugin_module_imports_no_sdk():
    import subprocess
    import sys

    code = (
        "import sys, voicegateway_groq.plugin as p; "
        "assert p.VOICEGATEWAY_PLUGIN_API == 1; "
        "print(sorted(m for m in ('openai', 'livekit', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
