"""The Anthropic usage-report and cost-report readers, registered through the plugin's hook, on
example files in the Admin API's own JSON shapes (tests/exports/)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway.reconcile.billed import BilledUsage, ExportError, Page, UsageReader
from voicegateway_anthropic import plugin
from voicegateway_anthropic.usage_export import model_name
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

from .conftest import ANTHROPIC_KEY

EXPORTS = Path(__file__).parent / "exports"
OPENAI_EXPORTS = Path(__file__).parents[2] / "voicegateway-openai" / "tests" / "exports"
AUG1, AUG2 = datetime.date(2025, 8, 1), datetime.date(2025, 8, 2)
VOICE = "wrkspc_01VoiceAgent"


def readers() -> dict[str, UsageReader]:
    return registered_readers(plugin)


def read(name: str, path: Path) -> list[BilledUsage]:
    """The lines of the file, its pages apart."""
    return [item for item in readers()[name].read(path) if isinstance(item, BilledUsage)]


def usage(model, day, uncached, read_, written, output, account, source) -> BilledUsage:
    return BilledUsage(
        provider="anthropic",
        model=model,
        day=day,
        leg="llm",
        units={
            "input_tokens": Decimal(uncached + read_ + written),
            "cached_tokens": Decimal(read_),
            "cache_creation_tokens": Decimal(written),
            "output_tokens": Decimal(output),
        },
        cost_usd=None,
        account=account,
        source=f"usage_report.json:{source}",
    )


def cost(model, day, dollars, account, source) -> BilledUsage:
    return BilledUsage(
        provider="anthropic",
        model=model,
        day=day,
        leg="llm",
        units={},
        cost_usd=Decimal(dollars),
        account=account,
        source=f"cost_report.json:{source}",
    )


def test_registers_two_utc_readers_with_their_docs():
    found = readers()
    assert set(found) == {"anthropic-usage-report", "anthropic-cost-report"}
    for reader in found.values():
        assert reader.provider == "anthropic"
        assert reader.timezone == "UTC"
        assert "https://platform.claude.com/docs/en/api/admin/" in reader.description


def test_usage_report_counts_the_whole_prompt_as_input():
    assert read("anthropic-usage-report", EXPORTS / "usage_report.json") == [
        usage(
            "claude-sonnet-4-20250514",
            AUG1,
            15320,
            118784,
            4096,
            6210,
            VOICE,
            "data[0].results[0]",
        ),
        # a 1h cache write; the default workspace (null) is no account
        usage("claude-sonnet-4-5", AUG1, 2210, 6144, 2048, 980, None, "data[0].results[1]"),
        usage(
            "claude-sonnet-4-20250514",
            AUG2,
            16804,
            131072,
            0,
            7011,
            VOICE,
            "data[1].results[0]",
        ),
        usage("claude-3-5-haiku-20241022", AUG2, 940, 0, 0, 312, VOICE, "data[1].results[1]"),
    ]


def test_cost_report_amounts_are_cents_read_exactly_as_dollars():
    lines = read("anthropic-cost-report", EXPORTS / "cost_report.json")
    sonnet = "claude-sonnet-4-20250514"
    assert lines == [
        cost(sonnet, AUG1, "0.04596", VOICE, "data[0].results[0]"),
        cost(sonnet, AUG1, "0.0356352", VOICE, "data[0].results[1]"),
        cost(sonnet, AUG1, "0.01536", VOICE, "data[0].results[2]"),
        cost(sonnet, AUG1, "0.09315", VOICE, "data[0].results[3]"),
        # data[0].results[4] is a web search fee: no model, not metered by the gateway
        cost("claude-3-5-haiku-20241022", AUG2, "0.001248", VOICE, "data[1].results[0]"),
        cost("claude-sonnet-4-5", AUG2, "0.012288", None, "data[1].results[1]"),
    ]
    assert sum(line.cost_usd for line in lines[:4]) == Decimal("0.1901052")


def test_each_response_is_a_page_that_says_whether_more_follows(tmp_path):
    """``voicegw reconcile`` joins pages given together and flags a report whose following
    page is missing: the reader says where each response starts, ends and what follows."""
    utc = datetime.UTC
    last = readers()["anthropic-usage-report"].read(EXPORTS / "usage_report.json")
    assert [item for item in last if isinstance(item, Page)] == [
        Page(
            "usage_report.json:top level",
            datetime.datetime(2025, 8, 1, tzinfo=utc),
            datetime.datetime(2025, 8, 3, tzinfo=utc),
            None,
        )
    ]
    more = broken_copy(EXPORTS / "usage_report.json", tmp_path, set_at("has_more", True))
    more.write_text(more.read_text().replace('"next_page": null', '"next_page": "page_MjAy"'))
    [page] = [i for i in readers()["anthropic-usage-report"].read(more) if isinstance(i, Page)]
    assert page.more == "has_more: true, next_page 'page_MjAy'"


def test_a_bucket_covering_part_of_its_day_carries_its_interval(tmp_path):
    edit = set_at("data", 0, "starting_at", "2025-08-01T14:23:00Z")
    lines = read(
        "anthropic-usage-report", broken_copy(EXPORTS / "usage_report.json", tmp_path, edit)
    )
    start = datetime.datetime(2025, 8, 1, 14, 23, tzinfo=datetime.UTC)
    end = datetime.datetime(2025, 8, 2, tzinfo=datetime.UTC)
    assert {line.covers for line in lines if line.day == AUG1} == {(start, end)}
    assert {line.covers for line in lines if line.day == AUG2} == {None}


@pytest.mark.parametrize(
    ("reported", "ours"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # snapshot of a listed alias
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),  # listed with its date
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet-20250219"),
        ("claude-3-haiku-20240307", "claude-3-haiku-20240307"),  # not listed: as reported
        ("claude-sonnet-4-6", "claude-sonnet-4-6"),
    ],
)
def test_dated_snapshots_of_listed_aliases_take_the_listed_name(reported, ours):
    assert model_name(reported) == ours


def test_sniff_tells_the_formats_apart():
    found = readers()
    files = sorted(EXPORTS.glob("*.json")) + sorted(OPENAI_EXPORTS.glob("*.json"))
    claims = {
        path.name: {n for n, r in found.items() if r.sniff(path.name, path.read_bytes()[:65536])}
        for path in files
    }
    assert claims["usage_report.json"] == {"anthropic-usage-report"}
    assert claims["cost_report.json"] == {"anthropic-cost-report"}
    openai = [path.name for path in files if path.parent == OPENAI_EXPORTS]
    assert openai, "the openai example exports are missing"
    for name in openai:
        assert claims[name] == set(), name


# -- malformed files ---------------------------------------------------------------------------


U = ("data", 1, "results", 1)

USAGE_BREAKAGES = [
    (drop_at(*U, "cache_read_input_tokens"), "data[1].results[1]", "cache_read_input_tokens"),
    (
        set_at(*U, "cache_creation", "ephemeral_5m_input_tokens", "0"),
        "data[1].results[1]",
        "cache_creation.ephemeral_5m_input_tokens",
    ),
    (drop_at(*U, "cache_creation"), "data[1].results[1]", "cache_creation"),
    (set_at(*U, "output_tokens", -1), "data[1].results[1]", "output_tokens"),
    (set_at(*U, "model", None), "data[1].results[1]", "model"),
    (set_at(*U, "workspace_id", 7), "data[1].results[1]", "workspace_id"),
    (set_at("data", 1, "starting_at", "2nd of August"), "data[1]", "starting_at"),
    (set_at("data", 1, "starting_at", "2025-08-02T00:00:00-07:00"), "data[1]", "starting_at"),
    (set_at("data", 1, "ending_at", "2025-08-04T00:00:00Z"), "data[1]", "ending_at"),
    (set_at("data", 1, "ending_at", "2025-08-01T00:00:00Z"), "data[1]", "ending_at"),
    (drop_at("data"), "top level", "data"),
]


@pytest.mark.parametrize(("mutate", "where", "column"), USAGE_BREAKAGES)
def test_malformed_usage_report_names_the_path_and_field(tmp_path, mutate, where, column):
    bad = broken_copy(EXPORTS / "usage_report.json", tmp_path, mutate)
    with pytest.raises(ExportError) as caught:
        read("anthropic-usage-report", bad)
    assert_export_error(caught.value, "usage_report.json", where, column)


C = ("data", 0, "results", 1)

COST_BREAKAGES = [
    (set_at(*C, "amount", 3.56352), "amount", "expected a string"),
    (set_at(*C, "amount", "$0.0356"), "amount", "not a decimal amount in cents"),
    (set_at(*C, "amount", "-3.5"), "amount", "not a decimal amount in cents"),
    (set_at(*C, "currency", "EUR"), "currency", "only USD"),
    (drop_at(*C, "currency"), "currency", "missing"),
    (set_at(*C, "cost_type", None), "cost_type", "group_by[]=description"),
    (set_at(*C, "model", None), "model", "without a model"),
]


@pytest.mark.parametrize(("mutate", "column", "problem"), COST_BREAKAGES)
def test_malformed_cost_report_names_the_path_and_field(tmp_path, mutate, column, problem):
    bad = broken_copy(EXPORTS / "cost_report.json", tmp_path, mutate)
    with pytest.raises(ExportError) as caught:
        read("anthropic-cost-report", bad)
    assert_export_error(caught.value, "cost_report.json", "data[0].results[1]", column, problem)


def test_nothing_is_read_from_a_file_broken_at_its_end(tmp_path):
    bad = broken_copy(
        EXPORTS / "cost_report.json", tmp_path, set_at("data", 1, "results", 1, "amount", None)
    )
    with pytest.raises(ExportError, match=r"data\[1\]\.results\[1\], column 'amount'"):
        next(iter(readers()["anthropic-cost-report"].read(bad)))


def test_a_file_that_is_not_json_names_the_line(tmp_path):
    bad = tmp_path / "usage_report.json"
    bad.write_text((EXPORTS / "usage_report.json").read_text()[:400])
    with pytest.raises(ExportError) as caught:
        read("anthropic-usage-report", bad)
    assert caught.value.where.startswith("line ")
    assert "not JSON" in caught.value.problem


def test_every_installed_reader_leaves_these_files_to_anthropic_and_nothing_imports_the_parser():
    """Through the plugin host ``voicegw reconcile`` uses, in a fresh interpreter: loading all
    plugins' readers does not import the parsing module, and of all of them only the right
    Anthropic reader claims each example file."""
    loaded, claims = installed_claims(EXPORTS, "voicegateway_anthropic.usage_export")
    assert loaded is False
    assert claims == {
        "cost_report.json": ["anthropic-cost-report"],
        "usage_report.json": ["anthropic-usage-report"],
    }


# -- end to end: records from real calls against the fake server, `voicegw reconcile` ------------

MODEL = "anthropic/claude-sonnet-4-20250514"
CHAT = [("system", "You take bookings."), ("user", "Is seven free?")]

# Anthropic's published Claude Sonnet 4 prices in cents per token: what the cost report bills
CENTS = {
    "uncached_input_tokens": Decimal("0.0003"),
    "cache_read_input_tokens": Decimal("0.00003"),
    "cache_creation.ephemeral_5m_input_tokens": Decimal("0.000375"),
    "output_tokens": Decimal("0.0015"),
}


def _anthropic_reports(
    folder: Path,
    day: datetime.date,
    billed: dict[str, int],
    *,
    cents: dict[str, Decimal] = CENTS,
    quiet: datetime.date | None = None,
) -> list[Path]:
    """The usage and cost reports Anthropic would give for ``billed`` (the fake server's units,
    keyed by cost-report token type) at ``cents`` per token; ``quiet`` is an earlier day in the
    period on which Anthropic billed nothing: its bucket has no results."""

    def bucket(on: datetime.date) -> dict[str, str]:
        return {
            "starting_at": f"{on.isoformat()}T00:00:00Z",
            "ending_at": f"{(on + datetime.timedelta(days=1)).isoformat()}T00:00:00Z",
        }

    usage = {
        "uncached_input_tokens": billed["uncached_input_tokens"],
        "cache_creation": {
            "ephemeral_1h_input_tokens": 0,
            "ephemeral_5m_input_tokens": billed["cache_creation.ephemeral_5m_input_tokens"],
        },
        "cache_read_input_tokens": billed["cache_read_input_tokens"],
        "output_tokens": billed["output_tokens"],
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": None,
        "workspace_id": VOICE,
        "model": "claude-sonnet-4-20250514",
        "service_tier": None,
        "context_window": None,
    }
    costs = [
        {
            "currency": "USD",
            "amount": str(count * cents[token_type]),
            "workspace_id": VOICE,
            "description": f"Claude Sonnet 4 Usage - {token_type}",
            "cost_type": "tokens",
            "context_window": "0-200k",
            "model": "claude-sonnet-4-20250514",
            "service_tier": "standard",
            "token_type": token_type,
        }
        for token_type, count in billed.items()
    ]
    paths = []
    for name, results in (("usage_report.json", [usage]), ("cost_report.json", costs)):
        path = folder / name
        buckets = [{**bucket(day), "results": results}]
        if quiet is not None:
            buckets.insert(0, {**bucket(quiet), "results": []})
        report = {"data": buckets, "has_more": False, "next_page": None}
        path.write_text(json.dumps(report, indent=2))
        paths.append(path)
    return paths


@pytest.mark.slow
def test_voicegw_reconcile_against_anthropic_reports(tmp_path, anthropic_server):
    anthropic_server.input_tokens = 30
    anthropic_server.cache_read_input_tokens = 5
    anthropic_server.cache_creation_input_tokens = 7
    anthropic_server.output_tokens = 4
    block = {"api_key": ANTHROPIC_KEY, "base_url": anthropic_server.url}
    config = ledger_config(tmp_path, "anthropic", block)
    record_llm_calls(config, MODEL, 5, CHAT)
    day = datetime.datetime.now(datetime.UTC).date()
    calls = len(anthropic_server.requests_for("/v1/messages"))
    assert calls == 5
    per_call = {
        "uncached_input_tokens": 30,
        "cache_read_input_tokens": 5,
        "cache_creation.ephemeral_5m_input_tokens": 7,
        "output_tokens": 4,
    }
    billed = {token_type: count * calls for token_type, count in per_call.items()}
    # two more calls recorded on the day before: only the missing-day reports' period holds it
    before = day - datetime.timedelta(days=1)
    record_llm_calls(config, MODEL, 2, CHAT, day=before)

    exact = tmp_path / "exact"
    exact.mkdir()
    [row] = reconcile_rows(config, *_anthropic_reports(exact, day, billed))
    assert (row["model"], row["day"], row["leg"], row["status"]) == (
        "claude-sonnet-4-20250514",
        day.isoformat(),
        "llm",
        "ok",
    )
    assert row["theirs"]["units"]["input_tokens"] == str(42 * calls)
    assert Decimal(row["theirs"]["cost_usd"]) == Decimal("0.00017775") * calls

    # Anthropic billed cache writes we did not record: a metering gap
    gap = tmp_path / "gap"
    gap.mkdir()
    more = {**billed, "cache_creation.ephemeral_5m_input_tokens": 12 * calls}
    [row] = reconcile_rows(config, *_anthropic_reports(gap, day, more), exit_code=1)
    assert (row["status"], row["cause"]) == ("flagged", "units")

    # Anthropic billed output at 0.00165 cents a token, not the 0.0015 we priced: 3.4 % more
    rate = tmp_path / "rate"
    rate.mkdir()
    proposal = tmp_path / "overrides.yaml"
    raised = {**CENTS, "output_tokens": Decimal("0.00165")}
    reports = _anthropic_reports(rate, day, billed, cents=raised)
    [row] = reconcile_rows(config, "--write-overrides", proposal, *reports, exit_code=1)
    assert (row["status"], row["cause"]) == ("flagged", "rate")
    assert row["ours"]["units"] == row["theirs"]["units"]
    assert Decimal(row["theirs"]["cost_usd"]) == Decimal("0.00018375") * calls
    # $0.00017775 and $0.00018375 over the 46 tokens (42 in, 4 out) of each call
    blended = "/1M tokens (input and output blended)"
    assert row["detail"].startswith(f"ours $3.86413{blended}, theirs $3.99457{blended}")
    assert "priced by catalog" in row["detail"], row["detail"]
    # every rate of the card scaled by 18375 / 17775, for a person to review
    assert "theirs/ours = 1.0337553" in proposal.read_text()
    assert "  anthropic/claude-sonnet-4-20250514: {" in proposal.read_text()

    # the reports' period holds the day before, on which Anthropic billed nothing
    missing = tmp_path / "missing"
    missing.mkdir()
    period = ("--since", str(before), "--until", str(day + datetime.timedelta(days=1)))
    reports = _anthropic_reports(missing, day, billed, quiet=before)
    ours = check_missing_day(reconcile_rows(config, *period, *reports, exit_code=1), before, day)
    assert ours["units"]["output_tokens"] == str(4 * 2)

    # a malformed usage report: exit 2, naming the file, the result and the field
    usage, costs = _anthropic_reports(tmp_path, day, billed)
    report = json.loads(usage.read_text())
    report["data"][0]["results"][0]["output_tokens"] = "20"
    usage.write_text(json.dumps(report))
    check_refused(
        config, [usage, costs], "usage_report.json: data[0].results[0], column 'output_tokens'"
    )
