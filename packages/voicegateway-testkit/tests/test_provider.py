"""The ``fake`` provider through VoiceGateway's plugin contract, and the kit's import weight."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pluggy
from livekit.agents import APIConnectOptions, llm

from voicegateway import hookspecs, plugin_api
from voicegateway.providers import BuildRequest, ProviderSpec
from voicegateway_testkit import provider
from voicegateway_testkit.fakes import FakeLLM, FakeSTT, FakeTTS


def registered_spec() -> ProviderSpec:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(provider)
    specs: list[ProviderSpec] = []
    manager.hook.register_providers(register=specs.append)
    [spec] = specs
    return spec


def test_the_entry_point_names_the_plugin_module():
    [entry_point] = [
        ep for ep in importlib.metadata.entry_points(group="voicegateway") if ep.name == "fake"
    ]
    assert entry_point.load() is provider
    assert provider.VOICEGATEWAY_PLUGIN_API == plugin_api.PLUGIN_API_VERSION


def test_registers_a_keyless_unpriced_provider_of_all_three_modalities():
    spec = registered_spec()

    assert spec.id == "fake"
    assert spec.modalities == ("stt", "llm", "tts")
    assert not spec.needs_key and spec.price_catalog is None
    assert dict(spec.default_models) == {"stt": "fake-stt", "llm": "fake-llm", "tts": "fake-tts"}
    assert [(m.name, m.modality) for m in spec.models] == [
        ("fake-stt", "stt"),
        ("fake-llm", "llm"),
        ("fake-tts", "tts"),
    ]


async def test_factories_turn_extra_kwargs_into_fake_options(no_retry: APIConnectOptions):
    spec = registered_spec()

    def request(modality, model, **fields) -> BuildRequest:
        return BuildRequest(provider="fake", modality=modality, model=model, **fields)

    stt = spec.stt(request("stt", "ears", language="fr", extra={"transcript": "bonjour"}))
    model = spec.llm(request("llm", "brain", extra={"reply": "Oui.", "prompt_tokens": 9}))
    tts = spec.tts(request("tts", "voice", sample_rate=16000, extra={"streaming": True}))

    assert isinstance(stt, FakeSTT) and (stt.model, stt.language) == ("ears", "fr")
    assert stt.transcript.next() == "bonjour"
    assert isinstance(tts, FakeTTS) and tts.model == "voice"
    assert tts.sample_rate == 16000 and tts.capabilities.streaming
    assert isinstance(model, FakeLLM) and model.model == "brain"
    metrics: list = []
    model.on("metrics_collected", metrics.append)
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="hi")
    async with model.chat(chat_ctx=ctx, conn_options=no_retry) as stream:
        assert (await stream.collect()).text == "Oui."
    assert metrics[0].prompt_tokens == 9


def test_modules_pytest_and_discovery_import_stay_light():
    """pytest loads the pytest plugin, and discovery the provider module, in every run: neither
    may pull in LiveKit, aiohttp or an SDK."""
    code = (
        "import sys, voicegateway_testkit, voicegateway_testkit.provider, "
        "voicegateway_testkit.pytest_plugin\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "heavy = sorted(loaded & {'livekit', 'aiohttp', 'openai'})\n"
        "sys.exit(f'imported {heavy}' if heavy else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
