"""Extraction: per-user facts for one client and month, streamed from the DMS into Parquet.

The database does the work (see ``include/sql/user_facts.sql``); Python only streams the
result in chunks to a Parquet file, so memory depends on the chunk size, not on the number of
users or logins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.core.columns import SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA, SNAPSHOT_TIMESTAMP_COLUMNS
from include.dms_billing.core.jobs import SourceClient
from include.dms_billing.outputs.atomic import atomic_path
from include.dms_billing.outputs.storage import StoragePath
from include.dms_billing.source.sql_files import dialect_sql, load_sql

CHUNK_ROWS = 50_000
# SQLite's text prefilter reaches this far past each bound: an offset in a stored timestamp is
# under a day, and the text starts with the local date (include/sql/user_facts.sqlite.sql).
PREFILTER_MARGIN = timedelta(days=2)


def db_timestamp(moment: datetime) -> str:
    """An aware instant as the DMS stores it: UTC wall time, ``YYYY-MM-DD HH:MM:SS``.

    Bound as text so SQLite (which compares timestamps as text) gets exactly the stored
    format; PostgreSQL and MySQL cast the literal to their timestamp type.
    """
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _utc_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def window_params(dialect: str, client_id: int, window: BillingWindow) -> dict[str, object]:
    """The bound parameters of the per-client queries; SQLite's also get its text prefilter."""
    params: dict[str, object] = {
        "client_id": client_id,
        "period_end": db_timestamp(window.end),
        "login_start": db_timestamp(window.login_start),
    }
    if dialect == "sqlite":
        params["end_prefilter"] = _utc_date(window.end + PREFILTER_MARGIN)
        params["near_end"] = _utc_date(window.end - timedelta(days=1))
        params["start_prefilter"] = _utc_date(window.login_start - PREFILTER_MARGIN)
    return params


def fetch_clients(engine: sa.Engine) -> list[SourceClient]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(load_sql("clients.sql"))).mappings().all()
    return [SourceClient(**row) for row in rows]


def _chunk_to_arrow(rows: Sequence[sa.Row]) -> pa.Table:
    # Plain tuples: pandas probes each SQLAlchemy Row for attributes, slowly.
    frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=SNAPSHOT_COLUMNS)
    for column in SNAPSHOT_TIMESTAMP_COLUMNS:
        # SQLite returns text as stored (naive is UTC wall time; an offset names its instant), the
        # others datetimes. Text that is no instant becomes NaT: the timestamp audit fails the
        # client for it (source_checks.py), so it is never billed on.
        parsed = pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")
        frame[column] = parsed.dt.floor("us")  # the snapshot keeps microseconds, as the DMS does
    return pa.Table.from_pandas(frame, schema=SNAPSHOT_SCHEMA, preserve_index=False)


def stream_user_facts(
    engine: sa.Engine, client_id: int, window: BillingWindow, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """Yield the client's user facts for ``window`` as Arrow tables of at most ``chunk_rows``."""
    params = window_params(engine.dialect.name, client_id, window)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            sa.text(dialect_sql("user_facts.sql", engine.dialect.name)), params
        )
        for rows in result.partitions(chunk_rows):
            yield _chunk_to_arrow(rows)


def extract_user_facts(
    engine: sa.Engine, client_id: int, window: BillingWindow, target: StoragePath, chunk_rows: int = CHUNK_ROWS
) -> int:
    """Write the client's snapshot to ``target`` atomically; return the number of users."""
    written = 0
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, SNAPSHOT_SCHEMA) as writer:
        for table in stream_user_facts(engine, client_id, window, chunk_rows):
            writer.write_table(table)
            written += table.num_rows
    return written
