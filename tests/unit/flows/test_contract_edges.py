"""Adversarial checks written from the contract alone (shared/contract/README.md).

Every expectation here is stated by hand from the contract's words (UTC instants, offsets,
dates and amounts are literals, not recomputed with the product's helpers), and runs through
the steps the DAG runs (``tests.support.faults.write_list``, ``delivery_steps``) on real SQLite, and on
PostgreSQL / MariaDB where the dialect matters.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, PolicyError, billing_window
from include.dms_billing.core.config import Calendar, parse_config
from include.dms_billing.core.invoice import build_invoice
from include.dms_billing.core.jobs import plan_clients, resolve_billing_month
from include.dms_billing.core.work_calendar import invoice_date
from include.dms_billing.demo.source_db import SCHEMA_FILE, schema_statements
from include.dms_billing.flows import delivery_steps
from include.dms_billing.ledger.objections import (
    ObjectionRejected,
    ObjectionRequest,
    record_objections,
    sealed_billed_ids,
)
from include.dms_billing.outputs.spreadsheets import list_xlsx_bytes
from include.dms_billing.source.clients import fetch_clients
from include.dms_billing.source.sql_files import load_sql
from tests.support.contract import LIST_COLUMNS as CONTRACT_COLUMNS
from tests.support.faults import write_list
from tests.support.samples import ISSUER, make_invoice
from tests.support.scenarios import Source
from tests.support.servers import MARIADB_URL, POSTGRES_URL, scratch_database

US, S = timedelta(microseconds=1), timedelta(seconds=1)
OLD = datetime(2022, 6, 1)
PLAN = {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)  # naive UTC, as the DMS stores it


def _bill(tmp_path: Path, src: Source, month: str, config=None, mutate=(), relaxed=None) -> dict[str, object]:
    """Load ``src`` into SQLite (the schema's text ``relaxed``: (old, new)), apply ``mutate``, and run
    each client's list steps; per client its CSV rows, summary and paths, or the error."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    ddl = load_sql(SCHEMA_FILE)
    assert not relaxed or relaxed[0] in ddl
    with engine.begin() as conn:
        for statement in schema_statements(ddl.replace(*relaxed) if relaxed else ddl):
            conn.exec_driver_sql(statement)
    src.load(engine, create_schema=False)
    with engine.begin() as conn:
        for statement in mutate:
            conn.exec_driver_sql(statement)
    config = config or parse_config({"clients": {c["code"]: PLAN for c in src.clients}})
    out: dict[str, object] = {}
    for job in plan_clients(fetch_clients(engine), [], BillingMonth.parse(month), config):
        try:
            paths = write_list(engine, job, config)
        except ValueError as exc:
            out[job.client_code] = exc
            continue
        text = paths.billable_csv.read_bytes().decode("utf-8-sig")
        out[job.client_code] = {"header": next(csv.reader(io.StringIO(text))),
                                "rows": {int(r["user_id"]): r for r in csv.DictReader(io.StringIO(text))},
                                "summary": json.loads(paths.summary.read_text()), "paths": paths}
    engine.dispose()
    return out


def _xlsx_rows(paths) -> list[tuple]:
    """The list's sheet of the XLSX attachment, as the client opens it (header first)."""
    billed = pd.read_parquet(paths.billable_parquet)
    return list(openpyxl.load_workbook(io.BytesIO(list_xlsx_bytes(billed, "List"))).worksheets[0].values)


# --- Section 2: windows in the client's timezone --------------------------------------------

ZONES = [  # tz, month, start UTC, end UTC, the login at start and 1 us before end as the CSV must show them
    ("America/Los_Angeles", "2024-03", "2024-03-01 08:00", "2024-04-01 07:00",
     "2024-03-01T00:00:00-08:00", "2024-03-31T23:59:59.999999-07:00"),
    ("America/Los_Angeles", "2024-11", "2024-11-01 07:00", "2024-12-01 08:00",
     "2024-11-01T00:00:00-07:00", "2024-11-30T23:59:59.999999-08:00"),
    ("Pacific/Kiritimati", "2023-05", "2023-04-30 10:00", "2023-05-31 10:00",
     "2023-05-01T00:00:00+14:00", "2023-05-31T23:59:59.999999+14:00"),
    ("Pacific/Pago_Pago", "2023-05", "2023-05-01 11:00", "2023-06-01 11:00",
     "2023-05-01T00:00:00-11:00", "2023-05-31T23:59:59.999999-11:00"),
    ("Asia/Kathmandu", "2023-05", "2023-04-30 18:15", "2023-05-31 18:15",
     "2023-05-01T00:00:00+05:45", "2023-05-31T23:59:59.999999+05:45"),
    ("Europe/London", "2023-10", "2023-09-30 23:00", "2023-11-01 00:00",
     "2023-10-01T00:00:00+01:00", "2023-10-31T23:59:59.999999+00:00"),
    ("Australia/Lord_Howe", "2023-10", "2023-09-30 13:30", "2023-10-31 13:00",
     "2023-10-01T00:00:00+10:30", "2023-10-31T23:59:59.999999+11:00"),
    # Paraguay's DST began at 00:00 on 1 October 2023: the day's first instant is 01:00 -03.
    ("America/Asuncion", "2023-10", "2023-10-01 04:00", "2023-11-01 03:00",
     "2023-10-01T01:00:00-03:00", "2023-10-31T23:59:59.999999-03:00"),
]


ZONE_IDS = [f"{z[0]}-{z[1]}" for z in ZONES]


@pytest.mark.parametrize(("tz", "month", "start", "end", "_a", "_b"), ZONES, ids=ZONE_IDS)
def test_the_window_is_local_midnights_in_utc(tz, month, start, end, _a, _b) -> None:
    window = billing_window(BillingMonth.parse(month), tz)
    assert (window.start.isoformat(), window.end.isoformat()) == (f"{start.replace(' ', 'T')}:00+00:00",
                                                                  f"{end.replace(' ', 'T')}:00+00:00")


@pytest.mark.parametrize(("tz", "month", "start", "end", "at_start", "before_end"), ZONES,
                         ids=ZONE_IDS)
def test_boundaries_and_status_at_month_end_in_any_zone(tmp_path, data_root, tz, month, start, end, at_start,
                                                        before_end) -> None:
    start, end = _utc(start), _utc(end)
    mid = start + timedelta(days=12)
    src = Source()
    src.client(1, "EDGE", tz)
    u, act, ina = src.user, ("active", OLD), ("inactive", OLD)
    e = {
        "before_start": u(1, "inactive", OLD, history=[ina], logins=[start - US]),
        "at_start": u(1, "inactive", OLD, history=[ina], logins=[start - timedelta(days=40), start]),
        "before_end": u(1, "inactive", OLD, history=[ina], logins=[mid, end - US]),
        "at_end": u(1, "inactive", OLD, history=[ina], logins=[end]),
        "never_logged_in": u(1, "active", OLD, history=[act]),
        "deleted_at_end": u(1, "active", OLD, deleted=end, history=[act]),
        "deleted_then_reactivated": u(1, "active", OLD, deleted=mid, history=[act, ("active", mid + S)]),
        "created_at_end": u(1, "active", end, history=[("active", end)]),
        "created_before_end": u(1, "active", end - S, history=[("active", end - S)]),
        "tie_active_wins": u(1, "active", OLD, history=[ina, ("inactive", mid), ("active", mid)]),
        "tie_inactive_wins": u(1, "inactive", OLD, history=[act, ("active", mid), ("inactive", mid)]),
        "change_at_end": u(1, "inactive", OLD, history=[act, ("inactive", end)]),
        "no_history": u(1, "active", OLD),
        "no_history_inactive": u(1, "inactive", OLD, history=[("active", end + S)]),
    }
    got = _bill(tmp_path, src, month)["EDGE"]
    assert not isinstance(got, Exception), got
    assert got["header"][:8] == CONTRACT_COLUMNS
    rows = got["rows"]
    billed = {"at_start", "before_end", "never_logged_in", "deleted_at_end", "created_before_end",
              "tie_active_wins", "change_at_end", "no_history"}
    assert set(rows) == {e[k] for k in billed}
    login = {k: (rows[e[k]]["last_login_at"], rows[e[k]]["logins_in_month"]) for k in ("at_start",
                                                                                         "before_end")}
    assert login == {"at_start": (at_start, "1"), "before_end": (before_end, "2")}
    assert rows[e["never_logged_in"]]["last_login_at"] == ""
    assert {rows[e[k]]["billable_reason"] for k in billed - {"at_start", "before_end"}} == {"active"}
    assert {rows[e[k]]["billable_reason"] for k in ("at_start", "before_end")} == {"inactive_recent_login"}
    assert rows[e["at_start"]]["status_at_month_end"] == "inactive"
    assert rows[e["no_history"]]["status_source"] == "current"


def test_every_user_whose_status_came_from_the_current_status_is_counted(tmp_path, data_root) -> None:
    src = Source()
    src.client(1, "DQ", "Asia/Dhaka")
    src.user(1, "active", OLD)  # billed from its current status
    src.user(1, "inactive", OLD)  # not billed, from its current status alone
    src.user(1, "inactive", OLD, history=[("active", _utc("2023-06-05 00:00"))])  # history only after the end
    assert _bill(tmp_path, src, "2023-05")["DQ"]["summary"]["status_from_current"] == 3


# --- Section 2: the transition month and the policy start -------------------------------------

@pytest.mark.parametrize(("tz", "from_utc"), [("Asia/Dhaka", "2023-04-15 18:00"), ("America/Los_Angeles",
                                                                                  "2023-04-16 07:00")])
def test_april_2023_counts_logins_from_16_april_local_only(tmp_path, data_root, tz, from_utc) -> None:
    src = Source()
    src.client(1, "APR", tz)
    first = _utc(from_utc)
    u, ina = src.user, ("inactive", OLD)
    early = u(1, "inactive", OLD, history=[ina], logins=[first - timedelta(days=10), first - US])
    on_16th = u(1, "inactive", OLD, history=[ina], logins=[first - timedelta(days=3), first])
    unused_active = u(1, "active", OLD, history=[("active", OLD)])
    rows = _bill(tmp_path, src, "2023-04")["APR"]["rows"]
    assert early not in rows
    assert set(rows) == {on_16th, unused_active}
    assert rows[on_16th]["billable_reason"] == "inactive_recent_login"
    assert rows[unused_active]["billable_reason"] == "active"


@pytest.mark.parametrize("month", ["2023-03", "2022-12", "2019-04"])
def test_months_before_april_2023_are_refused_clearly(month: str) -> None:
    with pytest.raises(PolicyError, match="2023-04"):
        resolve_billing_month(month, None)
    with pytest.raises(PolicyError, match=month):
        billing_window(BillingMonth.parse(month), "Asia/Dhaka")


def test_a_scheduled_run_bills_the_month_its_data_interval_covers_in_dhaka() -> None:
    # The run at 00:00 Asia/Dhaka on 1 June 2023 has the interval from 1 May 00:00 Dhaka (30 April 18:00 UTC).
    interval_start = datetime.fromisoformat("2023-04-30T18:00:00+00:00")
    assert str(resolve_billing_month(None, interval_start)) == "2023-05"
    assert str(resolve_billing_month("2023-06", interval_start)) == "2023-06"  # the param wins


# --- Section 2: raw statuses through configuration --------------------------------------------

def test_raw_statuses_are_mapped_by_configuration_and_unmapped_ones_fail(tmp_path, data_root) -> None:
    src = Source()
    for cid, code in ((1, "MAPPED"), (2, "UNMAPPED")):
        src.client(cid, code, "Asia/Dhaka")
        src.user(cid, "ACTIVE", OLD, history=[("Active", OLD)])
        src.user(cid, "Inactive", OLD, history=[("Inactive", OLD)])
    status_map = {"active": ["Active", "ACTIVE"], "inactive": ["Inactive"]}
    config = parse_config({"clients": {"MAPPED": {**PLAN, "status_map": status_map}, "UNMAPPED": PLAN}})
    got = _bill(tmp_path, src, "2023-05", config)
    assert {uid: r["status_at_month_end"] for uid, r in got["MAPPED"]["rows"].items()} == {1: "active"}
    assert isinstance(got["UNMAPPED"], ValueError) and "ACTIVE" in str(got["UNMAPPED"])


# --- Section 8: a timestamp the pipeline cannot read ------------------------------------------

def test_sqlite_iso_timestamps_with_a_t_separator_are_read_as_the_same_instants(tmp_path, data_root) -> None:
    """SQLite keeps TIMESTAMP as text; 'YYYY-MM-DDTHH:MM:SS' is ISO 8601 and one of SQLite's own
    time formats. Dhaka, May 2023: the window is [2023-04-30 18:00, 2023-05-31 18:00) UTC."""
    src = Source()
    src.client(1, "ISO", "Asia/Dhaka")
    uid = src.user(1, "inactive", OLD, history=[("inactive", OLD)], logins=[_utc("2023-05-31 10:00")])
    late = src.user(1, "active", _utc("2023-05-31 17:00"), history=[("active", _utc("2023-05-31 17:00"))])
    columns = {"user_logins": "logged_in_at", "users": "created_at", "user_status_changes": "changed_at"}
    mutate = [f"UPDATE {t} SET {c} = replace({c}, ' ', 'T')" for t, c in columns.items()]
    got = _bill(tmp_path, src, "2023-05", mutate=mutate)["ISO"]
    assert not isinstance(got, Exception), got
    assert set(got["rows"]) == {uid, late}
    assert got["rows"][uid]["last_login_at"] == "2023-05-31T16:00:00+06:00"


@pytest.mark.parametrize("created_at", ["NULL", "'unknown'", "'2023-02-30 00:00:00'"],
                         ids=["null", "text", "no-such-day"])
def test_a_missing_or_unreadable_created_at_fails_naming_it(tmp_path, data_root, created_at) -> None:
    src = Source()
    src.client(1, "NOCREATE", "Asia/Dhaka")
    src.client(2, "FINE", "Asia/Dhaka")
    src.user(1, "active", OLD, history=[("active", OLD)])
    bad = src.user(1, "active", OLD, history=[("active", OLD)], logins=[_utc("2023-05-10 10:00")])
    src.user(2, "active", OLD, history=[("active", OLD)])
    relaxed = ("created_at  TIMESTAMP    NOT NULL,\n    deleted_at", "created_at  TIMESTAMP,\n    deleted_at")
    got = _bill(tmp_path, src, "2023-05", relaxed=relaxed,
                mutate=[f"UPDATE users SET created_at = {created_at} WHERE id = {bad}"])
    assert set(got["FINE"]["rows"]) == {3}
    assert isinstance(got["NOCREATE"], ValueError), got["NOCREATE"]
    assert "created_at" in str(got["NOCREATE"]) and str(bad) in str(got["NOCREATE"])


# --- Section 6: the list as the client reads it ------------------------------------------------

HOSTILE = ['Rahim "Boss", Sr.', "line\r\nbreak", "cr\ronly", "😀 Seller 🇧🇩", "محمد عبد الله", "דוד לוי",
           "a,b;c\td", "\u202eevil\u202c", "  padded  "]


def test_hostile_names_round_trip_in_csv_and_xlsx_one_row_per_billable_user(tmp_path, data_root) -> None:
    src = Source()
    src.client(1, "HOST", "Asia/Dhaka")
    ids = {src.user(1, "active", OLD, history=[("active", OLD)], name=n): n for n in HOSTILE}
    src.user(1, "inactive", OLD, history=[("inactive", OLD)], name="not billable")
    got = _bill(tmp_path, src, "2023-05")["HOST"]
    assert {uid: r["full_name"] for uid, r in got["rows"].items()} == ids
    values = _xlsx_rows(got["paths"])
    assert [name.split(" (")[0] for name in values[0][:8]] == CONTRACT_COLUMNS  # a time names its zone
    assert {row[0]: _ooxml_text(row[2]) for row in values[1:]} == ids


def _ooxml_text(value: str) -> str:
    """A cell's text with OOXML's ``_xHHHH_`` escapes decoded, as Excel shows it (openpyxl keeps them)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


BIG_IDS = [2**53 + 1, 9_223_372_036_854_775_807]  # legal BIGINT ids a double cannot hold


def test_bigint_user_ids_are_exact_in_the_csv_and_the_xlsx(tmp_path, data_root) -> None:
    src = Source()
    src.client(1, "BIGID", "Asia/Dhaka")
    for big in BIG_IDS:
        src.users[src.user(1, "active", OLD, history=[("active", OLD)]) - 1]["id"] = big
    for change, big in zip(src.changes, BIG_IDS):
        change["user_id"] = big
    got = _bill(tmp_path, src, "2023-05")["BIGID"]
    assert set(got["rows"]) == set(BIG_IDS)
    assert {int(row[0]) for row in _xlsx_rows(got["paths"])[1:]} == set(BIG_IDS)


# --- Section 3: the calendar ------------------------------------------------------------------

@pytest.mark.parametrize(("month", "expected", "closures"), [
    ("2023-04", date(2023, 5, 2), ()),  # the contract's example: 1 May 2023 was May Day
    ("2023-08", date(2023, 9, 3), ()),  # 1 September 2023 a Friday, the 2nd a Saturday
    ("2023-06", date(2023, 7, 2), ()),  # 1 July 2023 a Saturday
    ("2025-03", date(2025, 4, 3), ()),  # Eid al-Fitr 31 March - 2 April 2025
    ("2024-04", date(2024, 5, 2), ()),  # May Day 2024, a Wednesday
    ("2023-04", date(2023, 5, 3), (date(2023, 5, 2),)),  # an extra closure from the configuration
])
def test_the_invoice_is_dated_the_first_working_day_of_the_next_month(month, expected, closures) -> None:
    assert invoice_date(BillingMonth.parse(month), Calendar(extra_closures=closures)) == expected


# --- Section 4: money ------------------------------------------------------------------------

def _invoice(count: int, price: str, currency: str = "BDT", vat: str = "0.15"):
    return build_invoice(
        invoice_number="SKR-000009", issuer=ISSUER, bill_to=make_invoice().bill_to, billing_month="2023-05",
        invoice_date=date(2023, 6, 1), due_date=date(2023, 6, 16), currency=currency, billable_count=count,
        unit_price=Decimal(price), vat_rate=Decimal(vat))


@pytest.mark.parametrize(("count", "price", "amount", "vat", "total"), [
    (1, "0.125", "0.13", "0.02", "0.15"),       # 0.125 -> 0.13; 0.0195 -> 0.02
    (3, "0.125", "0.38", "0.06", "0.44"),       # 0.375 -> 0.38; 0.057 -> 0.06
    (1, "0.30", "0.30", "0.05", "0.35"),        # VAT 0.045 -> 0.05 (half-even would give 0.04)
    (1, "1.005", "1.01", "0.15", "1.16"),       # a float would give 1.00
    (7, "2.50", "17.50", "2.63", "20.13"),      # VAT 2.625 -> 2.63
])
def test_amounts_are_decimal_and_rounded_half_up(count, price, amount, vat, total) -> None:
    inv = _invoice(count, price)
    assert [str(x) for x in (inv.subscriptions_amount, inv.vat_amount, inv.total)] == [amount, vat, total]


@pytest.mark.parametrize(("currency", "expected"), [
    ("JPY", "2"), ("BHD", "1.235"), ("JOD", "1.235"), ("TND", "1.235"), ("VND", "2"), ("CLP", "2"),
])
def test_amounts_are_rounded_at_the_currencys_minor_unit(currency: str, expected: str) -> None:
    price = "1.2345" if "." in expected else "1.5"
    assert str(_invoice(1, price, currency, vat="0").subscriptions_amount) == expected


# --- Sections 4 and 8: effective prices, numbering, sealed lists, objections ------------------

def test_backfills_in_any_order_keep_prices_numbers_and_sealed_lists(tmp_path, data_root,
                                                                     ledger_engine) -> None:
    src = Source()
    src.client(1, "SEAL", "Asia/Dhaka")
    for _ in range(3):
        src.user(1, "active", OLD, history=[("active", OLD)])
    prices = [{"from": "2023-04", "unit_price": "150.00"}, {"from": "2023-06", "unit_price": "175.50"}]
    config = parse_config({"clients": {"SEAL": {"plan": {"prices": prices}}}})
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(engine)

    def bill(month: str, run_id: str):
        [job] = plan_clients(fetch_clients(engine), [], BillingMonth.parse(month), config)
        paths = write_list(engine, job, config)
        return paths, delivery_steps.issue_invoice_step(ledger_engine, job, paths, config, run_id).invoice

    june_paths, june = bill("2023-06", "r1")  # a backfill of June first, then May
    may_paths, may = bill("2023-05", "r2")
    assert (june.invoice_number, may.invoice_number) == ("SKR-000001", "SKR-000002")
    assert (june.unit_price, may.unit_price) == (Decimal("175.50"), Decimal("150.00"))
    assert (june.subscriptions_amount, may.subscriptions_amount) == (Decimal("526.50"), Decimal("450.00"))
    sealed_csv = may_paths.billable_csv.read_bytes()
    # Late source data for May: a user created in May. The billed list and invoice stay as they were.
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users VALUES (99, 1, 'late', 'Late User', NULL, NULL, 'SR', "
                             "'active', '2023-05-10 00:00:00', NULL)")
    paths, again = bill("2023-05", "r3")
    assert again.invoice_number == "SKR-000002" and again.billable_count == 3 and again.total == may.total
    assert paths.billable_csv.read_bytes() == sealed_csv
    found = json.loads(paths.last_check.read_text())  # the difference is kept beside the sealed list
    assert [u["user_id"] for u in found["difference"]["added"]] == [99] and found["sealed_count"] == 3
    assert (paths.revision_dir(found["revision"]) / "difference.json").exists()
    def object_to(user_id: int, run_id: str):
        request = ObjectionRequest("SEAL", "2023-05", (user_id,), "not used", "staff")
        return record_objections(ledger_engine, [request], sealed_billed_ids(ledger_engine, run_id), run_id)

    with pytest.raises(ObjectionRejected, match=r"not on the billed list.*\[99\]"):
        object_to(99, "o1")
    [recorded] = object_to(1, "o2")
    assert recorded.amount == Decimal("-150.00")
    engine.dispose()


# --- Dialects: the same boundaries on PostgreSQL and MariaDB ------------------------------------

@pytest.mark.parametrize("server", [POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def test_a_server_bills_the_boundaries_as_the_contract_says(server: str, tmp_path, data_root) -> None:
    start, end = _utc("2024-03-01 08:00"), _utc("2024-04-01 07:00")  # Los Angeles, March 2024
    src = Source()
    src.client(1, "LAX", "America/Los_Angeles")
    u, ina, act = src.user, ("inactive", OLD), ("active", OLD)
    expected = {
        u(1, "inactive", OLD, history=[ina], logins=[start]),
        u(1, "inactive", OLD, history=[ina], logins=[end - S]),
        u(1, "active", OLD, deleted=end, history=[act]),
        u(1, "active", OLD, history=[ina, ("inactive", start + S), ("active", start + S)]),
        u(1, "inactive", OLD, history=[act, ("inactive", end)]),
        u(1, "active", end - S),
    }
    u(1, "inactive", OLD, history=[ina], logins=[start - S, end])
    u(1, "active", OLD, history=[act, ("active", start + S), ("inactive", start + S)])
    u(1, "active", end, history=[("active", end)])
    config = parse_config({"clients": {"LAX": PLAN}})
    with scratch_database(server) as url:
        engine = sa.create_engine(url)
        src.load(engine)
        [job] = plan_clients(fetch_clients(engine), [], BillingMonth(2024, 3), config)
        paths = write_list(engine, job, config)
        engine.dispose()
    billed = pd.read_parquet(paths.billable_parquet)
    assert set(billed["user_id"]) == expected
