"""The billing ledger's database: which one, and bringing its schema up to date.

``billing_db`` (an Airflow connection) in production, PostgreSQL; by default a SQLite file
under ``DMS_BILLING_DATA``. Migrations are Alembic revisions in ``ledger/migrations/``, applied
at the start of every run (a no-op when up to date), so a new release never meets an old
schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from include.dms_billing.outputs.atomic import FILE_MODE
from include.dms_billing.outputs.paths import data_root
from include.dms_billing.outputs.storage import StoragePath, is_local

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = "dms_billing_ledger_migration"
MIGRATION_LOCK_SECONDS = 300
DEFAULT_LEDGER_FILE = "ledger.sqlite"

if TYPE_CHECKING:
    from alembic.config import Config


def default_ledger_url(root: StoragePath | None = None) -> sa.URL:
    """The SQLite ledger beside the outputs, when they are on this host's disk.

    SQLite cannot live on an object store, and a ledger per host would number invoices twice: with
    outputs on an object store the ledger must be a database server (the ``billing_db`` connection).
    """
    root = root or data_root()
    if not is_local(root):
        raise ValueError(
            f"DMS_BILLING_DATA is an object store ({root}), so the ledger cannot be a SQLite file beside it: "
            "set the billing_db connection to a PostgreSQL or MySQL database (README, Scale out)"
        )
    return sa.URL.create("sqlite", database=str(root / DEFAULT_LEDGER_FILE))


def ledger_engine(url: str | sa.URL) -> sa.Engine:
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(url.database, os.O_CREAT | os.O_WRONLY, FILE_MODE))  # not world-readable
        # Wait for a concurrent writer instead of failing at once with "database is locked".
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url, pool_pre_ping=True)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config  # Alembic (0.4 s to import) only where migrations run

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the ledger's schema to ``revision`` (idempotent)."""
    from alembic import command

    with engine.begin() as connection, _migration_lock(connection):
        command.upgrade(alembic_config(connection), revision)


@contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    """One migration at a time. A backfill's months start at once, and on a new ledger each run
    would create the same tables: the losers failed (a unique violation on ``alembic_version``)
    and waited for their retry. The others wait here, then find the schema up to date."""
    dialect = connection.dialect.name
    if dialect == "postgresql":  # released with the transaction
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": MIGRATION_LOCK})
        yield
    elif dialect in ("mysql", "mariadb"):  # DDL commits at once there: a named lock of the session
        got = connection.execute(sa.text("SELECT GET_LOCK(:key, :seconds)"),
                                 {"key": MIGRATION_LOCK, "seconds": MIGRATION_LOCK_SECONDS}).scalar()
        if got != 1:
            raise TimeoutError(f"another run has migrated the ledger for {MIGRATION_LOCK_SECONDS} s")
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT RELEASE_LOCK(:key)"), {"key": MIGRATION_LOCK})
    else:  # SQLite: its write lock, from the first read of the version to the commit
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield
