"""The comparison: exact agreement, each cause, the tolerance edges, Decimal exactness."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

from voicegateway.reconcile.billed import UNITS, BilledUsage
from voicegateway.reconcile.compare import Key, Ours, Theirs, Tolerances, compare, number

D = Decimal
DAY = datetime.date(2026, 11, 2)
RATES = json.dumps({"input_audio_kseconds": "0.0077"})


def key(day: datetime.date = DAY, leg: str = "stt", model: str = "nova-3") -> Key:
    return Key("deepgram", model, day, leg)


def ours(cost: str = "0.00077", unpriced: int = 0, rates: str | None = RATES, **units) -> Ours:
    """Our totals as a ledger row gives them."""
    row = dict.fromkeys(UNITS, 0)
    row |= units or {"audio_seconds": D(100)}
    priced = D(cost) if cost is not None else None
    row |= {"cost_usd": priced, "requests": 3, "unpriced": unpriced}
    row |= {"price_sources": ["catalog"] if rates else ["unpriced"]}
    row |= {"price_details": ["voice-prices 0.11.0 deepgram/nova-3"], "price_rates": [rates]}
    totals = Ours()
    totals.add(row)
    return totals


def theirs(cost: str | None = "0.00077", leg: str = "stt", **units) -> Theirs:
    line = BilledUsage(
        "deepgram",
        "nova-3",
        DAY,
        leg,
        {u: D(v) for u, v in (units or {"audio_seconds": 100}).items()},
        D(cost) if cost is not None else None,
        source="export.csv:row 2",
    )
    totals = Theirs()
    totals.add(line)
    return totals


def one(ours_side, theirs_side, tolerances: Tolerances | None = None):
    [result] = compare(
        {key(): ours_side} if ours_side else {},
        {key(): theirs_side} if theirs_side else {},
        tolerances or Tolerances(),
    )
    return result


def test_exact_agreement_is_ok():
    result = one(ours(), theirs())
    assert (result.status, result.cause, result.detail) == ("ok", None, "")
    assert result.difference("audio_seconds") == 0 and result.difference("cost") == 0


def test_sums_are_exact_decimals():
    """Ten lines of 0.1 s and $0.00000077 are exactly 1 s and $0.0000077: with tolerance 0, a
    float sum (0.9999999999999999) would be flagged."""
    total = Theirs()
    for i in range(10):
        total.add(
            BilledUsage(
                "deepgram",
                "nova-3",
                DAY,
                "stt",
                {"audio_seconds": D("0.1")},
                D("0.00000077"),
                source=f"row {i}",
            )
        )
    assert total.units["audio_seconds"] == D(1) and total.cost == D("0.0000077")
    exact = Tolerances(units=D(0), cost=D(0))
    assert one(ours("0.0000077", audio_seconds=D("1.000000")), total, exact).status == "ok"
    off = one(ours("0.0000077", audio_seconds=D("1.000001")), total, exact)
    assert (off.status, off.cause) == ("flagged", "units")
    assert off.difference("audio_seconds") == D("0.000001")


def test_units_tolerance_edge_is_inclusive():
    assert one(ours(audio_seconds=D(101)), theirs()).status == "ok"  # exactly 1 %
    result = one(ours(audio_seconds=D("101.000001")), theirs())
    assert (result.status, result.cause) == ("flagged", "units")
    assert result.detail == "audio_seconds: ours 101.000001, theirs 100 (+1.00%)"
    assert one(ours(audio_seconds=D(99)), theirs()).status == "ok"
    assert one(ours(audio_seconds=D("98.99")), theirs()).status == "flagged"


def test_cost_tolerance_edge_and_absolute_floor():
    assert one(ours("0.0102"), theirs("0.01")).status == "ok"  # exactly 2 %
    assert one(ours("0.01020001"), theirs("0.01")).cause == "rate"
    cents = Tolerances(cost_absolute=D("0.005"))
    assert one(ours("0.00462"), theirs("0"), cents).status == "ok"  # rounded to the cent
    assert one(ours("0.00562"), theirs("0.00"), cents).cause == "rate"


def test_theirs_zero_only_agrees_with_zero():
    result = one(ours(audio_seconds=D("0.5")), theirs(audio_seconds=0, cost="0.00077"))
    assert result.cause == "units" and "theirs is 0" in result.detail


def test_only_the_units_the_export_gives_are_compared():
    """An export without cached tokens cannot contradict ours; one with them can."""
    mine = ours("0.0002", input_tokens=1200, cached_tokens=1000, output_tokens=9)
    given = theirs("0.0002", leg="llm", input_tokens=1200, output_tokens=9)
    [result] = compare({key(leg="llm"): mine}, {key(leg="llm"): given})
    assert result.status == "ok" and result.compared == ("input_tokens", "output_tokens")
    assert result.shown_units() == ["input_tokens", "cached_tokens", "output_tokens"]
    given = theirs("0.0002", leg="llm", input_tokens=1200, cached_tokens=900, output_tokens=9)
    [result] = compare({key(leg="llm"): mine}, {key(leg="llm"): given})
    assert result.cause == "units" and result.detail.startswith(
        "cached_tokens: ours 1000, theirs 900"
    )


def test_each_unit_is_compared_separately():
    """Input and output swapped keep the same total but are two gaps."""
    mine = ours("0.0002", input_tokens=1000, output_tokens=200)
    given = theirs("0.0002", leg="llm", input_tokens=200, output_tokens=1000)
    [result] = compare({key(leg="llm"): mine}, {key(leg="llm"): given})
    assert result.cause == "units"
    assert "input_tokens: ours 1000, theirs 200" in result.detail
    assert "output_tokens: ours 200, theirs 1000" in result.detail


def test_coverage_either_way():
    missing = one(ours(), None)
    assert (missing.status, missing.cause, missing.theirs) == ("flagged", "coverage", None)
    assert "no record of these calls" in missing.detail
    bypassed = one(None, theirs())
    assert (bypassed.cause, bypassed.ours) == ("coverage", None)
    assert "bypassed the gateway" in bypassed.detail
    assert bypassed.value("ours", "audio_seconds") == 0


def test_empty_totals_on_one_side_are_no_row():
    assert compare({key(): ours("0", audio_seconds=0)}, {}) == []
    assert compare({}, {key(): theirs("0", audio_seconds=0)}) == []


def test_rate_shows_both_rates_and_our_price_source():
    result = one(ours("0.0128333"), theirs("0.006"))  # 100 s: $0.0077/min vs $0.0036/min
    assert (result.status, result.cause) == ("flagged", "rate")
    assert result.detail.startswith("ours $0.00769998/min, theirs $0.0036/min; priced by catalog")
    assert "voice-prices 0.11.0 deepgram/nova-3" in result.detail
    assert RATES in result.detail


def test_unpriced_records_are_a_rate_difference():
    result = one(ours("0", unpriced=3, rates=None), theirs("0.006"))
    assert result.cause == "rate" and "3 of our 3 records are unpriced" in result.detail


def test_a_usage_only_export_compares_units_not_cost():
    assert one(ours("9"), theirs(None)).status == "ok"
    assert one(ours("9", audio_seconds=D(90)), theirs(None)).cause == "units"


def test_a_cost_only_export_says_units_were_not_compared():
    result = one(ours("0.0128333"), _cost_only())
    assert result.cause == "rate" and "gives no units" in result.detail


def _cost_only() -> Theirs:
    totals = Theirs()
    totals.add(BilledUsage("deepgram", "nova-3", DAY, "stt", {}, D("0.006")))
    return totals


def test_spend_on_the_neighbouring_day_is_timing():
    """Half of the 2nd's audio billed on the 3rd: both days flagged timing, not units."""
    next_day = DAY + datetime.timedelta(days=1)
    mine = {key(): ours("0.00077"), key(next_day): ours("0.00077")}
    billed = {
        key(): theirs("0.000385", audio_seconds=50),
        key(next_day): theirs("0.001155", audio_seconds=150),
    }
    results = compare(mine, billed)
    assert [(r.key.day, r.cause) for r in results] == [(DAY, "timing"), (next_day, "timing")]
    assert "offset on 2026-11-03" in results[0].detail
    assert "audio_seconds +50" in results[0].detail


def test_a_whole_day_moved_is_timing_not_coverage():
    next_day = DAY + datetime.timedelta(days=1)
    results = compare({key(): ours()}, {key(next_day): theirs()})
    assert [r.cause for r in results] == ["timing", "timing"]


def test_a_difference_that_does_not_cancel_is_not_timing():
    next_day = DAY + datetime.timedelta(days=1)
    mine = {key(): ours("0.00077"), key(next_day): ours("0.00077")}
    billed = {
        key(): theirs("0.000385", audio_seconds=50),
        key(next_day): theirs("0.00077", audio_seconds=120),  # +20, not +50
    }
    assert [r.cause for r in compare(mine, billed)] == ["units", "units"]


def test_a_neighbour_that_agrees_is_left_alone():
    """A small gap next to a big day that agrees is a units gap, even though moving it would
    keep the big day within tolerance."""
    next_day = DAY + datetime.timedelta(days=1)
    mine = {key(): ours(audio_seconds=D(10)), key(next_day): ours(audio_seconds=D(1000))}
    billed = {key(): theirs(audio_seconds=5), key(next_day): theirs(audio_seconds=1000)}
    assert [r.cause for r in compare(mine, billed)] == ["units", None]


def test_timing_needs_the_same_model_and_leg():
    next_day = DAY + datetime.timedelta(days=1)
    results = compare({key(): ours()}, {key(next_day, model="nova-2"): theirs()})
    assert [r.cause for r in results] == ["coverage", "coverage"]


def test_number_is_exact_text():
    assert number(D("0.000120")) == "0.00012"
    assert number(D("1E-12"), None) == "0.000000000001"
    assert number(D("123.4567891234567"), 6) == "123.457"
    assert number(None) == "-"
