"""The OpenAI usage and costs readers, registered through the plugin's hook, on example files in
the Usage API's and Costs API's own JSON shapes (tests/exports/)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.reconcile.billed import (
    BilledUsage,
    ExportError,
    Page,
    UsageReader,
    nothing_billed,
)
from voicegateway_openai import plugin
from voicegateway_openai.usage_export import leg_of, model_name
from voicegateway_testkit.exports import (
    assert_export_error,
    broken_copy,
    check_missing_day,
    check_refused,
    drop_at,
    installed_claims,
    ledger_config,
    reconcile_rows,
    record_llm_calls,
    registered_readers,
    set_at,
)

EXPORTS = Path(__file__).parent / "exports"
ANTHROPIC_EXPORTS = Path(__file__).parents[2] / "voicegateway-anthropic" / "tests" / "exports"
AUG1, AUG2 = datetime.date(2025, 8, 1), datetime.date(2025, 8, 2)


def readers() -> dict[str, UsageReader]:
    return registered_readers(plugin)


def read(name: str, path: Path) -> list[BilledUsage]:
    """The lines of the file (its pages apart: :func:`pages`)."""
    return [item for item in readers()[name].read(path) if isinstance(item, BilledUsage)]


def pages(name: str, path: Path) -> list[Page]:
    return [item for item in readers()[name].read(path) if isinstance(item, Page)]


def line(model, day, leg, units, cost, account, source) -> BilledUsage:
    return BilledUsage(
        provider="openai",
        model=model,
        day=day,
        leg=leg,
        units={k: Decimal(v) for k, v in units.items()},
        cost_usd=None if cost is None else Decimal(cost),
        account=account,
        source=source,
    )


def prompt(input_tokens: int, cached_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cached_tokens": cached_tokens,
        "output_tokens": output_tokens,
    }


def test_registers_two_utc_readers_with_their_docs():
    found = readers()
    assert set(found) == {"openai-usage-api", "openai-costs-api"}
    for reader in found.values():
        assert reader.provider == "openai"
        assert reader.timezone == "UTC"
        assert "https://platform.openai.com/docs/api-reference/usage" in reader.description


def test_completions_usage_by_model_and_project():
    src = "usage_completions.json:data"
    voice, office = "proj_voiceagent", "proj_backoffice"
    assert read("openai-usage-api", EXPORTS / "usage_completions.json") == [
        line(
            "gpt-4o-mini",
            AUG1,
            "llm",
            prompt(48200, 40960, 3150),
            None,
            voice,
            f"{src}[0].results[0]",
        ),
        line(
            "gpt-4.1",
            AUG1,
            "llm",
            prompt(9100, 0, 870),
            None,
            office,
            f"{src}[0].results[1]",
        ),
        line(
            "gpt-4o-mini",
            AUG2,
            "llm",
            prompt(51873, 44032, 2990),
            None,
            voice,
            f"{src}[1].results[0]",
        ),
        # not a model this plugin lists: kept as OpenAI names it
        line(
            "gpt-3.5-turbo-0125",
            AUG2,
            "llm",
            prompt(1200, 0, 300),
            None,
            office,
            f"{src}[1].results[1]",
        ),
        # an empty bucket: a day the export covers on which nothing was billed
        nothing_billed("openai", datetime.date(2025, 8, 3), "llm", f"{src}[2]"),
    ]


def test_speech_usage_is_tts_characters():
    src = "usage_audio_speeches.json:data"
    assert read("openai-usage-api", EXPORTS / "usage_audio_speeches.json") == [
        line(
            "gpt-4o-mini-tts",
            AUG1,
            "tts",
            {"characters": 18342},
            None,
            "proj_voiceagent",
            f"{src}[0].results[0]",
        ),
        line(
            "tts-1",
            AUG1,
            "tts",
            {"characters": 2210},
            None,
            "proj_backoffice",
            f"{src}[0].results[1]",
        ),
        line(
            "gpt-4o-mini-tts",
            AUG2,
            "tts",
            {"characters": 20117},
            None,
            "proj_voiceagent",
            f"{src}[1].results[0]",
        ),
    ]


def test_transcription_usage_saved_as_several_pages_is_stt_seconds():
    src = "usage_audio_transcriptions.json:"
    assert read("openai-usage-api", EXPORTS / "usage_audio_transcriptions.json") == [
        line(
            "gpt-4o-mini-transcribe",
            AUG1,
            "stt",
            {"audio_seconds": 5412},
            None,
            "proj_voiceagent",
            f"{src}[0].data[0].results[0]",
        ),
        line(
            "gpt-4o-mini-transcribe",
            AUG2,
            "stt",
            {"audio_seconds": 5897},
            None,
            "proj_voiceagent",
            f"{src}[1].data[0].results[0]",
        ),
        line(
            "whisper-1",
            AUG2,
            "stt",
            {"audio_seconds": 640},
            None,
            "proj_backoffice",
            f"{src}[1].data[0].results[1]",
        ),
    ]


def test_costs_by_line_item_are_exact_dollars_per_model_and_leg():
    src = "costs.json:data"
    voice, office = "proj_voiceagent", "proj_backoffice"
    lines = read("openai-costs-api", EXPORTS / "costs.json")
    assert lines == [
        line("gpt-4o-mini", AUG1, "llm", {}, "0.001086", voice, f"{src}[0].results[0]"),
        line("gpt-4o-mini", AUG1, "llm", {}, "0.003072", voice, f"{src}[0].results[1]"),
        line("gpt-4o-mini", AUG1, "llm", {}, "0.00189", voice, f"{src}[0].results[2]"),
        line("gpt-4o-mini-transcribe", AUG1, "stt", {}, "0.2706", voice, f"{src}[0].results[3]"),
        line("tts-1", AUG1, "tts", {}, "0.033153", office, f"{src}[0].results[4]"),
        # results[5], text-embedding-3-small, bills no voice leg
        line("gpt-4o-mini", AUG2, "llm", {}, "0.00117615", voice, f"{src}[1].results[0]"),
        line("whisper-1", AUG2, "stt", {}, "0.0064", office, f"{src}[1].results[1]"),
    ]
    # exact decimals, not floats that happen to print the same
    assert all(type(billed.cost_usd) is Decimal for billed in lines)
    assert sum(billed.cost_usd for billed in lines[:3]) == Decimal("0.006048")


def test_cache_writes_are_cache_creation_tokens_and_partial_buckets_their_interval(tmp_path):
    def edit(doc):
        doc["data"][0]["start_time"] += 14 * 3600  # asked from 14:00: the first bucket is partial
        doc["data"][0]["results"][0]["input_cache_write_tokens"] = 2048

    [voice, office, *_] = read(
        "openai-usage-api", broken_copy(EXPORTS / "usage_completions.json", tmp_path, edit)
    )
    assert voice.units["cache_creation_tokens"] == 2048
    assert "cache_creation_tokens" not in office.units  # the field is absent: not given
    start = datetime.datetime(2025, 8, 1, 14, tzinfo=datetime.UTC)
    assert (
        voice.covers == office.covers == (start, datetime.datetime(2025, 8, 2, tzinfo=datetime.UTC))
    )
    [page] = pages("openai-usage-api", tmp_path / "usage_completions.json")
    assert (page.start, page.more) == (start, None)


@pytest.mark.parametrize(
    ("reported", "ours"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # snapshot of a listed model
        ("gpt-4o-mini-tts-2025-03-20", "gpt-4o-mini-tts"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo-0125"),  # not a -YYYY-MM-DD date
        ("o3-2025-04-16", "o3-2025-04-16"),  # o3 is not listed: kept as reported
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    ],
)
def test_dated_snapshots_of_listed_models_take_the_listed_name(reported, ours):
    assert model_name(reported) == ours


@pytest.mark.parametrize(
    ("model", "leg"),
    [
        ("gpt-4o-mini", "llm"),
        ("gpt-4o-transcribe", "stt"),
        ("whisper-1", "stt"),
        ("tts-1-hd", "tts"),
        ("gpt-4o-mini-tts", "tts"),
        ("o4-mini", "llm"),
        ("gpt-image-1", None),
        ("text-embedding-3-small", None),
        ("web search tool calls", None),
    ],
)
def test_cost_line_leg_follows_the_model(model, leg):
    assert leg_of(model) == leg


def test_sniff_tells_the_formats_apart():
    found = readers()
    claims = {}
    files = sorted(EXPORTS.glob("*.json")) + sorted(ANTHROPIC_EXPORTS.glob("*.json"))
    for path in files:
        head = path.read_bytes()[:65536]
        claims[path.name] = {name for name, r in found.items() if r.sniff(path.name, head)}
    assert claims["usage_completions.json"] == {"openai-usage-api"}
    assert claims["usage_audio_speeches.json"] == {"openai-usage-api"}
    assert claims["usage_audio_transcriptions.json"] == {"openai-usage-api"}
    assert claims["costs.json"] == {"openai-costs-api"}
    anthropic = [path.name for path in files if path.parent == ANTHROPIC_EXPORTS]
    assert anthropic, "the anthropic example exports are missing"
    for name in anthropic:
        assert claims[name] == set(), name


# -- malformed files ---------------------------------------------------------------------------


R = ("data", 1, "results", 0)

USAGE_BREAKAGES = [
    (drop_at(*R, "output_tokens"), "data[1].results[0]", "output_tokens", "missing"),
    (
        set_at(*R, "input_tokens", "51873"),
        "data[1].results[0]",
        "input_tokens",
        "expected an integer, got a string",
    ),
    (
        set_at(*R, "input_tokens", 12.5),
        "data[1].results[0]",
        "input_tokens",
        "expected an integer, got a number",
    ),
    (set_at(*R, "output_tokens", -3), "data[1].results[0]", "output_tokens", "negative"),
    (
        set_at(*R, "input_cached_tokens", 60000),
        "data[1].results[0]",
        "input_cached_tokens",
        "more cached tokens than input tokens",
    ),
    (set_at(*R, "model", None), "data[1].results[0]", "model", "group_by=model"),
    (
        set_at(*R, "object", "organization.usage.embeddings.result"),
        "data[1].results[0]",
        "object",
        "not an OpenAI usage result",
    ),
    (drop_at("data", 1, "start_time"), "data[1]", "start_time", "missing"),
    (
        set_at("data", 1, "end_time", 1754092800 + 2 * 86400),
        "data[1]",
        "end_time",
        "more than one UTC day",
    ),
    (set_at("data", 1, "results", {}), "data[1]", "results", "expected an array"),
    (set_at("data", None), "top level", "data", "expected an array, got null"),
]


@pytest.mark.parametrize(("mutate", "where", "column", "problem"), USAGE_BREAKAGES)
def test_malformed_usage_names_the_path_and_field(tmp_path, mutate, where, column, problem):
    bad = broken_copy(EXPORTS / "usage_completions.json", tmp_path, mutate)
    with pytest.raises(ExportError) as caught:
        read("openai-usage-api", bad)
    assert_export_error(caught.value, "usage_completions.json", where, column, problem)


C = ("data", 0, "results", 2)

COST_BREAKAGES = [
    (set_at(*C, "amount", "currency", "eur"), "amount.currency", "only usd"),
    (drop_at(*C, "amount", "value"), "amount.value", "missing"),
    (set_at(*C, "amount", "value", "0.00189"), "amount.value", "expected a number, got a string"),
    (set_at(*C, "amount", "value", -1), "amount.value", "negative"),
    (set_at(*C, "amount", 0.00189), "amount", "expected an object"),
    (set_at(*C, "line_item", None), "line_item", "group_by=line_item"),
    (set_at(*C, "object", "organization.usage.completions.result"), "object", "not an OpenAI"),
]


@pytest.mark.parametrize(("mutate", "column", "problem"), COST_BREAKAGES)
def test_malformed_costs_name_the_path_and_field(tmp_path, mutate, column, problem):
    bad = broken_copy(EXPORTS / "costs.json", tmp_path, mutate)
    with pytest.raises(ExportError) as caught:
        read("openai-costs-api", bad)
    assert_export_error(caught.value, "costs.json", "data[0].results[2]", column, problem)


def test_a_file_that_is_not_json_names_the_line(tmp_path):
    text = (EXPORTS / "costs.json").read_text()
    bad = tmp_path / "costs.json"
    bad.write_text(text.replace('"amount": {', '"amount": {{', 1))
    with pytest.raises(ExportError) as caught:
        read("openai-costs-api", bad)
    assert caught.value.where.startswith("line 11 column")
    assert "not JSON" in caught.value.problem


def test_nothing_is_read_from_a_file_broken_at_its_end(tmp_path):
    """The first buckets are fine; the error in the last one still fails the whole read."""
    bad = broken_copy(
        EXPORTS / "usage_completions.json",
        tmp_path,
        lambda doc: doc["data"][2]["results"].append(
            {"object": "organization.usage.completions.result"}
        ),
    )
    lines = readers()["openai-usage-api"].read
    with pytest.raises(ExportError, match=r"data\[2\]\.results\[0\]"):
        next(iter(lines(bad)))


def test_non_finite_numbers_are_refused(tmp_path):
    text = (
        (EXPORTS / "usage_audio_transcriptions.json")
        .read_text()
        .replace('"seconds": 640', '"seconds": NaN')
    )
    bad = tmp_path / "t.json"
    bad.write_text(text)
    with pytest.raises(ExportError) as caught:
        read("openai-usage-api", bad)
    assert (caught.value.where, caught.value.column) == ("[1].data[0].results[1]", "seconds")


def test_every_installed_reader_leaves_these_files_to_openai_and_nothing_imports_the_parser():
    """Through the plugin host ``voicegw reconcile`` uses, in a fresh interpreter: loading all
    plugins' readers does not import the parsing module, and of all of them only the right
    OpenAI reader claims each example file."""
    loaded, claims = installed_claims(EXPORTS, "voicegateway_openai.usage_export")
    assert loaded is False
    assert claims == {
        "costs.json": ["openai-costs-api"],
        "usage_audio_speeches.json": ["openai-usage-api"],
        "usage_audio_transcriptions.json": ["openai-usage-api"],
        "usage_completions.json": ["openai-usage-api"],
    }


# -- end to end: records from real calls against the fake server, `voicegw reconcile` ------------

MODEL = "openai/gpt-4o-mini"
CHAT = [("user", "book a table for two")]

# OpenAI's published gpt-4o-mini prices, per token: what the costs export would bill
INPUT, CACHED_INPUT, OUTPUT = Decimal("0.15e-6"), Decimal("0.075e-6"), Decimal("0.6e-6")


def _openai_exports(
    folder: Path,
    day: datetime.date,
    billed: dict,
    *,
    output_extra: int = 0,
    output_price: Decimal = OUTPUT,
    quiet: datetime.date | None = None,
):
    """The usage and costs pages OpenAI would export for ``billed`` (the fake server's units),
    output priced at ``output_price``; ``quiet`` is an earlier day in the period on which OpenAI
    billed nothing: its bucket has no results, as the API answers for such a day."""

    def bucket(on: datetime.date) -> dict:
        start = int(datetime.datetime.combine(on, datetime.time(), datetime.UTC).timestamp())
        return {"object": "bucket", "start_time": start, "end_time": start + 86400}

    usage = {
        "object": "organization.usage.completions.result",
        "input_tokens": billed["input"],
        "output_tokens": billed["output"] + output_extra,
        "input_cached_tokens": billed["cached"],
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": billed["requests"],
        "project_id": "proj_voiceagent",
        "user_id": None,
        "api_key_id": None,
        "model": "gpt-4o-mini-2024-07-18",
        "batch": None,
    }
    amounts = {
        "input": (billed["input"] - billed["cached"]) * INPUT,
        "cached input": billed["cached"] * CACHED_INPUT,
        "output": billed["output"] * output_price,
    }
    costs = [
        {
            "object": "organization.costs.result",
            "amount": {"value": amount, "currency": "usd"},
            "line_item": f"gpt-4o-mini-2024-07-18, {item}",
            "project_id": "proj_voiceagent",
        }
        for item, amount in amounts.items()
    ]
    paths = []
    for name, results in (("usage.json", [usage]), ("costs.json", costs)):
        buckets = [{**bucket(day), "results": results}]
        if quiet is not None:
            buckets.insert(0, {**bucket(quiet), "results": []})
        page = {"object": "page", "data": buckets, "has_more": False}
        path = folder / name
        # amounts as JSON numbers; a float's repr is the shortest text of the decimal here
        path.write_text(json.dumps(page, default=float))
        paths.append(path)
    return paths


@pytest.mark.slow
def test_voicegw_reconcile_against_openai_exports(tmp_path, openai_server):
    openai_server.prompt_tokens, openai_server.cached_tokens = 120, 100
    openai_server.completion_tokens = 9
    block = {"api_key": "sk-test", "base_url": f"{openai_server.url}/v1"}
    config = ledger_config(tmp_path, "openai", block)
    record_llm_calls(config, MODEL, 6, CHAT)
    day = datetime.datetime.now(datetime.UTC).date()
    calls = len(openai_server.requests_for("/v1/chat/completions"))
    assert calls == 6
    billed = {"requests": calls, "input": 120 * calls, "cached": 100 * calls, "output": 9 * calls}
    # two more calls recorded on the day before: only the missing-day export's period holds it
    before = day - datetime.timedelta(days=1)
    record_llm_calls(config, MODEL, 2, CHAT, day=before)

    # what OpenAI exports for those calls agrees with our records
    exact = tmp_path / "exact"
    exact.mkdir()
    [row] = reconcile_rows(config, *_openai_exports(exact, day, billed))
    assert (row["model"], row["day"], row["leg"], row["status"]) == (
        "gpt-4o-mini",
        day.isoformat(),
        "llm",
        "ok",
    )
    assert row["theirs"]["units"]["output_tokens"] == str(9 * calls)
    assert Decimal(row["theirs"]["cost_usd"]) == Decimal("0.0000159") * calls
    assert Decimal(row["ours"]["cost_usd"]) == Decimal("0.0000159") * calls

    # OpenAI billed 5 output tokens per call more than we recorded: a metering gap
    gap = tmp_path / "gap"
    gap.mkdir()
    exports = _openai_exports(gap, day, billed, output_extra=5 * calls)
    [row] = reconcile_rows(config, *exports, exit_code=1)
    assert (row["status"], row["cause"]) == ("flagged", "units")

    # OpenAI billed output at $0.66 per 1M tokens, not the $0.60 we priced: 3.4 % more in all
    rate = tmp_path / "rate"
    rate.mkdir()
    proposal = tmp_path / "overrides.yaml"
    exports = _openai_exports(rate, day, billed, output_price=Decimal("0.66e-6"))
    [row] = reconcile_rows(config, "--write-overrides", proposal, *exports, exit_code=1)
    assert (row["status"], row["cause"]) == ("flagged", "rate")
    assert row["ours"]["units"] == row["theirs"]["units"]
    assert Decimal(row["theirs"]["cost_usd"]) == Decimal("0.00001644") * calls
    # 15.9 and 16.44 microdollars over the 129 tokens of each call
    blended = "/1M tokens (input and output blended)"
    assert row["detail"].startswith(f"ours $0.123256{blended}, theirs $0.127442{blended}")
    assert "priced by catalog" in row["detail"], row["detail"]
    # every rate of the card scaled by 16.44 / 15.9, for a person to review
    assert "theirs/ours = 1.0339623" in proposal.read_text()
    assert "  openai/gpt-4o-mini: {" in proposal.read_text()

    # the export's period holds the day before, on which OpenAI billed nothing
    missing = tmp_path / "missing"
    missing.mkdir()
    period = ("--since", str(before), "--until", str(day + datetime.timedelta(days=1)))
    exports = _openai_exports(missing, day, billed, quiet=before)
    ours = check_missing_day(reconcile_rows(config, *period, *exports, exit_code=1), before, day)
    assert ours["units"]["output_tokens"] == str(9 * 2)

    # a malformed costs export: exit 2, naming the file, the result and the field
    usage, costs = _openai_exports(tmp_path, day, billed)
    page = json.loads(costs.read_text())
    page["data"][0]["results"][1]["amount"]["value"] = "0.0000450"
    costs.write_text(json.dumps(page))
    check_refused(config, [usage, costs], "costs.json: data[0].results[1], column 'amount.value'")
