"""From files to the two sides: picking a reader, holding readers to the contract, what the
files cover, merging formats without counting twice, and the proposed pricing overrides."""

from __future__ import annotations

import dataclasses
import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from voicegateway.config.schema import Config
from voicegateway.pricing import rates_for
from voicegateway.reconcile import overrides
from voicegateway.reconcile.billed import ALL_MODELS, UNITS, BilledUsage, Page, UsageReader
from voicegateway.reconcile.compare import Key, Ours, Theirs, compare
from voicegateway.reconcile.generic import generic_reader
from voicegateway.reconcile.run import (
    BadInput,
    Export,
    incomplete,
    ours_by_key,
    pick_reader,
    read_exports,
    scopes,
    theirs_by_key,
)

D = Decimal
NOV = [datetime.date(2026, 11, d) for d in range(1, 31)]


def reader(name: str, marker: bytes, lines=(), *, provider="acme", zone="UTC", legs=None):
    return UsageReader(
        provider=provider,
        name=name,
        description=name,
        timezone=zone,
        sniff=lambda file, head: head.startswith(marker),
        read=lambda path: iter(lines),
        legs=legs,
    )


def line(day=NOV[1], leg="tts", cost="1", account=None, model="voice-1", **units) -> BilledUsage:
    units = units or {"characters": D(1000)}
    cost_usd = D(cost) if cost is not None else None
    return BilledUsage("acme", model, day, leg, units, cost_usd, account, source=f"f:{day}")


def test_a_file_is_read_by_the_one_reader_that_claims_it(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"ACME usage\nprovider,model,day,leg\n")
    acme, other = reader("acme-csv", b"ACME"), reader("other", b"OTHER")
    assert pick_reader(path, [acme, other], generic_reader()) is acme
    path.write_bytes(b"provider,model,day,leg\n")  # only the generic one claims it
    assert pick_reader(path, [acme, other], generic_reader()).name == "generic"
    path.write_bytes(b"nothing we know")
    with pytest.raises(BadInput, match=r"no reader recognises .*; known formats: acme-csv, other"):
        pick_reader(path, [acme, other], generic_reader())
    path.write_bytes(b"ACME")
    with pytest.raises(BadInput, match=r"several readers recognise it \(acme-csv, again\)"):
        pick_reader(path, [acme, reader("again", b"AC")], generic_reader())
    with pytest.raises(BadInput, match="No such file"):
        pick_reader(tmp_path / "missing.csv", [acme], generic_reader())


def test_a_sniff_that_raises_does_not_claim(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"ACME")
    broken = UsageReader("acme", "broken", "", "UTC", sniff=lambda n, h: 1 / 0, read=iter)
    assert pick_reader(path, [broken, reader("acme-csv", b"ACME")], generic_reader()).name == (
        "acme-csv"
    )


def test_readers_are_held_to_the_contract(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"")

    def exports(*lines):
        return read_exports([path], lambda p: reader("acme-csv", b"", lines))

    assert exports(line())[0].lines == [line()]
    floaty = BilledUsage("acme", "m", NOV[0], "tts", {"characters": 1.5})
    with pytest.raises(BadInput, match="amounts are Decimal"):
        exports(floaty)
    with pytest.raises(BadInput, match="a line for 'other'"):
        exports(BilledUsage("other", "m", NOV[0], "tts"))
    with pytest.raises(BadInput, match="produced dict, not BilledUsage"):
        exports({"provider": "acme"})

    def crash(path: Path):
        raise KeyError("usage")

    broken = UsageReader("acme", "crashy", "", "UTC", sniff=bool, read=crash)
    with pytest.raises(BadInput, match="the crashy reader failed: KeyError"):
        read_exports([path], lambda p: broken)


def test_each_line_and_page_read_is_counted_as_it_is_read(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("provider,model,day,leg\n" + "acme,m,2026-11-02,llm\n" * 1200)
    seen = []
    [read] = read_exports([path], lambda p: generic_reader(), lambda: seen.append(1))
    assert len(read.lines) == len(seen) == 1200
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    page = Page("usage.json:[0]", start, start + datetime.timedelta(days=1), None)
    items = [line(), page, line()]
    read_exports([path], lambda p: reader("acme-csv", b"", items), lambda: seen.append(1))
    assert len(seen) == 1203


def export(lines, name="acme-csv", path="a.csv", **options) -> Export:
    return Export(Path(path), reader(name, b"", **options), list(lines))


def test_the_period_is_the_files_and_legs_are_those_billed():
    found = scopes([export([line(NOV[3], "tts"), line(NOV[9], "llm", input_tokens=D(5))])])
    [scope] = found.values()
    assert (scope.first, scope.last, scope.legs) == (NOV[3], NOV[9], {"tts", "llm"})
    assert not scope.per_project
    declared = scopes([export([line()], legs=("stt", "tts"))])["acme"]
    assert declared.legs == {"stt", "tts"}
    window = scopes([export([line()])], since=NOV[0], until=NOV[10])["acme"]
    assert (window.first, window.last) == (NOV[0], NOV[9])


def test_one_provider_in_two_time_zones_is_refused():
    two = [export([line()], "a"), export([line()], "b", zone="America/New_York")]
    with pytest.raises(BadInput, match=r"two time zones \(UTC, America/New_York\)"):
        scopes(two)


def test_accounts_are_mapped_to_projects():
    lines = [line(account="key-1", cost="1"), line(account="key-2", cost="2")]
    mapping = {"key-1": "app", "key-2": "app"}
    found = scopes([export(lines)], account_map=mapping)
    assert found["acme"].per_project
    [(key, totals)] = theirs_by_key([export(lines)], found, mapping).items()
    assert key.project == "app" and totals.cost == 3
    with pytest.raises(BadInput, match=r"account 'key-2' .* is not in --account-map"):
        theirs_by_key([export(lines)], found, {"key-1": "app"})
    mixed = [line(account="key-1"), line(NOV[2])]
    with pytest.raises(BadInput, match="some acme lines name an account"):
        scopes([export(mixed)], account_map=mapping)
    assert not scopes([export([line()])], account_map=mapping)["acme"].per_project


def test_lines_of_one_format_are_summed_and_two_files_may_not_overlap():
    lines = [line(cost="1"), line(cost="2", characters=D(500))]
    found = scopes([export(lines)])
    [totals] = theirs_by_key([export(lines)], found).values()
    assert (totals.units, totals.cost) == ({"characters": 1500}, 3)
    twice = [export(lines, path="oct.csv"), export(lines, path="oct-again.csv")]
    with pytest.raises(BadInput, match=r"oct\.csv and oct-again\.csv both bill acme/voice-1 tts"):
        theirs_by_key(twice, scopes(twice))


def test_a_usage_report_and_a_cost_report_complete_each_other():
    usage = export([line(cost=None)], "acme-usage", "usage.json")
    cost = export([BilledUsage("acme", "voice-1", NOV[1], "tts", {}, D("4.2"))], "acme-cost")
    both = [usage, cost]
    [totals] = theirs_by_key(both, scopes(both)).values()
    assert (totals.units, totals.cost) == ({"characters": 1000}, D("4.2"))
    disagree = [usage, export([line(characters=D(999))], "acme-cost")]
    with pytest.raises(BadInput, match="acme-usage and acme-cost give different characters"):
        theirs_by_key(disagree, scopes(disagree))


def test_an_export_without_models_is_compared_with_every_model_of_the_leg():
    """Cartesia's credits name no model: the day's records of every model are summed."""
    bill = export([line(model=ALL_MODELS, cost=None, characters=D(1500))])
    found = scopes([bill])
    assert found["acme"].all_models == {"tts"}
    row = dict.fromkeys(UNITS, 0) | {"provider": "acme", "day": NOV[1], "project": "app"}
    row |= {"cost_usd": D(0), "requests": 1, "unpriced": 0}
    row |= {"price_sources": [], "price_details": [], "price_rates": []}
    rows = [
        row | {"model": "voice-1", "modality": "tts", "characters": 1000},
        row | {"model": "voice-2", "modality": "tts", "characters": 500},
    ]
    [(key, ours)] = ours_by_key(rows, found["acme"]).items()
    assert key == Key("acme", ALL_MODELS, NOV[1], "tts") and ours.units["characters"] == 1500
    [result] = compare({key: ours}, theirs_by_key([bill], found))
    assert (result.status, result.compared) == ("ok", ("characters",))


def test_a_day_billed_nothing_is_compared_and_flags_our_calls_that_day():
    from voicegateway.reconcile.billed import nothing_billed

    bill = export([line(NOV[1]), nothing_billed("acme", NOV[2], "tts", "f:empty bucket")])
    found = scopes([bill])
    assert (found["acme"].last, found["acme"].all_models) == (NOV[2], set())
    row = dict.fromkeys(UNITS, 0) | {"provider": "acme", "project": "app", "modality": "tts"}
    row |= {"model": "voice-1", "cost_usd": D(1), "requests": 1, "unpriced": 0}
    row |= {"price_sources": [], "price_details": [], "price_rates": []}
    ours = ours_by_key(
        [row | {"day": NOV[1], "characters": 1000}, row | {"day": NOV[2]}], found["acme"]
    )
    results = {r.key.day: r for r in compare(ours, theirs_by_key([bill], found))}
    assert results[NOV[1]].status == "ok"
    assert (results[NOV[2]].status, results[NOV[2]].cause) == ("flagged", "coverage")


# -- proposed overrides --------------------------------------------------------------------------


def rate_rows(rates: dict | None, ours_cost: str, theirs_cost: str, leg="stt", **units):
    """A ``rate`` result for a model priced with ``rates``."""
    mine = Ours()
    mine.add(
        dict.fromkeys(UNITS, 0)
        | units
        | {"cost_usd": D(ours_cost), "requests": 2, "unpriced": 0 if rates else 2}
        | {"price_sources": ["catalog"], "price_details": ["voice-prices"]}
        | {"price_rates": [json.dumps(rates)] if rates else [None]}
    )
    billed = Theirs()
    given = {u: D(v) for u, v in units.items()}
    billed.add(BilledUsage("acme", "m-1", NOV[1], leg, given, D(theirs_cost), source="x.csv:row 2"))
    key = Key("acme", "m-1", NOV[1], leg)
    [result] = compare({key: mine}, {key: billed})
    assert result.cause == "rate"
    return [result]


def proposed(rows) -> dict:
    text = overrides.proposals(rows, ["x.csv"])
    return yaml.safe_load(text)["pricing"], text


def test_a_single_rate_becomes_their_cost_per_unit():
    rows = rate_rows({"audio_minute": "0.0077"}, "0.0154", "0.0072", audio_seconds=120)
    pricing, text = proposed(rows)
    assert pricing == {"acme/m-1": {"audio_minute": 0.0036}}
    assert "# acme/m-1 (stt): was audio_minute 0.0077; their cost per audio_minute: 0.0036" in text
    assert "#   2026-11-02: ours $0.0154, theirs $0.0072 (x.csv:row 2)" in text
    config = Config.model_validate({"pricing": pricing})
    rates = rates_for("acme", "m-1", "stt", catalog=None, overrides=config.pricing)
    assert rates.cost({"audio_seconds": 120}) == D("0.0072")


def test_several_rates_are_scaled_together():
    card = {"input_mtok": "0.15", "cache_read_mtok": "0.075", "output_mtok": "0.6"}
    units = {"input_tokens": 1_200_000, "cached_tokens": 1_000_000, "output_tokens": 100_000}
    rows = rate_rows(card, "0.165", "0.198", leg="llm", **units)  # 20 % more
    pricing, text = proposed(rows)
    assert pricing == {
        "acme/m-1": {"input_mtok": 0.18, "cache_read_mtok": 0.09, "output_mtok": 0.72}
    }
    assert "every rate scaled by theirs/ours = 1.2" in text


def test_unpriced_speech_gets_a_rate_and_an_unpriced_llm_does_not():
    rows = rate_rows(None, "0", "0.006", audio_seconds=100)
    assert proposed(rows)[0] == {"acme/m-1": {"audio_minute": 0.0036}}
    rows = rate_rows(None, "0", "0.006", leg="llm", input_tokens=1000)
    text = overrides.proposals(rows, ["x.csv"])
    assert "no entry: our records are unpriced" in text
    assert "acme/m-1:" not in text
    assert "nothing to propose" in overrides.proposals([], ["x.csv"])


def _at(day: datetime.date, hour: int = 0) -> datetime.datetime:
    midnight = datetime.datetime.combine(day, datetime.time(), datetime.UTC)
    return midnight + datetime.timedelta(hours=hour)


def test_pages_are_joined_across_files_and_a_lone_page_with_more_is_incomplete(tmp_path):
    first = Page("p1.json:top level", _at(NOV[1]), _at(NOV[2]), "has_more: true")
    last = Page("p2.json:top level", _at(NOV[2]), _at(NOV[3]), None)
    one, two = tmp_path / "p1.json", tmp_path / "p2.json"
    one.write_text("A"), two.write_text("A")
    parts = {one: [line(NOV[1]), first], two: [line(NOV[2]), last]}
    acme = UsageReader("acme", "acme-api", "", "UTC", lambda *_: True, lambda p: iter(parts[p]))
    both = read_exports([one, two], lambda path: acme)
    assert [e.pages for e in both] == [[first], [last]]
    assert incomplete(both) == []
    [gap] = incomplete(read_exports([one], lambda path: acme))
    assert (gap.key, gap.status, gap.cause) == (
        Key("acme", ALL_MODELS, NOV[2], "tts"),
        "flagged",
        "incomplete",
    )
    assert gap.theirs.sources == ["p1.json:top level"] and "has_more: true" in gap.detail


def test_parts_of_a_day_are_joined_and_formats_must_cover_a_day_alike():
    def part(start, end, **kw):
        return dataclasses.replace(
            line(NOV[1], **kw), covers=(_at(NOV[1], start), _at(NOV[1], end))
        )

    usage = Export(Path("u.json"), reader("acme-usage", b"U"), [part(14, 18), part(18, 20)])
    [scope] = scopes([usage]).values()
    assert scope.partial == {(NOV[1], "tts"): ((_at(NOV[1], 14), _at(NOV[1], 20)),)}
    hourly = [part(h, h + 1) for h in range(24)]
    [scope] = scopes([Export(Path("h.json"), reader("acme-usage", b"U"), hourly)]).values()
    assert scope.partial == {}  # 24 hours make the whole day
    whole = Export(Path("c.json"), reader("acme-cost", b"C"), [line(NOV[1])])
    with pytest.raises(BadInput, match="the formats cover different parts of the day"):
        scopes([usage, whole])
