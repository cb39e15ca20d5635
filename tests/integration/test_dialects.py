"""The same DMS data on SQLite, PostgreSQL and MariaDB gives the same billable lists; the ledger
works on PostgreSQL, migrations included. Skips without the servers (fails in CI)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from include.dms_billing.billing_month import BillingMonth, billing_window
from include.dms_billing.config import StatusMap
from include.dms_billing.connections import dms_engine
from include.dms_billing.demo_dms import generate
from include.dms_billing.extract import extract_user_facts, fetch_clients
from include.dms_billing.invoice import BillTo, build_invoice
from include.dms_billing.ledger import issue_invoice
from include.dms_billing.ledger_db import migrate
from include.dms_billing.ledger_schema import metadata
from include.dms_billing.rule import decide
from tests.samples import ISSUER
from tests.scenarios import Source, section2_cases
from tests.servers import MARIADB_URL, POSTGRES_URL, scratch_database

SCALE = {"seed": 11, "clients": 3, "users_per_client": 60, "logins_per_user_month": 5}
MONTHS = [BillingMonth(2023, 4), BillingMonth(2023, 6), BillingMonth(2023, 12)]


def _lists(url: str | sa.URL, folder: Path) -> dict[tuple[str, str], pd.DataFrame]:
    engine = sa.create_engine(url)
    try:
        lists = {}
        for client in fetch_clients(engine):
            for month in MONTHS:
                window = billing_window(month, client.timezone)
                target = folder / f"{client.client_code}-{month}.parquet"
                extract_user_facts(engine, client.client_id, window, target)
                billed = decide(pq.read_table(target), window, StatusMap(), client.client_code)
                lists[(client.client_code, str(month))] = billed
        return lists
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_lists(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite:///{folder / 'dms.sqlite'}"
    generate(url, **SCALE)
    return _lists(url, folder)


@pytest.mark.parametrize("server", [POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def test_a_server_gives_the_same_lists_as_sqlite(server: str, sqlite_lists: dict, tmp_path: Path) -> None:
    with scratch_database(server) as url:
        generate(url, **SCALE)
        lists = _lists(url, tmp_path)
    assert lists.keys() == sqlite_lists.keys()
    for key, billed in lists.items():
        pd.testing.assert_frame_equal(billed, sqlite_lists[key], check_dtype=False, obj=str(key))
    assert sum(len(b) for b in lists.values()) > 0


def test_the_ledger_on_postgresql() -> None:
    with scratch_database(POSTGRES_URL) as url:
        engine = sa.create_engine(url)
        try:
            migrate(engine)
            migrate(engine)  # idempotent
            with engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), metadata) == []

            def build(number: str, lines):
                return build_invoice(
                    invoice_number=number, issuer=ISSUER, bill_to=BillTo("MEGHNA", "Meghna", "b@m.example"),
                    billing_month="2023-05", invoice_date=date(2023, 6, 1), due_date=date(2023, 6, 16),
                    currency="BDT", billable_count=7, unit_price=Decimal("0.015"), vat_rate=Decimal("0.15"),
                    adjustments=lines)

            def issue():
                return issue_invoice(engine, client_code="MEGHNA", billing_month="2023-05", prefix="SKR",
                                     build=build, render=lambda i: ("<p/>", b"%PDF-"), run_id="r")

            first, again = issue(), issue()
            assert first.newly_issued and not again.newly_issued
            assert again.invoice.subscriptions_amount == Decimal("0.11") and again.invoice.total == Decimal("0.13")
        finally:
            engine.dispose()


# A session in another zone, per server: what a server or connection set to Dhaka time gives.
ZONED_SESSION = {"postgresql": {"options": "-c timezone=Asia/Dhaka"}, "mysql": {"init_command": "SET time_zone = '+06:00'"}}


@pytest.mark.parametrize("server", [POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def test_the_dms_engine_reads_in_utc_whatever_the_sessions_zone(server: str, tmp_path: Path) -> None:
    """Zone-aware columns (PostgreSQL timestamptz, MariaDB TIMESTAMP) read and compare as UTC
    through ``dms_engine``, even where the connection asks for Dhaka time; a plain engine does not."""
    window = billing_window(BillingMonth(2023, 5), "Asia/Dhaka")
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    section2_cases(src, 1, window)
    expected = {uid: reason for uid, reason in src.expected.items() if reason}
    with scratch_database(server) as url:
        loader = dms_engine(url)
        src.load(loader)
        if loader.dialect.name == "postgresql":
            with loader.begin() as conn:
                for table, column in (("users", "created_at"), ("users", "deleted_at"),
                                      ("user_status_changes", "changed_at"), ("user_logins", "logged_in_at")):
                    conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE timestamptz "
                                         f"USING {column} AT TIME ZONE 'UTC'")
        loader.dispose()
        zoned = url.update_query_dict(ZONED_SESSION[sa.make_url(server).get_backend_name()])
        billed = {}
        for name, engine in (("utc", dms_engine(zoned)), ("plain", sa.create_engine(zoned))):
            try:
                extract_user_facts(engine, 1, window, tmp_path / f"{name}.parquet")
                rows = decide(pq.read_table(tmp_path / f"{name}.parquet"), window, StatusMap(), "ONE")
                billed[name] = dict(zip(rows["user_id"], rows["billable_reason"]))
            finally:
                engine.dispose()
    assert billed["utc"] == expected
    assert billed["plain"] != expected  # the zone would have moved users across the month's bounds
