"""The generic export format: CSV and JSON, the column mapping, and errors naming the file, row
and column."""

from __future__ import annotations

import datetime
import json
import textwrap
from decimal import Decimal

import pytest

from voicegateway.reconcile.billed import ExportError
from voicegateway.reconcile.generic import generic_reader, parse_mapping

CSV = textwrap.dedent("""\
    provider,model,day,leg,audio_seconds,input_tokens,cached_tokens,output_tokens,cost_usd,account
    deepgram,nova-3,2026-11-02,stt,120.5,,,,0.01446,proj-a
    openai,gpt-4o-mini,2026-11-02,LLM,,1200,1000,9,0.0001155,
""")


def read(tmp_path, text: str, name: str = "usage.csv", **options):
    path = tmp_path / name
    path.write_text(text)
    reader = generic_reader(**options)
    return reader, list(reader.read(path))


def test_csv_with_the_default_columns(tmp_path):
    reader, (heard, chat) = read(tmp_path, CSV)
    assert reader.sniff("usage.csv", CSV.encode())
    assert (heard.provider, heard.model, heard.day, heard.leg) == (
        "deepgram",
        "nova-3",
        datetime.date(2026, 11, 2),
        "stt",
    )
    assert heard.units == {"audio_seconds": Decimal("120.5")}  # empty cells: not given
    assert heard.cost_usd == Decimal("0.01446") and heard.account == "proj-a"
    assert heard.source == "usage.csv:row 2"
    assert chat.leg == "llm" and chat.account is None
    assert chat.units == {"input_tokens": 1200, "cached_tokens": 1000, "output_tokens": 9}
    assert chat.cost_usd == Decimal("0.0001155")


def test_json_keeps_every_digit(tmp_path):
    lines = [
        {"provider": "openai", "model": "gpt-4o-mini", "day": "2026-11-02", "leg": "llm"}
        | {"input_tokens": 1200, "cost_usd": 0.1 + 0.2}  # a float's full text
    ]
    text = json.dumps(lines)
    reader, [line] = read(tmp_path, text, "usage.json")
    assert reader.sniff("usage.json", text.encode())
    assert line.cost_usd == Decimal("0.30000000000000004")
    _, [exact] = read(tmp_path, text.replace("0.30000000000000004", "0.3"), "usage.json")
    assert exact.cost_usd == Decimal("0.3") and exact.source == "usage.json:[0]"


def test_columns_can_be_mapped(tmp_path):
    text = "vendor,sku,date,type,seconds,usd\ndeepgram,nova-3,2026-11-02,stt,60,0.0077\n"
    mapping = parse_mapping(["vendor=provider", "sku=model", "date=day", "type=leg"])
    mapping |= parse_mapping(["seconds=audio_seconds", "usd=cost_usd"])
    reader, [line] = read(tmp_path, text, mapping=mapping)
    assert reader.sniff("x.csv", text.encode())
    assert not generic_reader().sniff("x.csv", text.encode())
    assert line.units == {"audio_seconds": 60} and line.cost_usd == Decimal("0.0077")


def test_sniff_wants_the_required_columns():
    reader = generic_reader()
    assert not reader.sniff("x.csv", b"provider,model,day,cost_usd\n")
    assert not reader.sniff("x.json", b'[{"provider": "a", "model": "b", "day": "c"}]')
    assert reader.sniff("x.csv", b"\xef\xbb\xbfprovider,model,day,leg\n")  # Excel's BOM


@pytest.mark.parametrize(
    ("text", "where", "column", "problem"),
    [
        (CSV.replace("120.5", "12O.5"), "row 2", "audio_seconds", "is not a number"),
        (CSV.replace("0.0001155", "-1"), "row 3", "cost_usd", "is not a number of at least 0"),
        (CSV.replace("2026-11-02,LLM", "2026-11-31,llm"), "row 3", "day", "is not a day"),
        (CSV.replace("LLM", "vision"), "row 3", "leg", "is not one of stt, llm, tts"),
        (CSV.replace("openai,", ","), "row 3", "provider", "empty"),
        (CSV.replace(",proj-a", ",proj-a,extra"), "row 2", None, "11 cells"),
        ("provider,model,leg\nx,y,stt\n", "row 1", "day", "the header has no column 'day'"),
    ],
)
def test_malformed_csv_names_row_and_column(tmp_path, text, where, column, problem):
    with pytest.raises(ExportError) as caught:
        read(tmp_path, text)
    error = caught.value
    assert (error.file, error.where, error.column) == ("usage.csv", where, column)
    assert problem in error.problem
    assert str(error).startswith(f"usage.csv: {where}")


@pytest.mark.parametrize(
    ("text", "where", "column"),
    [
        ('[{"provider": "a", "model": "m", "day": "2026-11-02", "leg": "stt"}, 3]', "[1]", None),
        ('{"provider": "a"}', "top level", None),
        (
            '[{"provider": "a", "model": "m", "day": "2026-11-02", "leg": "tts", '
            '"characters": true}]',
            "[0]",
            "characters",
        ),
        ('[{"provider": "a", "model": "m"', "line 1", None),
    ],
)
def test_malformed_json_names_the_item(tmp_path, text, where, column):
    with pytest.raises(ExportError) as caught:
        read(tmp_path, text, "usage.json")
    assert (caught.value.where, caught.value.column) == (where, column)


def test_mapping_errors():
    with pytest.raises(ValueError, match="expected THEIR_COLUMN=FIELD"):
        parse_mapping(["seconds=audio_secs"])
    with pytest.raises(ValueError, match="mapped twice"):
        parse_mapping(["a=model", "b=model"])
