"""Extraction: per-user facts for a batch of clients and their month, streamed from the DMS
into one Parquet file per client.

The database does the work (see ``include/sql/user_facts.sql``), in one query for the whole
batch (its clients share one month window); Python only streams the result, ordered by client,
in chunks to each client's Parquet file, so memory depends on the chunk size, not on the number
of clients, users or logins. From PostgreSQL the rows arrive as Arrow record batches (the ADBC
driver, PostgreSQL's binary protocol); from SQLite and MySQL/MariaDB as rows through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.core.columns import SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA, SNAPSHOT_TIMESTAMP_COLUMNS
from include.dms_billing.outputs.atomic import atomic_path
from include.dms_billing.outputs.storage import StoragePath
from include.dms_billing.source.connections import UTC_SESSION
from include.dms_billing.source.sql_files import dialect_sql

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


def window_params(dialect: str, window: BillingWindow) -> dict[str, object]:
    """The window's bound parameters; SQLite's also get its text prefilter. The clients are
    bound apart (:func:`batch_query`)."""
    params: dict[str, object] = {
        "period_end": db_timestamp(window.end),
        "login_start": db_timestamp(window.login_start),
    }
    if dialect == "sqlite":
        params["end_prefilter"] = _utc_date(window.end + PREFILTER_MARGIN)
        params["near_end"] = _utc_date(window.end - timedelta(days=1))
        params["start_prefilter"] = _utc_date(window.login_start - PREFILTER_MARGIN)
    return params


def batch_query(sql: str) -> sa.TextClause:
    """A query over a batch of clients: ``:client_ids`` expands to one bound value per client."""
    return sa.text(sql).bindparams(sa.bindparam("client_ids", expanding=True, type_=sa.Integer))


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
    engine: sa.Engine, client_ids: Sequence[int], window: BillingWindow, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """Yield the clients' user facts for ``window``, by client and user id, as Arrow tables of at
    most ``chunk_rows``: on PostgreSQL straight from the server into Arrow (ADBC), elsewhere as
    rows through SQLAlchemy."""
    params = {**window_params(engine.dialect.name, window), "client_ids": list(client_ids)}
    query = batch_query(dialect_sql("user_facts.sql", engine.dialect.name))
    if engine.dialect.name == "postgresql":
        yield from _stream_postgresql(engine, query, params)
        return
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query, params)
        for rows in result.partitions(chunk_rows):
            yield _chunk_to_arrow(rows)


def _stream_postgresql(engine: sa.Engine, query: sa.TextClause, params: dict[str, object]) -> Iterator[pa.Table]:
    """The query's rows as Arrow record batches from PostgreSQL's binary protocol (the ADBC
    driver), with no Python object per value; timestamps, stored as UTC wall time, typed as UTC.
    The session is in UTC, as ``dms_engine``'s are; a connection lost or refused is SQLAlchemy's
    ``OperationalError``, as on the other path, so the task retries it.

    The values are rendered into the statement by SQLAlchemy, typed (client ids as integers, our
    own timestamp text quoted by the dialect), so the SQL is the same file the other databases run.
    """
    import adbc_driver_postgresql.dbapi as adbc

    values = [sa.bindparam(name, value, type_=sa.String) for name, value in params.items() if name != "client_ids"]
    bound = query.bindparams(*values, client_ids=params["client_ids"])
    sql = str(bound.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    try:
        with adbc.connect(libpq_uri(engine.url)) as conn, conn.cursor() as cursor:
            cursor.execute(UTC_SESSION["postgresql"])
            cursor.execute(sql)
            for batch in cursor.fetch_record_batch():
                yield pa.Table.from_batches([batch]).cast(SNAPSHOT_SCHEMA)
    except (adbc.OperationalError, adbc.InterfaceError) as exc:
        raise sa.exc.OperationalError(sql, None, exc) from exc


def libpq_uri(url: sa.URL) -> str:
    """The URL as libpq reads it: ``postgresql://`` and every part percent-encoded (libpq does
    not read ``+`` as a space, which SQLAlchemy's own rendering of a query string writes)."""
    auth = ""
    if url.username is not None:
        auth = quote(url.username, safe="")
        if url.password is not None:
            auth += ":" + quote(str(url.password), safe="")
        auth += "@"
    host = url.host or ""
    port = f":{url.port}" if url.port else ""
    query = urlencode([(key, value) for key, values in url.query.items()
                       for value in (values if isinstance(values, tuple) else (values,))], quote_via=quote)
    return f"postgresql://{auth}{host}{port}/{quote(url.database or '', safe='')}" + (f"?{query}" if query else "")


def extract_batch(
    engine: sa.Engine, window: BillingWindow, targets: Mapping[int, StoragePath], chunk_rows: int = CHUNK_ROWS
) -> dict[int, int]:
    """Write each client's snapshot (``targets``: client id to file) atomically, from one query;
    return each client's number of users. A client without users gets an empty snapshot."""
    written = dict.fromkeys(targets, 0)
    current: int | None = None
    stack = ExitStack()
    writer: pq.ParquetWriter | None = None
    with stack:
        for table in stream_user_facts(engine, list(targets), window, chunk_rows):
            ids = table.column("client_id")
            for client_id in pc.unique(ids).to_pylist():  # in order: the query sorts by client
                if client_id != current:
                    stack.close()  # the previous client is complete: its file is put in place
                    tmp = stack.enter_context(atomic_path(targets[client_id]))
                    writer = stack.enter_context(pq.ParquetWriter(tmp, SNAPSHOT_SCHEMA))
                    current = client_id
                part = table.filter(pc.equal(ids, client_id))
                writer.write_table(part)
                written[client_id] += part.num_rows
    for client_id, count in written.items():
        if count == 0:
            with atomic_path(targets[client_id]) as tmp:
                pq.write_table(SNAPSHOT_SCHEMA.empty_table(), tmp)
    return written


def extract_user_facts(
    engine: sa.Engine, client_id: int, window: BillingWindow, target: StoragePath, chunk_rows: int = CHUNK_ROWS
) -> int:
    """Write one client's snapshot to ``target`` atomically; return the number of users."""
    return extract_batch(engine, window, {client_id: target}, chunk_rows)[client_id]
