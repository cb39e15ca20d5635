"""Writing a DMS source database: the contract's tables, and bulk loading into them.

Used by the demo generator and by test fixtures; the billing pipeline itself only reads the
DMS. Works on SQLite, PostgreSQL and MySQL/MariaDB. Rows are streamed in batches, so loading
tens of millions of logins needs memory for one batch only.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from itertools import islice
from typing import Any

import sqlalchemy as sa

from include.dms_billing.source.sql_files import load_sql

SCHEMA_FILE = "dms_source_schema.sql"

# The contract's tables and their columns, parents before children (the order to load them).
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "clients": (
        "id", "code", "name", "correspondence_email", "account_manager_email", "timezone", "created_at",
    ),
    "users": (
        "id", "client_id", "username", "full_name", "email", "phone", "role", "status", "created_at",
        "deleted_at",
    ),
    "user_status_changes": ("id", "user_id", "status", "changed_at", "changed_by"),
    "user_logins": ("id", "user_id", "logged_in_at", "channel"),
}


def schema_statements(ddl: str) -> list[str]:
    """The DDL's statements without comments: DBAPI drivers run one statement per call."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in ddl.splitlines())
    return [statement.strip() for statement in without_comments.split(";") if statement.strip()]


def create_source_schema(engine: sa.Engine, *, drop_existing: bool = True, indexes: bool = True) -> None:
    """Create the contract's tables (``include/sql/dms_source_schema.sql``), dropping old ones first.

    ``indexes=False`` leaves the indexes out: a bulk load is faster without them, and
    :func:`create_source_indexes` builds them afterwards in one pass.
    """
    with engine.begin() as conn:
        if drop_existing:
            for table in reversed(SOURCE_COLUMNS):  # children first, for the foreign keys
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        for statement in schema_statements(load_sql(SCHEMA_FILE)):
            if indexes or not _is_index(statement):
                conn.exec_driver_sql(statement)


def create_source_indexes(engine: sa.Engine) -> None:
    """The schema's ``CREATE INDEX`` statements, after a load made with ``indexes=False``."""
    with engine.begin() as conn:
        for statement in schema_statements(load_sql(SCHEMA_FILE)):
            if _is_index(statement):
                conn.exec_driver_sql(statement)
    if engine.dialect.name == "postgresql":
        # Planner statistics, and the visibility map that lets index-only scans skip the heap:
        # what autovacuum would give a live DMS database in time.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def _is_index(statement: str) -> bool:
    return statement.upper().startswith("CREATE INDEX")


def db_value(value: Any) -> Any:
    """A value as the DMS stores it; datetimes become UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]``.

    Text, because SQLite compares timestamps as text: microseconds are written only when
    non-zero so that a login at exactly midnight compares equal to ``'... 00:00:00'``.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    return value


def _batches(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while batch := [tuple(map(db_value, row)) for row in islice(iterator, size)]:
        yield batch


def _csv_line(row: tuple) -> str:
    """One COPY CSV line: NULL is an unquoted empty field, every value is quoted (so '' stays '')."""
    return ",".join("" if v is None else '"' + str(v).replace('"', '""') + '"' for v in row) + "\n"


def _copy_batch(conn: sa.Connection, table: str, columns: Sequence[str], batch: list[tuple]) -> None:
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
            io.StringIO("".join(map(_csv_line, batch))),
        )
    finally:
        cursor.close()


def bulk_load(
    engine: sa.Engine, table: str, columns: Sequence[str], rows: Iterable[tuple], *, batch_size: int = 50_000
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in one transaction; rows written.

    ``rows`` is consumed lazily, one batch at a time. PostgreSQL gets COPY (CSV), the others
    an executemany per batch (PyMySQL turns it into multi-row INSERTs). Datetimes must be
    UTC: naive ones are taken as UTC, aware ones are converted.
    """
    placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"
    written = 0
    with engine.begin() as conn:
        for batch in _batches(rows, batch_size):
            if engine.dialect.name == "postgresql":
                _copy_batch(conn, table, columns, batch)
            else:
                conn.exec_driver_sql(insert, batch)
            written += len(batch)
    return written
