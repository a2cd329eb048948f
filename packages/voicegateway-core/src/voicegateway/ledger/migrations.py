"""Upgrades of the ledger file, in place, from any older schema version to the current one.

Each step's SQL is frozen: once released it never changes, because files in the field were built
by it. A new database runs every step from the first, so a new file and an upgraded one are the
same by construction. The ``usage`` view is not part of any step: it is recreated from
:data:`.schema.USAGE_VIEW` after the steps, so it always matches the running code.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from voicegateway.errors import VoiceGatewayError
from voicegateway.ledger.schema import SCHEMA_VERSION, USAGE_VIEW, one_row


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "records in the shape of voicegateway 0.1.0 before pricing; ingested files; versions",
        (
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
        ),
    ),
    Migration(
        2,
        "measured audio seconds and the price each record was priced with",
        (
            "ALTER TABLE records ADD COLUMN audio_seconds_measured DOUBLE DEFAULT 0",
            "ALTER TABLE records ADD COLUMN cost_usd DECIMAL(18,12)",
            "ALTER TABLE records ADD COLUMN price_source VARCHAR",
            "ALTER TABLE records ADD COLUMN price_detail VARCHAR",
            "ALTER TABLE records ADD COLUMN price_rates VARCHAR",
        ),
    ),
    Migration(
        3,
        "why a refused call was refused",
        ("ALTER TABLE records ADD COLUMN reason VARCHAR",),
    ),
)


class SchemaError(VoiceGatewayError):
    """The file is not a ledger this version of VoiceGateway can use."""

    bad_input = False


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The file's schema version; 0 for an empty database."""
    try:  # the common case, without the catalog scan below (12 ms)
        (version,) = one_row(con.execute("SELECT coalesce(max(version), 0) FROM schema_version"))
        return int(version)
    except duckdb.CatalogException:
        pass
    tables = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    if tables:
        raise SchemaError(
            f"the database has tables ({', '.join(sorted(tables))}) but no schema_version: "
            "it is not a VoiceGateway ledger; point storage.path at another file"
        )
    return 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring the file to :data:`SCHEMA_VERSION` in one transaction; return the versions applied.

    Raises :class:`SchemaError` for a file written by a newer VoiceGateway (never downgraded)."""
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"the ledger has schema version {version}, newer than this VoiceGateway knows "
            f"({SCHEMA_VERSION}); upgrade voicegateway to read it"
        )
    pending = [m for m in MIGRATIONS if m.version > version]
    if not pending:
        return []
    con.execute("BEGIN")
    try:
        for migration in pending:
            for statement in migration.statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [migration.version])
        con.execute(USAGE_VIEW)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return [m.version for m in pending]
