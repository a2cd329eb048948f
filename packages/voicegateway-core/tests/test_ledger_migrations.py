"""The ledger's schema: versioned, every record field a column of the ``usage`` view, and an
older file upgraded in place with its rows."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from voicegateway.ledger import Ledger
from voicegateway.ledger.migrations import MIGRATIONS, SchemaError, current_version, migrate
from voicegateway.ledger.schema import COLUMN_TYPES, SCHEMA_VERSION, USAGE_COLUMNS
from voicegateway.records import RECORD_FIELDS

ISSUE_COLUMNS = [
    "request_id", "ts", "project", "session_id", "job_id", "room", "modality", "provider", "model",
    "audio_seconds", "input_tokens", "cached_tokens", "output_tokens", "characters", "cost_usd",
    "price_source", "estimated", "status", "fallback_from", "ttfb_ms", "duration_ms",
]  # fmt: skip

V1_FILE = [  # frozen: what a version-1 ledger holds, written out here, not imported
    """CREATE TABLE records (
        call_id VARCHAR, modality VARCHAR NOT NULL, provider VARCHAR NOT NULL,
        model VARCHAR NOT NULL, project VARCHAR NOT NULL, request_id VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL, job_id VARCHAR, room VARCHAR, session_id VARCHAR,
        audio_seconds DOUBLE DEFAULT 0, input_tokens BIGINT DEFAULT 0,
        cached_tokens BIGINT DEFAULT 0, cache_creation_tokens BIGINT DEFAULT 0,
        output_tokens BIGINT DEFAULT 0, reasoning_tokens BIGINT DEFAULT 0,
        characters BIGINT DEFAULT 0, ttfb_ms DOUBLE, duration_ms DOUBLE, status VARCHAR,
        error_class VARCHAR, fallback_from VARCHAR, estimated BOOLEAN DEFAULT false,
        ingested_at TIMESTAMPTZ NOT NULL)""",
    "CREATE TABLE ingested_files (name VARCHAR PRIMARY KEY, ingested_at TIMESTAMPTZ)",
    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)",
    "INSERT INTO schema_version VALUES (1, now())",
    """CREATE VIEW usage AS SELECT request_id, ts, project, session_id, job_id, room, modality,
        provider, model, audio_seconds, input_tokens, cached_tokens, output_tokens, characters,
        status, fallback_from, ttfb_ms, duration_ms FROM records""",
    """INSERT INTO records (call_id, modality, provider, model, project, request_id, ts,
        audio_seconds, input_tokens, output_tokens, ttfb_ms, status, estimated, ingested_at)
        VALUES ('c1', 'llm', 'openai', 'gpt-4o-mini', 'app', 'r1',
                TIMESTAMPTZ '2026-10-01 12:00:00+00', 0, 120, 30, 210.5, 'ok', false, now()),
               ('c2', 'stt', 'deepgram', 'nova-3', 'app', 'r2',
                TIMESTAMPTZ '2026-10-01 12:00:01+00', 4.25, 0, 0, NULL, 'ok', true, now())""",
    "INSERT INTO ingested_files VALUES ('1-0-00000000.jsonl', now())",
]


def columns(con) -> list[tuple]:
    return con.execute(
        "SELECT table_name, column_name, data_type, column_default, is_nullable "
        "FROM information_schema.columns ORDER BY table_name, ordinal_position"
    ).fetchall()


def test_every_record_field_is_a_column_of_the_documented_view(tmp_path):
    assert tuple(COLUMN_TYPES) == RECORD_FIELDS  # a new field needs a column and a migration
    assert MIGRATIONS[-1].version == SCHEMA_VERSION
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    with Ledger(tmp_path / "u.duckdb").open() as con:
        view = [d[0] for d in con.execute("SELECT * FROM usage LIMIT 0").description]
        assert view == list(USAGE_COLUMNS)
        assert set(ISSUE_COLUMNS) <= set(view)
        types = {name: sql for name, sql, *_ in con.execute("DESCRIBE usage").fetchall()}
        assert types["ts"] == "TIMESTAMP WITH TIME ZONE"
        assert types["cost_usd"] == "DECIMAL(18,12)"
        assert current_version(con) == SCHEMA_VERSION


def test_a_version_1_file_is_upgraded_in_place_keeping_its_rows(tmp_path):
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as con:
        for statement in V1_FILE:
            con.execute(statement)
    with Ledger(old).open() as con:  # opening migrates
        assert current_version(con) == SCHEMA_VERSION
        got = con.execute(
            "SELECT request_id, input_tokens, audio_seconds, audio_seconds_measured, cost_usd, "
            "price_source, estimated, ttfb_ms FROM usage ORDER BY request_id"
        ).fetchall()
        assert got == [
            ("r1", 120, 0.0, 0.0, None, None, False, 210.5),
            ("r2", 0, 4.25, 0.0, None, None, True, None),
        ]
        assert con.execute("SELECT name FROM ingested_files").fetchall() == [
            ("1-0-00000000.jsonl",)
        ]
        upgraded = columns(con)
        con.execute(
            "INSERT INTO records (call_id, modality, provider, model, project, request_id, ts, "
            "cost_usd, ingested_at) VALUES ('c3', 'tts', 'cartesia', 'sonic', 'app', 'r3', "
            "now(), 0.000001, now())"
        )
        assert con.execute("SELECT sum(cost_usd) FROM usage").fetchone() == (Decimal("1E-6"),)
    with Ledger(tmp_path / "new.duckdb").open() as con:
        assert columns(con) == upgraded  # fresh and upgraded files are the same


def test_migrating_twice_does_nothing(tmp_path):
    with duckdb.connect(str(tmp_path / "u.duckdb")) as con:
        assert migrate(con) == [1, 2, 3]
        assert migrate(con) == []


def test_a_newer_or_foreign_file_is_refused_not_touched(tmp_path):
    newer = tmp_path / "newer.duckdb"
    with duckdb.connect(str(newer)) as con:
        migrate(con)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    with pytest.raises(SchemaError, match="upgrade voicegateway"), Ledger(newer).open():
        pass
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(SchemaError, match="not a VoiceGateway ledger"), Ledger(foreign).open():
        pass
