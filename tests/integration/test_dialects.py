"""The same DMS data on SQLite, PostgreSQL and MariaDB gives the same billable lists; the ledger
works on PostgreSQL, migrations included. Skips without the servers (fails in CI)."""

from __future__ import annotations

from datetime import date, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import StatusMap
from include.dms_billing.core.invoice import BillTo, build_invoice
from include.dms_billing.core.rule import decide
from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.demo.source_db import create_source_schema
from include.dms_billing.ledger.db import migrate
from include.dms_billing.ledger.invoices import issue_invoice
from include.dms_billing.ledger.schema import metadata
from include.dms_billing.source.clients import fetch_clients
from include.dms_billing.source.connections import dms_engine
from include.dms_billing.source.extraction import extract_user_facts
from include.dms_billing.source.source_checks import (
    CREATED_AFTER,
    LOGGED_IN_BEFORE_CREATED,
    MISSING_CREATED,
    check_source,
)
from tests.support.samples import ISSUER
from tests.support.scenarios import Source, section2_cases
from tests.support.servers import MARIADB_URL, POSTGRES_URL, scratch_database

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
    if sa.make_url(server).get_backend_name() == "postgresql":
        assert billed["plain"] == expected  # extraction reads PostgreSQL (ADBC) in a UTC session of its own
    else:
        assert billed["plain"] != expected  # the zone would have moved users across the month's bounds


NULLABLE_CREATED = {"postgresql": "ALTER TABLE users ALTER COLUMN created_at DROP NOT NULL",
                    "mysql": "ALTER TABLE users MODIFY created_at TIMESTAMP NULL"}


@pytest.mark.parametrize("server", [POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def test_reconciliation_on_a_server_names_users_left_out_for_no_reason_of_the_contract(server: str, tmp_path: Path) -> None:
    window = billing_window(BillingMonth(2023, 5), "Asia/Dhaka")
    old, after, mid = window.start - timedelta(days=60), window.end + timedelta(days=3), window.start + timedelta(days=9)
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    src.user(1, "active", old, history=[("active", old)])
    missing = src.user(1, "active", old, history=[("active", old)], logins=[mid])
    src.users[missing - 1]["created_at"] = None
    late_login = src.user(1, "inactive", after, logins=[mid])
    later = src.user(1, "active", after, history=[("active", after)])
    with scratch_database(server) as url:
        engine = dms_engine(url)
        try:
            create_source_schema(engine)
            with engine.begin() as conn:
                conn.exec_driver_sql(NULLABLE_CREATED[engine.dialect.name])
            src.load(engine, create_schema=False)
            rows = extract_user_facts(engine, 1, window, tmp_path / "facts.parquet")
            checks = check_source(engine, 1, window, rows)
        finally:
            engine.dispose()
    assert (checks.source_users, checks.snapshot_users) == (4, 1)
    assert {reason: [u["user_id"] for u in users] for reason, users in checks.left_out.items()} == {
        MISSING_CREATED: [missing], LOGGED_IN_BEFORE_CREATED: [late_login], CREATED_AFTER: [later]}
    described = [failure.describe() for failure in checks.failures()]
    assert described == [
        f"user left out: {MISSING_CREATED} on users.created_at: 1 row(s), e.g. user {missing}: NULL",
        f"user left out: {LOGGED_IN_BEFORE_CREATED} on users.created_at: 1 row(s), e.g. user {late_login}: "
        f"'{after.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=' ')}'",
    ]


def test_a_zero_date_on_mariadb_in_non_strict_mode_fails_the_client_naming_the_row(tmp_path: Path, data_root) -> None:
    """A server without NO_ZERO_DATE stores '0000-00-00 00:00:00' where a date was refused; it is
    no instant (the driver hands it over as text), so it must not read as "not deleted"."""
    from include.dms_billing.core.config import parse_config
    from include.dms_billing.core.jobs import ClientJob, RunIntent, SourceClient
    from include.dms_billing.flows.list_steps import extract_step, validate_step
    from include.dms_billing.outputs.paths import client_month_paths

    month = BillingMonth(2023, 5)
    window = billing_window(month, "Asia/Dhaka")
    old = window.start - timedelta(days=60)
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    src.user(1, "active", old, history=[("active", old)], logins=[window.start + timedelta(days=2)])
    zero = src.user(1, "active", old, history=[("active", old)], logins=[window.start + timedelta(days=3)])
    job = ClientJob.of(SourceClient(1, "ONE", "One Ltd", "billing@one.example", None, "Asia/Dhaka"), month,
                       RunIntent(), parse_config({}))
    paths = client_month_paths(str(month), "ONE")
    with scratch_database(MARIADB_URL) as url:
        engine = dms_engine(url)
        try:
            src.load(engine)
            with engine.begin() as conn:
                conn.exec_driver_sql("SET SESSION sql_mode = ''")
                conn.exec_driver_sql(f"UPDATE users SET deleted_at = '0000-00-00 00:00:00' WHERE id = {zero}")
            assert extract_step(engine, job, paths) == 2
            outcome = validate_step(job, paths, parse_config({}))
        finally:
            engine.dispose()
    assert not outcome.success
    assert f"users.deleted_at: 1 row(s), e.g. user {zero}: '0000-00-00 00:00:00' (zero date)" in outcome.message
