"""OpenAIServer against the real ``livekit.plugins.openai`` classes and the openai SDK."""

from __future__ import annotations

import threading

import aiohttp
import openai as openai_sdk
import pytest
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
    llm,
)
from livekit.agents.metrics import LLMMetrics
from livekit.plugins import openai

from voicegateway_testkit.audio import audio_frames, pcm_silence, pcm_to_wav
from voicegateway_testkit.servers import OpenAIServer


def chat_context(text: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are terse.")
    ctx.add_message(role="user", content=text)
    return ctx


def collect_metrics(plugin) -> list:
    received: list = []
    plugin.on("metrics_collected", received.append)
    return received


async def chat(model: openai.LLM, conn_options: APIConnectOptions, text: str = "hi") -> str:
    async with model.chat(chat_ctx=chat_context(text), conn_options=conn_options) as stream:
        reply = await stream.collect()
    return reply.text


async def test_llm_streams_reply_and_reports_server_token_counts(no_retry: APIConnectOptions):
    with OpenAIServer(
        reply="A table for two.", prompt_tokens=42, cached_tokens=10, completion_tokens=5
    ) as srv:
        model = openai.LLM(model="gpt-4o-mini", api_key="test-key", base_url=srv.url + "/v1")
        metrics = collect_metrics(model)

        assert await chat(model, no_retry) == "A table for two."
        await model.aclose()

    [m] = metrics
    assert isinstance(m, LLMMetrics)
    assert (m.prompt_tokens, m.prompt_cached_tokens, m.completion_tokens) == (42, 10, 5)
    assert m.metadata.model_name == "gpt-4o-mini"
    [request] = srv.requests_for("/v1/chat/completions")
    assert request.headers["Authorization"] == "Bearer test-key"
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}
    assert request.json["messages"][-1] == {"role": "user", "content": "hi"}


async def test_llm_default_tokens_are_words_and_replies_follow_the_script(
    openai_server: OpenAIServer, no_retry: APIConnectOptions
):
    openai_server.reply = ["One.", "Two words."]
    model = openai.LLM(model="gpt-4o-mini", api_key="k", base_url=openai_server.url + "/v1")
    metrics = collect_metrics(model)

    replies = [await chat(model, no_retry, "book a table please") for _ in range(3)]
    await model.aclose()

    assert replies == ["One.", "Two words.", "Two words."]
    # "You are terse." + "book a table please"
    assert [(m.prompt_tokens, m.completion_tokens) for m in metrics] == [(7, 1), (7, 2), (7, 2)]


async def test_non_streaming_completion_and_models_through_the_sdk(openai_server: OpenAIServer):
    openai_server.cached_tokens = 3
    async with openai_sdk.AsyncOpenAI(api_key="k", base_url=openai_server.url + "/v1") as client:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
        )
        models = await client.models.list()

    assert completion.choices[0].message.content == "Hello! How can I help you today?"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.prompt_tokens_details.cached_tokens == 3
    assert completion._request_id is not None
    assert "gpt-4o-mini" in [m.id for m in models.data]


@pytest.mark.parametrize(
    ("response_format", "input_tokens"),
    [("pcm", 2), ("mp3", 0)],  # pcm+sse reports tokens; mp3 is answered as raw WAV without them
)
async def test_tts_synthesizes_audio_proportional_to_the_input(
    openai_server: OpenAIServer,
    no_retry: APIConnectOptions,
    response_format: str,
    input_tokens: int,
):
    tts = openai.TTS(
        api_key="k", base_url=openai_server.url + "/v1", response_format=response_format
    )
    metrics = collect_metrics(tts)

    async with tts.synthesize("Hello world", conn_options=no_retry) as stream:
        frame = await stream.collect()
    await tts.aclose()

    assert frame.sample_rate == 24000
    assert frame.duration == pytest.approx(len("Hello world") * 0.05, abs=0.02)
    [m] = metrics
    assert m.characters_count == len("Hello world")
    assert m.input_tokens == input_tokens
    [request] = openai_server.requests_for("/v1/audio/speech")
    assert request.json["input"] == "Hello world"
    assert request.json["model"] == "gpt-4o-mini-tts"
    assert request.json["stream_format"] == "sse"
    assert request.json["response_format"] == response_format


async def test_stt_transcribes_a_buffer(openai_server: OpenAIServer, no_retry: APIConnectOptions):
    openai_server.transcript = "I would like a table."
    # openai.STT.aclose() leaves the client it built open (a leaked socket), so bring our own
    async with openai_sdk.AsyncOpenAI(api_key="k", base_url=openai_server.url + "/v1") as client:
        stt = openai.STT(client=client)
        metrics = collect_metrics(stt)
        event = await stt.recognize(audio_frames(pcm_silence(1.5)), conn_options=no_retry)
        await stt.aclose()

    assert event.alternatives[0].text == "I would like a table."
    [m] = metrics
    assert not m.streamed and m.audio_duration == pytest.approx(1.5)
    [request] = openai_server.requests_for("/v1/audio/transcriptions")
    assert request.form["model"] == "gpt-4o-mini-transcribe"
    assert request.body_size > 1.5 * 16000 * 2  # the WAV upload


async def test_transcription_usage_matches_the_api(openai_server: OpenAIServer):
    async with openai_sdk.AsyncOpenAI(api_key="k", base_url=openai_server.url + "/v1") as client:
        wav = pcm_to_wav(pcm_silence(2.0), sample_rate=16000)
        tokens = await client.audio.transcriptions.create(
            file=("a.wav", wav, "audio/wav"), model="gpt-4o-transcribe"
        )
        seconds = await client.audio.transcriptions.create(
            file=("a.wav", wav, "audio/wav"), model="whisper-1"
        )

    assert tokens.usage is not None and tokens.usage.type == "tokens"
    assert tokens.usage.input_tokens == 40
    assert seconds.usage is not None and seconds.usage.type == "duration"
    assert seconds.usage.seconds == 2


async def test_wrong_key_is_rejected_with_401(no_retry: APIConnectOptions):
    with OpenAIServer(api_key="right-key") as srv:
        model = openai.LLM(model="gpt-4o-mini", api_key="wrong-key", base_url=srv.url + "/v1")
        with pytest.raises(APIStatusError) as raised:
            await chat(model, no_retry)
        await model.aclose()

        async with aiohttp.ClientSession() as http, http.get(srv.url + "/v1/models") as resp:
            status, body = resp.status, await resp.json()

    assert raised.value.status_code == 401
    assert "Incorrect API key" in raised.value.message
    assert status == 401
    assert body["error"]["message"].startswith("You didn't provide an API key")


async def test_injected_status_surfaces_from_the_plugin_then_clears(
    openai_server: OpenAIServer, no_retry: APIConnectOptions
):
    openai_server.fault("/v1/chat/completions", status=500, times=1)
    model = openai.LLM(model="gpt-4o-mini", api_key="k", base_url=openai_server.url + "/v1")
    errors: list = []
    model.on("error", errors.append)

    with pytest.raises(APIStatusError) as raised:
        await chat(model, no_retry)
    reply = await chat(model, no_retry)
    await model.aclose()

    assert raised.value.status_code == 500
    assert [e.recoverable for e in errors] == [False]
    assert reply == "Hello! How can I help you today?"
    assert len(openai_server.requests_for("/v1/chat/completions")) == 2


async def test_dropped_stream_surfaces_as_a_connection_error(
    openai_server: OpenAIServer, no_retry: APIConnectOptions
):
    openai_server.fault("/v1/chat/completions", drop_after=2)
    model = openai.LLM(model="gpt-4o-mini", api_key="k", base_url=openai_server.url + "/v1")
    metrics = collect_metrics(model)

    with pytest.raises(APIConnectionError):
        await chat(model, no_retry)
    await model.aclose()

    assert metrics == []  # a failed attempt reports no usage


async def test_delay_before_first_byte_trips_the_client_timeout(openai_server: OpenAIServer):
    openai_server.fault("/v1/chat/completions", delay=1.0)
    model = openai.LLM(model="gpt-4o-mini", api_key="k", base_url=openai_server.url + "/v1")

    with pytest.raises(APITimeoutError):
        await chat(model, APIConnectOptions(max_retry=0, timeout=0.2))
    await model.aclose()


async def test_drop_before_any_body_on_a_plain_response(openai_server: OpenAIServer):
    openai_server.fault("/v1/models", drop_after=0, times=1)
    async with openai_sdk.AsyncOpenAI(
        api_key="k", base_url=openai_server.url + "/v1", max_retries=0
    ) as client:
        with pytest.raises(openai_sdk.APIConnectionError):
            await client.models.list()
        assert (await client.models.list()).data  # times=1: the next request is served


def test_server_lifecycle_binds_loopback_and_joins_its_thread():
    server = OpenAIServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        thread_names = {t.name for t in threading.enumerate()}
        assert "OpenAIServer" in thread_names
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    server.stop()  # a second stop is a no-op
    assert "OpenAIServer" not in {t.name for t in threading.enumerate()}
