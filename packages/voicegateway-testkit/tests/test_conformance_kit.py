"""The conformance kit catches broken providers, and passes a sound one.

The sound one is the testkit's own ``fake`` provider, run through the whole suite exactly as a
provider distribution runs it. Each broken one is a plugin registered by hand
(``PluginHost.register``) with one defect; the kit check that covers that defect must fail.
"""

from __future__ import annotations

import dataclasses
import logging
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import APIStatusError

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway.metering.meters import meter_llm
from voicegateway.plugin_api import PLUGIN_API_VERSION, hookimpl
from voicegateway.plugins import PluginHost
from voicegateway.policies.fallback import NEXT, RETRY
from voicegateway.providers import BuildRequest, ModelInfo, ProviderSpec
from voicegateway.records import UsageRecord
from voicegateway_testkit.conformance import (
    PROJECT,
    ProviderConformance,
    call_records,
    cases,
    check_discovered,
    check_factory,
    check_failure,
    check_models_listed,
    check_priced,
    check_secret_absent,
    check_units,
    debug_everywhere,
    drive_llm,
    drive_stt,
    drive_tts,
    speech,
    wait_ended,
    write_config,
)

pytest_plugins = ["pytester"]

KEY = "sk-kit-test-0123456789"


class TestFakeProviderConforms(ProviderConformance):
    """The ``fake`` provider is a local engine: its engine's own arithmetic is the bill."""

    provider = "fake"

    async def bill_stt(self, obj: Any, server: None) -> dict[str, float]:
        frames = speech(2.0)
        assert await drive_stt(obj, frames) == "Hello, this is a test. Hello, this is a test."
        return {"audio_seconds": sum(f.duration for f in frames)}

    async def bill_llm(self, obj: Any, server: None) -> dict[str, float]:
        reply = await drive_llm(obj, "Book a table for two.")
        return {"input_tokens": 5, "output_tokens": len(reply.split())}

    async def bill_tts(self, obj: Any, server: None) -> dict[str, float]:
        assert await drive_tts(obj, "Booked.") > 0
        return {"characters": len(obj.plugin.texts[-1])}


# -- broken providers ---------------------------------------------------------------------------


def fake_llm(request: BuildRequest) -> Any:
    from voicegateway_testkit.fakes import FakeLLM

    return FakeLLM(model=request.model, **request.extra)


def plugin(spec: ProviderSpec, name: str = "broken_plugin") -> types.ModuleType:
    module = types.ModuleType(name)
    module.VOICEGATEWAY_PLUGIN_API = PLUGIN_API_VERSION

    @hookimpl
    def register_providers(register: Callable[[ProviderSpec], None]) -> None:
        register(spec)

    module.register_providers = register_providers
    return module


def llm_spec(pid: str = "broken", **kwargs: Any) -> ProviderSpec:
    options: dict[str, Any] = {
        "llm": fake_llm,
        "default_models": {"llm": "m1"},
        "models": (ModelInfo("m1", "llm"),),
        **kwargs,
    }
    return ProviderSpec(id=pid, **options)


@pytest.fixture
def use_provider(tmp_path: Path) -> Iterator[Callable[..., voicegateway.Gateway]]:
    """Make ``spec`` (registered by hand) the only provider of the process's gateway."""

    def use(spec: ProviderSpec, block: dict[str, Any] | None = None) -> voicegateway.Gateway:
        host = PluginHost(discover=False)
        host.register(plugin(spec))
        return voicegateway.configure(write_config(tmp_path, spec.id, block or {}), plugins=host)

    yield use
    gateway_module._default = None


def test_only_the_checks_that_apply_are_generated():
    """A check that does not apply is not generated (a skip would read as a pass); one that
    applies always is, even when the suite's subclass is wrong."""
    cloud = llm_spec(price_catalog="broken", key_env=("BROKEN_API_KEY",))
    local = llm_spec("local")
    factory, records = (
        "test_factory_returns_the_livekit_type",
        "test_records_carry_the_billed_units",
    )
    key, failure = "test_the_key_never_appears", "test_a_failure_is_classified_and_recorded"

    assert cases(factory, cloud, has_key=True) == cases(records, local, has_key=False) == [("llm",)]
    assert cases(key, cloud, has_key=True) == [("llm",)]
    assert cases(failure, cloud, has_key=True) == [("llm", 401), ("llm", 500)]
    assert cases(key, local, has_key=False) == cases(failure, local, has_key=False) == []
    # a keyed provider's suite that forgot api_key still gets the key check, which then fails
    assert cases(key, cloud, has_key=False) == [("llm",)]
    # a provider discovery did not find: every case, each failing with the reason
    assert cases(records, None, has_key=False) == [("stt",), ("llm",), ("tts",)]
    assert cases("test_every_model_is_priced_or_marked", cloud, has_key=True) is None


def test_a_suite_collects_its_providers_checks_and_no_others(pytester: pytest.Pytester):
    """Through real discovery at collection: anthropic (cloud, LLM only) and piper (local, TTS
    only) get exactly their checks, and a run of them would skip nothing."""
    pytester.makepyfile(
        test_suites="""
        from voicegateway_testkit.conformance import ProviderConformance

        class TestAnthropic(ProviderConformance):
            provider = "anthropic"
            api_key = "sk-ant-kit-test"

        class TestPiper(ProviderConformance):
            provider = "piper"
        """
    )
    result = pytester.runpytest_inprocess(
        "--collect-only", "-q", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    collected = {line.split("::", 1)[1] for line in result.outlines if "::" in line}
    every = {
        "test_discovered_through_the_entry_point",
        "test_every_listed_model_resolves_and_builds",
        "test_every_model_is_priced_or_marked",
    }
    assert collected == {
        *(f"TestAnthropic::{name}" for name in every),
        "TestAnthropic::test_factory_returns_the_livekit_type[llm]",
        "TestAnthropic::test_records_carry_the_billed_units[llm]",
        "TestAnthropic::test_the_key_never_appears[llm]",
        "TestAnthropic::test_a_failure_is_classified_and_recorded[llm-401]",
        "TestAnthropic::test_a_failure_is_classified_and_recorded[llm-500]",
        *(f"TestPiper::{name}" for name in every),
        "TestPiper::test_factory_returns_the_livekit_type[tts]",
        "TestPiper::test_records_carry_the_billed_units[tts]",
    }


def test_a_plugin_registered_by_hand_is_not_discovered():
    host = PluginHost(discover=False)
    host.register(plugin(llm_spec()))
    with pytest.raises(AssertionError, match="not found through"):
        check_discovered(host, "broken")


def test_a_plugin_that_fails_to_load_is_not_discovered():
    host = PluginHost(discover=False)
    module = plugin(llm_spec())
    module.VOICEGATEWAY_PLUGIN_API = 99
    with pytest.raises(Exception, match="plugin API 99"):
        host.register(module)
    with pytest.raises(AssertionError, match="no loaded plugin registers 'broken'"):
        check_discovered(host, "broken")


def test_a_factory_returning_the_wrong_type_fails(use_provider):
    def tts_instead(request: BuildRequest) -> Any:
        from voicegateway_testkit.fakes import FakeTTS

        return FakeTTS(model=request.model)

    spec = llm_spec(llm=tts_instead)
    use_provider(spec)
    with pytest.raises(AssertionError, match=r"FakeTTS, not a livekit\.agents\.llm\.LLM"):
        check_factory(spec, "llm")


def test_a_modality_without_a_default_model_fails(use_provider):
    spec = llm_spec(default_models={})
    use_provider(spec)
    with pytest.raises(AssertionError, match=r"no default_models\['llm'\]"):
        check_factory(spec, "llm")


def test_a_factory_serving_another_model_than_the_default_fails(use_provider):
    spec = llm_spec()
    use_provider(spec)
    check_factory(spec, "llm")
    stale = dataclasses.replace(spec, default_models={"llm": "m2"})
    with pytest.raises(AssertionError, match=r"\('broken', 'm1'\)"):
        check_factory(stale, "llm")


def test_a_model_listed_twice_or_of_a_modality_not_offered_fails():
    check_models_listed(llm_spec())
    with pytest.raises(AssertionError, match=r"broken/m1 \(llm\) is listed twice"):
        check_models_listed(llm_spec(models=(ModelInfo("m1", "llm"), ModelInfo("m1", "llm"))))
    with pytest.raises(AssertionError, match="listed as tts, which broken does not offer"):
        check_models_listed(llm_spec(models=(ModelInfo("m1", "llm"), ModelInfo("v1", "tts"))))


def test_an_unpriced_cloud_model_must_be_marked():
    unmarked = llm_spec(price_catalog="openai", models=(ModelInfo("gpt-no-such-model", "llm"),))
    with pytest.raises(AssertionError, match=r"gpt-no-such-model \(llm\) is unpriced"):
        check_priced(unmarked)
    marked = ModelInfo("gpt-no-such-model", "llm", unpriced="a preview, not in the catalog yet")
    check_priced(llm_spec(price_catalog="openai", default_models={}, models=(marked,)))


def test_a_stale_unpriced_mark_fails():
    stale = ModelInfo("gpt-4o-mini", "llm", unpriced="was not in the catalog")
    spec = llm_spec(price_catalog="openai", default_models={}, models=(stale,))
    with pytest.raises(AssertionError, match="marked unpriced but voice-prices"):
        check_priced(spec)


def test_a_local_engine_with_a_catalog_price_fails():
    local = llm_spec(models=(ModelInfo("gpt-4o-mini", "llm"),), default_models={})
    check_priced(local)  # no catalog id: $0
    with pytest.raises(AssertionError, match="a local engine"):
        check_priced(local, {"broken": _Override()})


class _Override:
    """A ``pricing:`` entry charging a local engine per token."""

    inherit = False

    def units(self) -> dict[str, Any]:
        from decimal import Decimal

        return {"input_mtok": Decimal("1")}


async def test_a_meter_dropping_output_tokens_fails(use_provider):
    def drops_output(metrics: Any, record: UsageRecord) -> bool:
        meter_llm(metrics, record)
        record.output_tokens = 0
        return True

    gateway = use_provider(llm_spec(meters={"llm": drops_output}))
    obj = check_factory(gateway.plugins.provider("broken"), "llm")
    reply = await drive_llm(obj, "Book a table.")
    await wait_ended(obj)
    bill = {"input_tokens": 3, "output_tokens": len(reply.split())}
    with pytest.raises(AssertionError, match="output_tokens: the records say 0"):
        check_units(bill, call_records(gateway, obj), unpriced="local")


async def test_units_of_a_sound_meter_pass_and_unknown_units_fail(use_provider):
    gateway = use_provider(llm_spec())
    obj = check_factory(gateway.plugins.provider("broken"), "llm")
    reply = await drive_llm(obj, "Book a table.")
    await wait_ended(obj)
    records = call_records(gateway, obj)
    bill = {"input_tokens": 3, "output_tokens": len(reply.split())}
    check_units(bill, records)
    with pytest.raises(AssertionError, match="left no usage record"):
        check_units(bill, [])
    another_call = dataclasses.replace(records[0], call_id="another-call")
    with pytest.raises(AssertionError, match="records of several calls"):
        check_units(bill, [*records, another_call])
    failed = [dataclasses.replace(r, status="error", error_class="APIStatusError") for r in records]
    with pytest.raises(AssertionError, match="APIStatusError"):
        check_units(bill, failed)
    unpriced = [
        dataclasses.replace(r, price_source="unpriced", price_detail="no rates for m1")
        for r in records
    ]
    with pytest.raises(AssertionError, match="records left unpriced"):
        check_units(bill, unpriced)
    check_units(bill, unpriced, unpriced="a preview, not in the catalog yet")
    with pytest.raises(AssertionError, match="returned \\['tokens'\\]"):
        check_units({"tokens": 3}, records)
    with pytest.raises(AssertionError, match="returned no units"):
        check_units({}, records)


async def test_a_provider_logging_its_key_fails(use_provider, caplog):
    def chatty(request: BuildRequest) -> Any:
        logging.getLogger("broken.plugin").debug("connecting with key %s", request.api_key)
        return fake_llm(request)

    gateway = use_provider(llm_spec(llm=chatty, key_env=("BROKEN_API_KEY",)), {"api_key": KEY})
    with debug_everywhere(caplog.handler):
        obj = check_factory(gateway.plugins.provider("broken"), "llm")
        await drive_llm(obj, "Hi.")
        await wait_ended(obj)
    records = call_records(gateway, obj)
    check_secret_absent(KEY, records=records, objects=(obj, obj.plugin))  # only the log leaks
    with pytest.raises(AssertionError, match=r"log broken\.plugin DEBUG: connecting with key"):
        check_secret_absent(KEY, logs=caplog.records, records=records)


def test_a_key_in_a_record_field_fails():
    record = UsageRecord(
        call_id="c1", modality="llm", provider="broken", model="m1", project=PROJECT
    )
    check_secret_absent(KEY, records=[record])
    record.price_detail = f"no rates for key {KEY}"
    with pytest.raises(AssertionError, match="record field price_detail"):
        check_secret_absent(KEY, records=[record])


def test_a_key_in_an_error_message_or_a_repr_fails():
    error = APIStatusError(f"invalid key {KEY}", status_code=401)
    with pytest.raises(AssertionError, match="APIStatusError message"):
        check_secret_absent(KEY, errors=[error])
    holder = types.SimpleNamespace(api_key=KEY)
    with pytest.raises(AssertionError, match="repr of SimpleNamespace"):
        check_secret_absent(KEY, objects=[holder])


async def test_a_failure_that_is_no_api_error_fails(use_provider, no_retry):
    gateway = use_provider(llm_spec())
    obj = check_factory(gateway.plugins.provider("broken"), "llm")
    obj.plugin.fail_with = RuntimeError("HTTP 401")  # what an SDK error leaking through looks like
    with pytest.raises(RuntimeError) as failure:
        await drive_llm(obj, "Hi.")
    await wait_ended(obj)
    records = call_records(gateway, obj)
    with pytest.raises(AssertionError, match="raised RuntimeError"):
        check_failure(failure.value, NEXT, records, 401)


async def test_a_failure_classified_wrong_or_unrecorded_fails(use_provider):
    gateway = use_provider(llm_spec())
    obj = check_factory(gateway.plugins.provider("broken"), "llm")
    obj.plugin.fail_with = APIStatusError("server error", status_code=500)
    with pytest.raises(APIStatusError) as failure:
        await drive_llm(obj, "Hi.")
    await wait_ended(obj)
    records = call_records(gateway, obj)
    check_failure(failure.value, RETRY, records, 500)
    with pytest.raises(AssertionError, match="classifies as 'retry', not 'next'"):
        check_failure(failure.value, NEXT, records, 500)
    with pytest.raises(AssertionError, match="left no error record"):
        check_failure(failure.value, RETRY, [], 500)
    assert [r.error_class for r in records if r.status == "error"] == ["APIStatusError"]
    mislabelled = [dataclasses.replace(r, error_class="RuntimeError") for r in records]
    with pytest.raises(AssertionError, match="RuntimeError"):
        check_failure(failure.value, RETRY, mislabelled, 500)


async def test_a_provider_that_takes_a_key_cannot_skip_the_key_check():
    """Forgetting ``api_key`` on a keyed provider's subclass fails instead of skipping the
    leak check."""
    spec = ProviderSpec(id="keyed", llm=lambda request: None, key_env=("KEYED_API_KEY",))

    class Forgetful(ProviderConformance):
        provider = "keyed"
        api_key = None

    check = Forgetful.test_the_key_never_appears
    try:
        with pytest.raises(AssertionError, match="KEYED_API_KEY: set the subclass's api_key"):
            await check(Forgetful(), None, spec, None, "llm", None, None)
    except pytest.skip.Exception:
        pytest.fail("the key check was skipped for a provider that takes a key")
