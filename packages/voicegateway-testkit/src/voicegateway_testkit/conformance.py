"""The provider conformance kit: one suite every provider distribution runs against itself.

A provider's ``tests/test_conformance.py`` subclasses :class:`ProviderConformance`, names its
provider and dummy key, points the ``providers.<id>`` block of voicegw.yaml at its fake server,
and drives one billable call per modality (``bill_stt`` / ``bill_llm`` / ``bill_tts``) returning
the units the provider bills for it, as the fake server or the engine saw them. The kit then
checks, through the real discovery and ``voicegateway.inference``:

- the plugin is discovered through the ``voicegateway`` entry point and loads;
- each factory returns the LiveKit type of its modality (default model and every listed one);
- every listed model of a cloud provider is priced by voice-prices or marked ``unpriced=``; a
  local engine's models cost $0;
- the records of one call carry exactly the units the provider bills, priced;
- the key never appears in a log line (every logger at DEBUG), a record, an error or a repr;
- a failure raises a LiveKit ``APIError`` that run-time fallback classifies correctly (401: next
  provider, 500: retry), and the failed call still leaves an ``error`` record.

Only the checks that apply to the provider exist: at collection the suite reads the provider's
``ProviderSpec`` through discovery and generates each per-modality check for the modalities it
offers, the key check for a provider that takes a key, the failure checks for a cloud provider
(:func:`cases`). Nothing is skipped: a check either applies and runs, or is not collected.

Each check is a plain function raising ``AssertionError``, so the kit's own tests can show that it
catches a broken provider. Imports LiveKit: import it from test modules only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, llm, stt, tts

import voicegateway
from voicegateway import gateway as gateway_module
from voicegateway import inference
from voicegateway.errors import PluginError
from voicegateway.plugins import PluginHost
from voicegateway.policies.fallback import NEXT, RETRY, classify
from voicegateway.pricing import rates_for
from voicegateway.providers import MODALITIES, Modality, ProviderSpec
from voicegateway.records import RECORD_FIELDS, UNIT_FIELDS, UsageRecord
from voicegateway_testkit.audio import audio_frames, pcm_tone

NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)
"""Calls made by the kit fail at once instead of retrying with back-off."""

PROJECT = "conformance"
"""The project the kit's voicegw.yaml bills every call to."""

SPEECH_SECONDS = 1.0
"""Audio the kit's :func:`speech` gives an STT: long enough for one utterance."""

TOLERANCE = {"audio_seconds": 0.05}
"""How far a record's units may be from the bill: seconds differ by a frame's rounding; tokens
and characters must be exact."""

FAILURES = {401: NEXT, 500: RETRY}
"""HTTP statuses the kit injects, and how run-time fallback must classify the error raised."""

_BASES: dict[str, type] = {"stt": stt.STT, "llm": llm.LLM, "tts": tts.TTS}
_WRAPPERS: dict[str, Any] = {"stt": inference.STT, "llm": inference.LLM, "tts": inference.TTS}


# -- what bill_* bodies use ---------------------------------------------------------------------


def speech(seconds: float = SPEECH_SECONDS, *, sample_rate: int = 16000) -> list[rtc.AudioFrame]:
    """``seconds`` of an audible tone in 20 ms frames, as a microphone track delivers it."""
    pcm = pcm_tone(seconds, frequency=220.0, sample_rate=sample_rate)
    return audio_frames(pcm, sample_rate=sample_rate)


async def drive_stt(
    model: stt.STT, frames: Sequence[rtc.AudioFrame], *, conn_options: APIConnectOptions = NO_RETRY
) -> str:
    """Transcribe ``frames`` in one call and return the final text: through one recognize stream
    when the STT streams, else one batch ``recognize()``. Errors propagate."""
    if not model.capabilities.streaming:
        event = await model.recognize(list(frames), conn_options=conn_options)
        return event.alternatives[0].text if event.alternatives else ""
    finals: list[str] = []
    async with model.stream(conn_options=conn_options) as stream:
        for frame in frames:
            stream.push_frame(frame)
        stream.end_input()
        async for event in stream:
            if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT and event.alternatives:
                finals.append(event.alternatives[0].text)
    return " ".join(text for text in finals if text)


async def drive_llm(
    model: llm.LLM, prompt: str, *, conn_options: APIConnectOptions = NO_RETRY
) -> str:
    """One chat turn with ``prompt`` as the user's message; returns the reply's text."""
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content=prompt)
    parts: list[str] = []
    async with model.chat(chat_ctx=ctx, conn_options=conn_options) as stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                parts.append(chunk.delta.content)
    return "".join(parts)


async def drive_tts(
    model: tts.TTS, text: str, *, conn_options: APIConnectOptions = NO_RETRY
) -> float:
    """Synthesize ``text`` in one ``synthesize()`` call; returns the seconds of audio received."""
    seconds = 0.0
    async with model.synthesize(text, conn_options=conn_options) as stream:
        async for event in stream:
            seconds += event.frame.duration
    return seconds


# -- setting up ---------------------------------------------------------------------------------


def write_config(directory: Path, provider: str, block: Mapping[str, Any]) -> Path:
    """A voicegw.yaml with one provider block and the kit's project (JSON is valid YAML)."""
    path = directory / "voicegw.yaml"
    config = {
        "default_project": PROJECT,
        "projects": {PROJECT: {}},
        "providers": {provider: dict(block)},
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def build(modality: str, model: str) -> Any:
    """``inference.STT/LLM/TTS(model)``; a factory the core refuses becomes an assertion."""
    options = {} if modality == "llm" else {"conn_options": NO_RETRY}
    try:
        return _WRAPPERS[modality](model, **options)
    except PluginError as exc:
        raise AssertionError(f"{modality} {model!r} does not build: {exc}") from exc


async def wait_ended(obj: Any, timeout: float = 5.0) -> None:
    """Wait until every call ``obj`` opened has ended (its closing record made)."""
    instrument = obj._built.instrument
    async with asyncio.timeout(timeout):
        while instrument.in_flight:
            await asyncio.sleep(0.01)


def call_records(gateway: voicegateway.Gateway, obj: Any) -> list[UsageRecord]:
    """The records of ``obj``'s modality and provider made so far."""
    modality = next(m for m, base in _BASES.items() if isinstance(obj, base))
    return [r for r in gateway.records() if r.modality == modality and r.provider == obj.provider]


@contextlib.contextmanager
def debug_everywhere(handler: logging.Handler) -> Iterator[None]:
    """Every logger at DEBUG, and ``handler`` on the root and on each logger that does not
    propagate, so no log line escapes the capture; restored afterwards."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    levels = [(lg, lg.level) for lg in loggers]
    attached = [lg for lg in loggers if lg is logging.root or not lg.propagate]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for lg in attached:
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg in attached:
            lg.removeHandler(handler)
        for lg, level in levels:
            lg.setLevel(level)


# -- the checks ---------------------------------------------------------------------------------


def check_discovered(host: PluginHost, provider: str) -> None:
    """``provider`` comes from a plugin found through the ``voicegateway`` entry point, loaded
    without error, as ``voicegw providers`` reports it."""
    infos = host.load_all()
    owners = [i for i in infos.values() if any(s.id == provider for s in i.providers)]
    if not owners:
        failed = {n: i.error for n, i in infos.items() if i.error}
        raise AssertionError(f"no loaded plugin registers {provider!r} (failures: {failed})")
    [info] = owners
    assert info.status == "loaded" and info.error is None, info.error
    assert info.distribution is not None, (
        f"plugin {info.name!r} was registered by hand, not found through the "
        "[project.entry-points.voicegateway] table of an installed distribution"
    )


def check_factory(spec: ProviderSpec, modality: str, model: str | None = None) -> Any:
    """``inference.<MODALITY>("<id>[/<model>]")`` is the LiveKit type of its modality, around a
    plugin object of that type, serving the model asked for (the default one without a model)."""
    name = spec.id if model is None else f"{spec.id}/{model}"
    expected = model or spec.default_models.get(modality)
    assert expected, f"{spec.id} offers {modality} but has no default_models[{modality!r}]"
    obj = build(modality, name)
    base = _BASES[modality]
    assert isinstance(obj, base), f"{name}: {type(obj).__name__} is not a {base.__name__}"
    assert isinstance(obj.plugin, base), (
        f"{name}: the plugin object {type(obj.plugin).__name__} is not a {base.__name__}"
    )
    assert (obj.provider, obj.model) == (spec.id, expected), (obj.provider, obj.model)
    return obj


def check_models_listed(spec: ProviderSpec) -> None:
    """Every listed model is of a modality the provider offers, listed once."""
    seen: set[tuple[str, str]] = set()
    for info in spec.models:
        assert info.modality in spec.modalities, (
            f"{spec.id}/{info.name} is listed as {info.modality}, which {spec.id} does not offer"
        )
        key = (info.name, info.modality)
        assert key not in seen, f"{spec.id}/{info.name} ({info.modality}) is listed twice"
        seen.add(key)


def check_priced(spec: ProviderSpec, overrides: Mapping[str, Any] | None = None) -> None:
    """Cloud: every listed and default model has voice-prices rates, or is listed with
    ``unpriced=`` saying why (and then really has none). Local: every model costs $0."""
    marked = {(m.name, m.modality): m.unpriced for m in spec.models}
    models = {(m.name, m.modality) for m in spec.models} | {
        (name, modality) for modality, name in spec.default_models.items()
    }
    problems = []
    for name, modality in sorted(models):
        rates = rates_for(spec.id, name, modality, catalog=spec.price_catalog, overrides=overrides)
        why = marked.get((name, modality))
        if spec.price_catalog is None:
            cost = rates.cost({"audio_seconds": 60, "input_tokens": 1000, "characters": 1000})
            if rates.source != "local" or cost != 0:
                problems.append(f"{name} ({modality}): a local engine, yet {rates!r} costs {cost}")
        elif rates.source == "unpriced" and not why:
            problems.append(
                f"{name} ({modality}) is unpriced ({rates.detail}): add it to voice-prices or "
                'list it as ModelInfo(..., unpriced="why")'
            )
        elif rates.source != "unpriced" and why:
            problems.append(f"{name} ({modality}) is marked unpriced but {rates.detail} prices it")
    assert not problems, f"{spec.id}: " + "; ".join(problems)


def billed(records: Iterable[UsageRecord], unit: str) -> float:
    """The total of ``unit`` over ``records``, as pricing reads it: an STT record the provider
    never reported is priced from the seconds VoiceGateway measured."""
    if unit == "audio_seconds":
        return sum(
            r.audio_seconds or (r.audio_seconds_measured if r.modality == "stt" else 0.0)
            for r in records
        )
    return sum(getattr(r, unit) for r in records)


def check_units(
    bill: Mapping[str, float], records: Sequence[UsageRecord], *, unpriced: str | None = None
) -> None:
    """The records of one successful call carry what the provider billed for it, unit by unit,
    and are priced (unless the model is marked ``unpriced``)."""
    assert bill, "bill_<modality> returned no units: return what the provider bills"
    unknown = sorted(set(bill) - set(UNIT_FIELDS))
    assert not unknown, f"bill_<modality> returned {unknown}; units are {UNIT_FIELDS}"
    assert records, "the call left no usage record"
    assert len({r.call_id for r in records}) == 1, "one call made records of several calls"
    assert all(r.status == "ok" for r in records), [(r.status, r.error_class) for r in records]
    got = {unit: billed(records, unit) for unit in bill}
    for unit, expected in bill.items():
        assert got[unit] == pytest.approx(expected, abs=TOLERANCE.get(unit, 0)), (
            f"{unit}: the records say {got[unit]}, the provider billed {expected} (all: {got})"
        )
    if unpriced is None:
        unpriced_records = [r.price_detail for r in records if r.price_source == "unpriced"]
        assert not unpriced_records, f"records left unpriced: {unpriced_records}"


def check_secret_absent(
    secret: str,
    *,
    logs: Iterable[logging.LogRecord] = (),
    records: Iterable[UsageRecord] = (),
    objects: Iterable[Any] = (),
    errors: Iterable[BaseException] = (),
) -> None:
    """``secret`` appears in no log line (message, arguments or traceback), no record field, no
    repr or str of ``objects`` and no error message."""
    places = []
    for entry in logs:
        text = " ".join(
            (entry.getMessage(), entry.exc_text or "", repr(entry.args), repr(entry.__dict__))
        )
        if secret in text:
            places.append(f"log {entry.name} {entry.levelname}: {entry.getMessage()[:120]}")
    for record in records:
        places.extend(
            f"record field {field}"
            for field in RECORD_FIELDS
            if secret in str(getattr(record, field))
        )
    for obj in objects:
        if secret in repr(obj) or secret in str(obj):
            places.append(f"repr of {type(obj).__name__}")
    for error in errors:
        if secret in repr(error) or secret in str(error):
            places.append(f"{type(error).__name__} message")
    assert not places, "the key appears in: " + "; ".join(places)


def check_failure(
    error: BaseException, expected: str, records: Sequence[UsageRecord], status: int
) -> None:
    """A provider failure is a LiveKit ``APIError`` that run-time fallback classifies as
    ``expected``, and the call left a record of its failure."""
    assert isinstance(error, APIError), (
        f"HTTP {status} raised {type(error).__name__}: {error}; LiveKit plugins raise "
        "APIStatusError (or APIConnectionError/APITimeoutError), so fallback can classify it"
    )
    assert classify(error) == expected, (
        f"HTTP {status} raised {error!r}, which fallback classifies as {classify(error)!r}, "
        f"not {expected!r}"
    )
    failed = [r for r in records if r.status == "error"]
    assert failed, (
        f"the failed call left no error record: {[(r.status, r.units()) for r in records]}"
    )
    assert all(r.error_class == type(error).__name__ for r in failed), [
        r.error_class for r in failed
    ]


# -- which checks apply ---------------------------------------------------------------------------


def cases(test: str, spec: ProviderSpec | None, *, has_key: bool) -> list[tuple[Any, ...]] | None:
    """The parameters ``test`` runs with for ``spec``: ``(modality,)`` or ``(modality, status)``
    tuples, ``[]`` when it does not apply, None when it takes none. ``spec`` None (the provider
    was not found) generates every case, so each fails saying why instead of vanishing."""
    offered = MODALITIES if spec is None else spec.modalities
    if test in ("test_factory_returns_the_livekit_type", "test_records_carry_the_billed_units"):
        return [(m,) for m in offered]
    if test == "test_the_key_never_appears":  # a keyed provider's suite without a key fails
        applies = spec is None or has_key or spec.needs_key
        return [(m,) for m in offered] if applies else []
    if test == "test_a_failure_is_classified_and_recorded":  # a local engine has no HTTP failure
        applies = spec is None or spec.price_catalog is not None
        return [(m, status) for m in offered for status in sorted(FAILURES)] if applies else []
    return None


@functools.cache
def discovered_spec(provider: str) -> ProviderSpec | None:
    """``provider``'s spec as real discovery finds it (None: it does not), once per process."""
    try:
        return PluginHost().provider(provider)
    except Exception:  # the discovery check then fails with the reason
        return None


# -- the suite ----------------------------------------------------------------------------------


class ProviderConformance:
    """Subclass in a provider's ``tests/test_conformance.py``; see docs/writing-a-provider.md.

    Set ``provider`` and ``api_key`` (None for a local engine), override ``provider_block`` and,
    for a cloud provider, ``server`` and :meth:`fail_next`; write ``bill_<modality>`` for each
    modality the provider offers. ``known_defects`` marks checks it fails for a known reason.
    """

    provider: ClassVar[str]
    api_key: ClassVar[str | None] = None
    known_defects: ClassVar[Mapping[str, str]] = {}
    """Tests this provider is known to fail, by name (``test_..._units[stt]``), with why. They run
    as strict xfails: the day the defect is fixed, they fail until the entry is removed."""

    # -- what subclasses provide ----------------------------------------------------------------

    @pytest.fixture
    def server(self) -> Any:
        """The provider's fake server, handed to ``bill_*`` and ``fail_next``; None (local)."""
        return None

    @pytest.fixture
    def provider_block(self) -> dict[str, Any]:
        """The ``providers.<id>`` block of the kit's voicegw.yaml."""
        return {} if self.api_key is None else {"api_key": self.api_key}

    @pytest.fixture
    def plugin_host(self) -> PluginHost:
        """Where providers come from: real entry-point discovery."""
        return PluginHost()

    async def bill_stt(self, obj: stt.STT, server: Any) -> dict[str, float]:
        """Make one complete STT call with ``obj``; return the units the provider billed."""
        raise NotImplementedError(f"{self.provider} offers stt: write bill_stt")

    async def bill_llm(self, obj: llm.LLM, server: Any) -> dict[str, float]:
        """Make one complete LLM call with ``obj``; return the units the provider billed."""
        raise NotImplementedError(f"{self.provider} offers llm: write bill_llm")

    async def bill_tts(self, obj: tts.TTS, server: Any) -> dict[str, float]:
        """Make one complete TTS call with ``obj``; return the units the provider billed."""
        raise NotImplementedError(f"{self.provider} offers tts: write bill_tts")

    def fail_next(self, server: Any, modality: str, status: int) -> None:
        """Make the next request of ``modality`` to ``server`` fail with HTTP ``status``."""
        raise NotImplementedError(f"{self.provider} is a cloud provider: write fail_next")

    # -- collection -------------------------------------------------------------------------------

    @classmethod
    def cases(cls, test: str) -> list[tuple[Any, ...]] | None:
        """The parameters of ``test`` for this provider (:func:`cases`); ``[]``: not collected."""
        return cases(test, discovered_spec(cls.provider), has_key=cls.api_key is not None)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        params = self.cases(metafunc.function.__name__)
        if params:  # ids as stacked parametrize marks gave them: [stt], [stt-401]
            names = [n for n in ("modality", "status") if n in metafunc.fixturenames]
            metafunc.parametrize(names, params)

    # -- fixtures of the kit --------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _isolated(self, no_provider_keys: None, private_data_dir: Path) -> None:
        """The suite runs without the user's keys and ledger, whether or not the project opted
        into the testkit's fixtures."""

    @pytest.fixture(autouse=True)
    def _known_defect(self, request: pytest.FixtureRequest) -> None:
        reason = self.known_defects.get(request.node.name)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    @pytest.fixture
    def gateway(
        self, tmp_path: Path, provider_block: dict[str, Any], plugin_host: PluginHost
    ) -> Iterator[voicegateway.Gateway]:
        """The process's gateway, configured from the kit's voicegw.yaml; reset afterwards."""
        path = write_config(tmp_path, self.provider, provider_block)
        try:
            yield voicegateway.configure(path, plugins=plugin_host)
        finally:
            gateway_module._default = None

    @pytest.fixture
    def spec(self, gateway: voicegateway.Gateway) -> ProviderSpec:
        return gateway.plugins.provider(self.provider)

    async def bill(self, modality: str, obj: Any, server: Any) -> dict[str, float]:
        return await getattr(self, f"bill_{modality}")(obj, server)

    # -- the tests ------------------------------------------------------------------------------

    def test_discovered_through_the_entry_point(self, plugin_host: PluginHost) -> None:
        check_discovered(plugin_host, self.provider)

    async def test_factory_returns_the_livekit_type(
        self, spec: ProviderSpec, modality: Modality, lk_http: Any
    ) -> None:
        check_factory(spec, modality)

    async def test_every_listed_model_resolves_and_builds(
        self, spec: ProviderSpec, lk_http: Any
    ) -> None:
        check_models_listed(spec)
        for info in spec.models:
            check_factory(spec, info.modality, info.name)

    def test_every_model_is_priced_or_marked(
        self, spec: ProviderSpec, gateway: voicegateway.Gateway
    ) -> None:
        check_priced(spec, gateway.config.pricing)

    async def test_records_carry_the_billed_units(
        self,
        gateway: voicegateway.Gateway,
        spec: ProviderSpec,
        server: Any,
        modality: Modality,
        lk_http: Any,
    ) -> None:
        obj = check_factory(spec, modality)
        bill = await self.bill(modality, obj, server)
        await wait_ended(obj)
        marked = {m.name: m.unpriced for m in spec.models if m.modality == modality}
        check_units(bill, call_records(gateway, obj), unpriced=marked.get(obj.model))

    async def test_the_key_never_appears(
        self,
        gateway: voicegateway.Gateway,
        spec: ProviderSpec,
        server: Any,
        modality: Modality,
        lk_http: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # collected for a provider that takes a key: it must prove the key never leaks
        assert self.api_key is not None, (
            f"{self.provider} reads a key from {', '.join(spec.key_env)}: set the "
            "subclass's api_key to a dummy key its fake server accepts"
        )
        errors: list[BaseException] = []
        with debug_everywhere(caplog.handler):
            obj = check_factory(spec, modality)
            await self.bill(modality, obj, server)
            await wait_ended(obj)
            if spec.price_catalog is not None:  # the error path logs and records too
                self.fail_next(server, modality, 401)
                with pytest.raises(
                    Exception
                ) as failure:  # any error: the failure test checks which
                    await self.bill(modality, obj, server)
                errors.append(failure.value)
                await wait_ended(obj)
        check_secret_absent(
            self.api_key,
            logs=caplog.records,
            records=call_records(gateway, obj),
            objects=(obj, obj.plugin),
            errors=errors,
        )

    async def test_a_failure_is_classified_and_recorded(
        self,
        gateway: voicegateway.Gateway,
        spec: ProviderSpec,
        server: Any,
        modality: Modality,
        status: int,
        lk_http: Any,
    ) -> None:
        obj = check_factory(spec, modality)
        self.fail_next(server, modality, status)
        with pytest.raises(Exception) as failure:  # check_failure says which
            await self.bill(modality, obj, server)
        await wait_ended(obj)
        check_failure(failure.value, FAILURES[status], call_records(gateway, obj), status)
