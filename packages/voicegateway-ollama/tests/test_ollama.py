"""The ollama provider through ``voicegateway.inference``: the real ``livekit.plugins.openai`` LLM
(``with_ollama``) against the testkit's OllamaServer, and model discovery over ``/api/tags``."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from livekit.agents import APIConnectionError, APIStatusError
from livekit.plugins import openai as lk_openai

from voicegateway import inference
from voicegateway.config.schema import ProviderSettings
from voicegateway_ollama.plugin import discover_models
from voicegateway_testkit.conformance import drive_llm, wait_ended


async def test_chat_streams_and_records_tokens_at_no_cost(gateway, ollama_server):
    ollama_server.reply = "A table for two, booked."
    ollama_server.prompt_tokens, ollama_server.completion_tokens = 31, 7
    brain = inference.LLM("ollama/llama3.2")
    assert isinstance(brain.plugin, lk_openai.LLM)

    assert await drive_llm(brain, "Book a table for two.") == "A table for two, booked."
    await wait_ended(brain)

    [chat] = ollama_server.requests_for("/v1/chat/completions")
    assert chat.json["model"] == "llama3.2"
    assert chat.json["stream_options"] == {"include_usage": True}
    [record] = gateway.records()
    assert (record.provider, record.model, record.status) == ("ollama", "llama3.2", "ok")
    assert (record.input_tokens, record.output_tokens, record.cached_tokens) == (31, 7, 0)
    assert not record.estimated
    assert record.cost_usd == Decimal(0) and record.price_source == "local"


async def test_a_tagged_model_keeps_its_tag(gateway, ollama_server):
    brain = inference.LLM("ollama/qwen2.5:0.5b")
    await drive_llm(brain, "Hi")
    await wait_ended(brain)

    [chat] = ollama_server.requests_for("/v1/chat/completions")
    assert chat.json["model"] == "qwen2.5:0.5b"
    [record] = gateway.records()
    assert record.model == "qwen2.5:0.5b" and record.input_tokens == 1


async def test_a_model_not_pulled_is_a_404_and_an_error_record(gateway, ollama_server):
    brain = inference.LLM("ollama/mistral")

    with pytest.raises(APIStatusError) as missing:
        await drive_llm(brain, "Hi")
    await wait_ended(brain)

    assert missing.value.status_code == 404
    assert 'model "mistral" not found' in str(missing.value)
    [record] = gateway.records()
    assert (record.status, record.error_class) == ("error", "APIStatusError")
    assert record.cost_usd == Decimal(0)


async def test_a_server_error_is_an_error_record(gateway, ollama_server):
    ollama_server.fault("/v1/chat/completions", status=500, times=1)
    brain = inference.LLM("ollama/llama3.2")

    with pytest.raises(APIStatusError) as failed:
        await drive_llm(brain, "Hi")
    await wait_ended(brain)

    assert failed.value.status_code == 500
    [record] = gateway.records()
    assert record.status == "error"


async def test_no_server_running_is_a_connection_error(configure, closed_port):
    configure(base_url=f"http://127.0.0.1:{closed_port}/v1")
    brain = inference.LLM("ollama/llama3.2")

    with pytest.raises(APIConnectionError):
        await drive_llm(brain, "Hi")


def test_discovers_the_pulled_models(ollama_server):
    ollama_server.models = ("llama3.2:latest", "qwen2.5:0.5b")
    settings = ProviderSettings(base_url=f"{ollama_server.url}/v1")

    found = discover_models(settings, 2.0)

    assert [(m.name, m.modality) for m in found] == [
        ("llama3.2:latest", "llm"),
        ("qwen2.5:0.5b", "llm"),
    ]
    assert found[0].description == "3.2B, Q4_K_M, 2.0 GB"
    assert [r.path for r in ollama_server.requests] == ["/api/tags"]


def test_discovery_says_why_it_cannot_list(closed_port, openai_server):
    nobody = ProviderSettings(base_url=f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(RuntimeError) as refused:
        discover_models(nobody, 2.0)
    assert str(refused.value).startswith(
        f"no Ollama server answered at http://127.0.0.1:{closed_port} ("
    )

    not_ollama = ProviderSettings(base_url=f"{openai_server.url}/v1")  # wants a key
    with pytest.raises(RuntimeError, match=r"answered 401 to /api/tags: is it Ollama\?"):
        discover_models(not_ollama, 2.0)


def test_discovery_never_shows_the_credentials_of_the_base_url(closed_port):
    # A server behind a proxy with basic auth: http://user:token@host/v1 (httpx, which the LLM
    # uses, sends them as an Authorization header). Without a port, urllib took "token@host" for
    # the port and raised http.client.InvalidURL quoting it, which `voicegw providers` printed.
    for base_url in (
        "http://alice:s3cr3t-t0ken@127.0.0.1/v1",
        f"http://alice:s3cr3t-t0ken@127.0.0.1:{closed_port}/v1",
    ):
        with pytest.raises(RuntimeError) as failed:
            discover_models(ProviderSettings(base_url=base_url), 2.0)
        assert "s3cr3t-t0ken" not in str(failed.value)
        assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_voicegw_providers_never_prints_the_credentials_of_the_base_url(tmp_path):
    from voicegateway.cli.providers import provider_rows

    path = tmp_path / "voicegw.yaml"
    path.write_text("providers:\n  ollama:\n    base_url: http://alice:s3cr3t-t0ken@127.0.0.1/v1\n")

    ollama = {row["id"]: row for row in provider_rows(str(path))}["ollama"]

    assert ollama["discovery_error"].startswith("no Ollama server answered at http://127.0.0.1")
    assert "s3cr3t-t0ken" not in ollama["discovery_error"]


def test_discovery_sends_the_credentials_of_the_base_url_as_basic_auth(ollama_server):
    ollama_server.models = ("llama3.2:latest",)
    host = ollama_server.url.removeprefix("http://")
    settings = ProviderSettings(base_url=f"http://alice:s3cr3t%40t0ken@{host}/v1")

    found = discover_models(settings, 2.0)

    assert [m.name for m in found] == ["llama3.2:latest"]
    (request,) = ollama_server.requests
    # what httpx sends for the same URL: the percent-decoded user and password
    assert request.headers["Authorization"] == "Basic YWxpY2U6czNjcjN0QHQwa2Vu"


async def test_a_login_in_the_base_url_goes_as_basic_auth_and_never_into_a_log(
    configure, ollama_server, caplog
):
    # Ollama behind a proxy with basic auth. httpx logs every request URL at INFO (LiveKit
    # workers log INFO): the URL the SDK gets holds no password, the header carries it.
    host = ollama_server.url.removeprefix("http://")
    configure(base_url=f"http://alice:s3cr3t%40t0ken@{host}/v1")
    caplog.set_level(logging.DEBUG)
    brain = inference.LLM("ollama/llama3.2")

    await drive_llm(brain, "Hi")
    await wait_ended(brain)

    [chat] = ollama_server.requests_for("/v1/chat/completions")
    assert chat.headers["Authorization"] == "Basic YWxpY2U6czNjcjN0QHQwa2Vu"  # alice:s3cr3t@t0ken
    assert f"HTTP Request: POST {ollama_server.url}/v1/chat/completions" in caplog.text
    assert "s3cr3t" not in caplog.text and "YWxpY2U6" not in caplog.text
    assert "s3cr3t" not in repr(brain.plugin.__dict__)
