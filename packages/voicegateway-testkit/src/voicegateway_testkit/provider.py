"""The ``fake`` provider: FakeSTT, FakeLLM and FakeTTS behind VoiceGateway's plugin contract.

Registered through the ``voicegateway`` entry point like any third-party plugin, so tests of
resolution, metering and fallback go through real discovery. It needs no key and has no price.
An agent's ``extra_kwargs`` become the fake's constructor options::

    inference.LLM("fake/fake-llm", extra_kwargs={"reply": "Sure.", "prompt_tokens": 42})

The model name after ``fake/`` is reported as the fake's model. Options by modality: STT
``transcript``, ``utterance_seconds``, ``sample_rate``; LLM ``reply``, ``prompt_tokens``,
``cached_tokens``, ``completion_tokens``; TTS ``streaming``, ``seconds_per_char``; all
``fail_with``. See :mod:`voicegateway_testkit.fakes`.

Light on purpose: the fakes (and LiveKit) load when a factory is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from voicegateway.hookspecs import hookimpl
from voicegateway.providers import BuildRequest, ModelInfo, ProviderSpec

if TYPE_CHECKING:
    from voicegateway_testkit.fakes import FakeLLM, FakeSTT, FakeTTS

VOICEGATEWAY_PLUGIN_API = 1


def make_stt(request: BuildRequest) -> FakeSTT:
    from voicegateway_testkit.fakes import FakeSTT

    options = dict(request.extra)
    if request.language:
        options.setdefault("language", request.language)
    if request.sample_rate:
        options.setdefault("sample_rate", request.sample_rate)
    return FakeSTT(model=request.model, **options)


def make_llm(request: BuildRequest) -> FakeLLM:
    from voicegateway_testkit.fakes import FakeLLM

    return FakeLLM(model=request.model, **request.extra)


def make_tts(request: BuildRequest) -> FakeTTS:
    from voicegateway_testkit.fakes import FakeTTS

    options = dict(request.extra)
    if request.sample_rate:
        options.setdefault("sample_rate", request.sample_rate)
    return FakeTTS(model=request.model, **options)


@hookimpl
def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(
        ProviderSpec(
            id="fake",
            stt=make_stt,
            llm=make_llm,
            tts=make_tts,
            key_env=(),
            price_catalog=None,
            models=(
                ModelInfo("fake-stt", "stt", "Scripted transcripts, metered per audio second"),
                ModelInfo("fake-llm", "llm", "Scripted replies with configurable token usage"),
                ModelInfo("fake-tts", "tts", "A tone per character, metered per character"),
            ),
            default_models={"stt": "fake-stt", "llm": "fake-llm", "tts": "fake-tts"},
        )
    )
