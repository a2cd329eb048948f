"""``voicegw reconcile`` says when it cannot tell, against OpenAI's usage and costs exports.

Records come from real streamed chats with ``inference.LLM("openai/gpt-4o-mini")`` against the
testkit's OpenAI server, metered, priced and spooled by the real chain, stamped with a chosen
day and time (``voicegateway_testkit.ledger_days``); the exports are written in the Usage and
Costs APIs' shapes from what the server billed. ``voicegw reconcile`` runs in a subprocess, as a
user runs it.

- pages: a page with ``has_more``/``next_page`` alone is flagged ``incomplete`` (exit 1); the
  following page given with it, in another file or the same one, completes it;
- the flat list of buckets OpenAI's Usage API cookbook saves is read;
- buckets that cover part of a day compare our records within ``[start, end)`` only;
- a costs file none of whose lines can be used exits 2, naming the first;
- ``input_cache_write_tokens`` is compared as cache-creation tokens, and JSON totals are exact.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from voicegateway import inference
from voicegateway_testkit.conformance import drive_llm, wait_ended
from voicegateway_testkit.exports import check_refused, reconcile_rows, run_reconcile
from voicegateway_testkit.ledger_days import record_days

MODEL = "openai/gpt-4o-mini"
NOON = datetime.time(12)
PROMPT, CACHED, OUTPUT = 120, 100, 9  # what the fake server bills each call
D1, D2, D3 = datetime.date(2025, 8, 4), datetime.date(2025, 8, 5), datetime.date(2025, 8, 6)
CALLS = {D1: 2, D2: 3}
# OpenAI's published gpt-4o-mini prices, per token
PRICES = {
    "input": Decimal("0.15e-6"),
    "cached input": Decimal("0.075e-6"),
    "output": Decimal("0.6e-6"),
}


def moment(day: datetime.date, at: datetime.time = datetime.time()) -> int:
    return int(datetime.datetime.combine(day, at, datetime.UTC).timestamp())


def usage(calls: int, **extra: int) -> dict:
    """One completions usage result for ``calls`` of the fake server's chats."""
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": PROMPT * calls,
        "output_tokens": OUTPUT * calls,
        "input_cached_tokens": CACHED * calls,
        "num_model_requests": calls,
        "project_id": None,
        "model": "gpt-4o-mini-2024-07-18",
        **extra,
    }


def bucket(day: datetime.date, results: list[dict], start=None, end=None) -> dict:
    start = moment(day) if start is None else start
    end = moment(day) + 86400 if end is None else end
    return {"object": "bucket", "start_time": start, "end_time": end, "results": results}


def page(buckets: list[dict], cursor: str | None = None) -> dict:
    return {"object": "page", "data": buckets, "has_more": cursor is not None, "next_page": cursor}


def write(path: Path, doc) -> Path:
    """The document as JSON, Decimals written as exact JSON numbers."""
    text = json.dumps(doc, default=lambda value: f"@@{value}@@")
    path.write_text(text.replace('"@@', "").replace('@@"', ""))
    return path


@pytest.fixture
def seed(tmp_path, openai_server, use_config, lk_http):
    """``await seed({(day, time): calls})``: that many streamed chats with ``inference.LLM``,
    through the real chain, their records stamped with ``day`` at ``time`` (UTC); returns the
    ledger's voicegw.yaml. The server bills each call PROMPT, CACHED and OUTPUT tokens."""
    openai_server.prompt_tokens, openai_server.cached_tokens = PROMPT, CACHED
    openai_server.completion_tokens = OUTPUT

    async def seed(plan: dict[tuple[datetime.date, datetime.time], int]) -> Path:
        gateway = use_config(f"""
            default_project: app
            providers:
              openai: {{api_key: sk-test, base_url: "{openai_server.url}/v1"}}
            storage: {{path: "{tmp_path / "usage.duckdb"}", flush_interval: 0.05}}
        """)
        clock = record_days(gateway, D1)
        brain = inference.LLM(MODEL)
        for (day, at), calls in plan.items():
            clock.day, clock.time = day, at
            for _ in range(calls):
                await drive_llm(brain, "book a table for two")
            await wait_ended(brain)  # every record stamped before the clock moves on
        assert len(openai_server.requests_for("/v1/chat/completions")) == sum(plan.values())
        gateway.spooler.flush()
        return tmp_path / "voicegw.yaml"

    return seed


@pytest.fixture
async def ledger(seed) -> Path:
    """A ledger holding CALLS[day] chats at noon of D1 and D2."""
    return await seed({(day, NOON): calls for day, calls in CALLS.items()})


def by_day(rows: list[dict]) -> dict[str, dict]:
    return {row["day"]: row for row in rows}


async def test_pages_are_joined_and_a_missing_page_is_incomplete(ledger, tmp_path):
    first = page([bucket(D1, [usage(CALLS[D1])])], cursor="page_AAAAAGiQbAAAAAAA")
    second = page([bucket(D2, [usage(CALLS[D2])])])
    one = write(tmp_path / "usage_page1.json", first)
    two = write(tmp_path / "usage_page2.json", second)

    # the first page alone: compared as far as it goes, and flagged incomplete
    rows = reconcile_rows(ledger, one, exit_code=1)
    assert [(r["day"], r["status"], r["cause"]) for r in rows] == [
        (str(D1), "ok", None),
        (str(D2), "flagged", "incomplete"),
    ]
    gap = rows[1]
    assert (gap["model"], gap["leg"], gap["theirs"]["sources"]) == (
        "*",
        "llm",
        ["usage_page1.json:top level"],
    )
    assert "has_more: true, next_page 'page_AAAAAGiQbAAAAAAA'" in gap["detail"]
    assert "2025-08-05T00:00:00+00:00" in gap["detail"]
    assert "following pages of usage_page1.json" in gap["detail"]
    table = run_reconcile(ledger, one)
    assert table.returncode == 1 and "incomplete" in table.stdout

    # both pages, as two files or as the list of pages in one file: complete
    for files in ([one, two], [write(tmp_path / "pages.json", [first, second])]):
        rows = reconcile_rows(ledger, *files)
        assert [(r["day"], r["status"]) for r in rows] == [(str(D1), "ok"), (str(D2), "ok")]

    # one file holding only the first page of two
    lone = write(tmp_path / "pages_lone.json", [first])
    [_, gap] = reconcile_rows(ledger, lone, exit_code=1)
    assert gap["cause"] == "incomplete" and gap["theirs"]["sources"] == ["pages_lone.json:[0]"]


async def test_the_cookbooks_flat_list_of_buckets_is_read(ledger, tmp_path):
    """The cookbook's ``get_data`` extends one list with every page's ``data`` and saves it."""
    flat = [bucket(D1, [usage(CALLS[D1])]), bucket(D2, [usage(CALLS[D2])])]
    rows = reconcile_rows(ledger, write(tmp_path / "all_data.json", flat))
    assert [(r["day"], r["status"]) for r in rows] == [(str(D1), "ok"), (str(D2), "ok")]
    assert rows[1]["theirs"]["sources"] == ["all_data.json:[1].results[0]"]
    assert rows[1]["theirs"]["units"]["input_tokens"] == str(PROMPT * CALLS[D2])


async def test_a_costs_file_with_no_usable_line_exits_2_naming_the_first(ledger, tmp_path):
    results = [
        {
            "object": "organization.costs.result",
            "amount": {"value": Decimal("0.000036"), "currency": "usd"},
            "line_item": item,
            "project_id": None,
        }
        for item in ("input_tokens", "output_tokens")
    ]
    costs = write(tmp_path / "costs.json", page([bucket(D1, results)]))
    check_refused(
        ledger, [costs], "costs.json: data[0].results[0], column 'line_item': 'input_tokens'"
    )
    done = run_reconcile(ledger, costs)
    assert "group_by=line_item" in done.stderr and "Traceback" not in done.stderr


async def test_cache_writes_are_compared_and_json_totals_are_exact(ledger, tmp_path):
    usage_file = write(tmp_path / "usage.json", page([bucket(D1, [usage(CALLS[D1])])]))
    calls = CALLS[D1]
    amounts = {
        "input": (PROMPT - CACHED) * calls * PRICES["input"],
        "cached input": CACHED * calls * PRICES["cached input"],
        # a hair more than the list price: more significant digits than any rounding keeps
        "output": OUTPUT * calls * PRICES["output"] + Decimal("1E-19"),
    }
    results = [
        {
            "object": "organization.costs.result",
            "amount": {"value": value, "currency": "usd"},
            "line_item": f"gpt-4o-mini-2024-07-18, {item}",
            "project_id": None,
        }
        for item, value in amounts.items()
    ]
    costs = write(tmp_path / "costs.json", page([bucket(D1, results)]))
    done = run_reconcile(ledger, "--format", "json", usage_file, costs)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    theirs = sum(amounts.values(), Decimal(0))
    assert report["totals"]["theirs_cost_usd"] == str(theirs)  # 0.0000318000000000001
    assert Decimal(report["totals"]["difference_usd"]) == Decimal("-1E-19")
    assert report["rows"][0]["difference"]["cost_usd"] == "-0.0000000000000000001"

    # OpenAI wrote 200 tokens to the cache; our records say none were
    written = write(
        tmp_path / "usage_writes.json",
        page([bucket(D1, [usage(calls, input_cache_write_tokens=200)])]),
    )
    [row] = reconcile_rows(ledger, written, exit_code=1)
    assert (row["status"], row["cause"]) == ("flagged", "units")
    assert row["detail"].startswith("cache_creation_tokens: ours 0, theirs 200")


async def test_buckets_covering_part_of_a_day_compare_that_interval(tmp_path, seed):
    """The cookbook asks from ``time.time() - 30 days``: its first bucket starts mid-day. Our
    records are compared within the bucket's ``[start, end)``, edges exact."""
    start, end = datetime.time(14, 23), datetime.time(20)
    stamps = {  # when calls were recorded on D3: how many
        datetime.time(14, 22, 59, 999000): 2,  # just before the bucket
        start: 3,  # its first instant
        datetime.time(19, 59, 59, 999000): 1,  # just before its end
        end: 2,  # its end: outside
    }
    config = await seed({(D3, at): calls for at, calls in stamps.items()})
    inside = 3 + 1
    partial = bucket(D3, [usage(inside)], moment(D3, start), moment(D3, end))
    [row] = reconcile_rows(config, write(tmp_path / "usage.json", [partial]))
    assert (row["day"], row["status"]) == (str(D3), "ok")
    assert row["ours"]["units"]["input_tokens"] == str(PROMPT * inside)
    assert row["ours"]["requests"] == inside

    # the same usage billed as the whole day: every call of the day is ours, and that is flagged
    whole = bucket(D3, [usage(inside)])
    [row] = reconcile_rows(config, write(tmp_path / "whole.json", [whole]), exit_code=1)
    assert row["ours"]["units"]["input_tokens"] == str(PROMPT * 8)
    assert row["cause"] == "units"
