"""A new ledger migrated by several runs at once: a backfill's months start together, and each
run's ``plan_run`` brings the ledger's schema up to date. Every one must succeed at once (a
failure costs the run its retry delay), on a SQLite file, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from include.dms_billing.ledger.db import MIGRATIONS, ledger_engine, migrate

RUNS = 4


def test_runs_migrating_a_new_ledger_at_once_all_succeed(new_ledger: sa.URL) -> None:
    barrier = threading.Barrier(RUNS)
    errors: list[BaseException] = []

    def run() -> None:
        engine = ledger_engine(new_ledger)  # a run's own engine, as in its own process
        try:
            barrier.wait(timeout=60)
            migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [], errors
    engine = ledger_engine(new_ledger)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert versions == [sorted(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("0*.py"))[-1]]
