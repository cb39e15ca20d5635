"""A ledger on each database it supports: a SQLite file, PostgreSQL and MariaDB.

The servers' ledgers are scratch databases (skipped without the server, except in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.ledger.db import ledger_engine, migrate
from tests.support.servers import MARIADB_URL, POSTGRES_URL, scratch_database


@pytest.fixture(params=[
    "sqlite",
    pytest.param(POSTGRES_URL, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param(MARIADB_URL, marks=pytest.mark.mariadb, id="mariadb"),
])
def new_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.URL]:
    """The URL of an empty database: no table, no schema version."""
    if request.param == "sqlite":
        yield sa.make_url(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        return
    with scratch_database(request.param) as url:
        yield url


@pytest.fixture
def engine(new_ledger: sa.URL) -> Iterator[sa.Engine]:
    """A migrated ledger."""
    engine = ledger_engine(new_ledger)
    migrate(engine)
    yield engine
    engine.dispose()
