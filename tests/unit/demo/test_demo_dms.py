"""The demo DMS generator: deterministic, the contract's tables, and every case of section 2.

Small scale on SQLite; the same data loaded into PostgreSQL and MariaDB must come back equal.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.demo.demo_dms import PLANTED_CASES, generate
from include.dms_billing.demo.people import planted_user_id
from include.dms_billing.demo.source_db import SOURCE_COLUMNS, bulk_load, create_source_schema, db_value
from include.dms_billing.source.sql_files import SQL_DIR
from tests.support import reference_rule
from tests.support.servers import MARIADB_URL, POSTGRES_URL, scratch_database

SEED = 7
SCALE = {"clients": 6, "users_per_client": 40, "logins_per_user_month": 3}
SECOND = timedelta(seconds=1)
STATUS_LOOKUP = {"active": "active", "inactive": "inactive"}
MONTHS = range(4, 13)  # the billed months of 2023


def _months(first: int, last: int, reason: str = "active") -> dict[int, str]:
    return dict.fromkeys(range(first, last + 1), reason)


R = "inactive_recent_login"
# Planted case -> {month of 2023: billable reason}; a month not listed is not billed.
EXPECTED = {
    "active_never_logs_in": _months(4, 12),
    "inactive_no_logins": {},
    "login_at_june_start": {6: R},
    "login_before_june_start": {5: R},
    "login_at_transition_start": {4: R},
    "login_before_transition_start": {},
    "transition_early_logins_only": {},
    "transition_late_logins_only": {4: R},
    "active_early_april_logins_only": _months(4, 12),
    "deactivated_after_login": {**_months(4, 6), 7: R},
    "tie_active_wins": _months(4, 12),
    "tie_inactive_wins": _months(4, 7),
    "no_history_active": _months(4, 12),
    "no_history_inactive_with_login": {5: R},
    "deleted_mid_month": {**_months(4, 8), 9: R},
    "deleted_at_october_start": _months(4, 9),
    "deactivated_at_july_start": _months(4, 6),
    "created_in_may": _months(5, 12),
    "created_at_june_start": _months(6, 12),
    "created_in_december": _months(12, 12),
    "reactivated_in_august": _months(8, 12),
}


def _parse(row: dict) -> dict:
    """SQLite timestamp text as naive UTC datetimes, the way the reference rule takes rows."""
    return {k: datetime.fromisoformat(v) if k.endswith("_at") and v else v for k, v in row.items()}


def read_rows(engine: sa.Engine) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        return {table: [_parse(dict(row)) for row in conn.exec_driver_sql(f"SELECT * FROM {table}").mappings()]
                for table in SOURCE_COLUMNS}


def count_rows(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one() for t in SOURCE_COLUMNS}


def sqlite_layout(db: sqlite3.Connection) -> dict[str, tuple[list, list]]:
    """Table name -> (its columns with types and constraints, its indexes)."""
    tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return {t: (db.execute(f"PRAGMA table_info({t})").fetchall(), sorted(db.execute(f"PRAGMA index_list({t})")))
            for (t,) in tables}


def bill(rows: dict[str, list[dict]], user_ids: set[int], client: dict, month: int) -> dict:
    """The reference rule over some of a client's users: user id -> Expected, for the billable ones."""
    return reference_rule.billable_users(
        [u for u in rows["users"] if u["id"] in user_ids],
        [c for c in rows["user_status_changes"] if c["user_id"] in user_ids],
        [lg for lg in rows["user_logins"] if lg["user_id"] in user_ids],
        client["id"], billing_window(BillingMonth(2023, month), client["timezone"]), STATUS_LOOKUP,
    )


def digest(engine: sa.Engine) -> str:
    """One hash of every row of every table, timestamps as the DMS text, so backends compare."""
    hashed = hashlib.sha256()
    with engine.connect() as conn:
        for table, columns in SOURCE_COLUMNS.items():
            for row in conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")):
                hashed.update(repr(tuple(map(db_value, row))).encode())
    return hashed.hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sa.Engine, dict[str, int]]]:
    path = tmp_path_factory.mktemp("demo") / "dms.sqlite"
    counts = generate(f"sqlite:///{path}", seed=SEED, **SCALE)
    engine = sa.create_engine(f"sqlite:///{path}")
    yield engine, counts
    engine.dispose()


@pytest.fixture(scope="module")
def rows(demo) -> dict[str, list[dict]]:
    return read_rows(demo[0])


@pytest.fixture(scope="module")
def clients(rows) -> dict[int, dict]:
    return {c["id"]: c for c in rows["clients"]}


def test_same_seed_gives_the_same_rows_and_another_seed_others(demo, tmp_path: Path) -> None:
    def digest_of(seed: int) -> str:
        url = f"sqlite:///{tmp_path / f'seed-{seed}.sqlite'}"
        generate(url, seed=seed, **SCALE)
        engine = sa.create_engine(url)
        try:
            return digest(engine)
        finally:
            engine.dispose()

    assert digest_of(SEED) == digest(demo[0])
    assert digest_of(SEED + 1) != digest(demo[0])


def test_tables_and_columns_are_the_contract(demo, tmp_path: Path) -> None:
    contract = sqlite3.connect(tmp_path / "contract.sqlite")
    contract.executescript((SQL_DIR / "dms_source_schema.sql").read_text(encoding="utf-8"))
    generated = demo[0].raw_connection()
    try:
        assert sqlite_layout(generated.driver_connection) == sqlite_layout(contract)
        columns = {table: tuple(c[1] for c in info) for table, (info, _) in sqlite_layout(contract).items()}
        assert columns == SOURCE_COLUMNS
    finally:
        generated.close()
        contract.close()


def test_counts_ids_and_usernames(demo, rows) -> None:
    engine, counts = demo
    assert counts == count_rows(engine)
    for table_rows in rows.values():
        assert [r["id"] for r in table_rows] == list(range(1, len(table_rows) + 1))
    per_client = Counter(u["client_id"] for u in rows["users"])
    assert per_client == dict.fromkeys(range(1, SCALE["clients"] + 1), SCALE["users_per_client"])
    assert len({(u["client_id"], u["username"]) for u in rows["users"]}) == len(rows["users"])


def test_clients_of_different_sizes_own_consecutive_user_ids(tmp_path: Path) -> None:
    sizes = [60, 25, 40]
    url = f"sqlite:///{tmp_path / 'sized.sqlite'}"
    generate(url, seed=SEED, client_sizes=sizes, logins_per_user_month=1)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            spans = conn.execute(sa.text(
                "SELECT client_id, min(id), max(id), count(*) FROM users GROUP BY client_id ORDER BY client_id")).all()
    finally:
        engine.dispose()
    assert [tuple(span) for span in spans] == [(1, 1, 60, 60), (2, 61, 85, 25), (3, 86, 125, 40)]


def test_clients_span_timezones_east_and_west_of_dhaka(clients) -> None:
    assert [c["code"] for c in clients.values()][:5] == ["MEGHNA", "PADMA", "JAMUNA", "TEESTA", "KARNAPHULI"]
    assert {"Asia/Dhaka", "Asia/Kolkata", "Europe/London"} <= {c["timezone"] for c in clients.values()}
    assert clients[1]["correspondence_email"] == "billing@meghna-foods.example"
    assert all(c["account_manager_email"].endswith("@sokrio.example") for c in clients.values())


def test_users_status_is_the_latest_history_or_inactive_when_deleted(rows) -> None:
    history: dict[int, list[dict]] = {}
    for change in rows["user_status_changes"]:
        history.setdefault(change["user_id"], []).append(change)
    for user in rows["users"]:
        changes = history.get(user["id"])
        if user["deleted_at"] is not None:
            assert user["status"] == "inactive"
        elif changes:
            assert user["status"] == max(changes, key=lambda c: (c["changed_at"], c["id"]))["status"]
        if changes:
            first = min(changes, key=lambda c: c["id"])
            assert (first["status"], first["changed_at"]) == ("active", user["created_at"])


def test_every_data_case_is_present(rows) -> None:
    users, changes = rows["users"], rows["user_status_changes"]
    with_history = {c["user_id"] for c in changes}
    same_second = Counter((c["user_id"], c["changed_at"]) for c in changes)
    assert any(u["deleted_at"] is not None and u["status"] == "inactive" for u in users)
    assert any(n > 1 for n in same_second.values()), "no status changes tied on changed_at"
    assert any(u["id"] not in with_history for u in users), "no user without history"
    assert any(u["created_at"] >= datetime(2023, 6, 1) for u in users), "no user created after May"
    assert any(u["created_at"] < datetime(2023, 1, 1) for u in users)
    assert any("\u0980" <= ch <= "\u09ff" for u in users for ch in u["full_name"]), "no Bengali-script name"
    assert set(Counter(u["role"] for u in users)) == {"SR", "DSR", "Distributor", "Supervisor", "Admin"}


def test_logins_fall_within_each_users_life_and_the_data_range(rows) -> None:
    users = {u["id"]: u for u in rows["users"]}
    for login in rows["user_logins"]:
        user, at = users[login["user_id"]], login["logged_in_at"]
        assert user["created_at"] <= at and (user["deleted_at"] is None or at < user["deleted_at"])
        assert datetime(2023, 3, 1) <= at < datetime(2024, 1, 1)
        assert login["channel"] in {"app", "web"}


def _client_logins(rows, client_id: int) -> set[datetime]:
    users = {u["id"] for u in rows["users"] if u["client_id"] == client_id}
    return {login["logged_in_at"] for login in rows["user_logins"] if login["user_id"] in users}


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


@pytest.mark.parametrize("code", ["MEGHNA", "TEESTA", "C006"])  # Asia/Dhaka, Asia/Kolkata, Europe/London
def test_logins_exactly_at_and_just_before_local_midnight(rows, clients, code: str) -> None:
    client = next(c for c in clients.values() if c["code"] == code)
    logins = _client_logins(rows, client["id"])
    june = billing_window(BillingMonth(2023, 6), client["timezone"])
    april = billing_window(BillingMonth(2023, 4), client["timezone"])
    for boundary in (june.start, april.login_start):
        assert {_naive(boundary), _naive(boundary) - SECOND} <= logins


def test_transition_month_has_early_only_and_late_only_users(rows, clients) -> None:
    for client in clients.values():
        april = billing_window(BillingMonth(2023, 4), client["timezone"])
        start, cut, end = _naive(april.start), _naive(april.login_start), _naive(april.end)
        by_user: dict[int, list[datetime]] = {}
        users = {u["id"] for u in rows["users"] if u["client_id"] == client["id"]}
        for login in rows["user_logins"]:
            if login["user_id"] in users and start <= login["logged_in_at"] < end:
                by_user.setdefault(login["user_id"], []).append(login["logged_in_at"])
        assert any(max(times) < cut for times in by_user.values()), client["code"]
        assert any(min(times) >= cut for times in by_user.values()), client["code"]


@pytest.mark.parametrize("month", MONTHS)
def test_planted_cases_bill_as_documented(rows, clients, month: int) -> None:
    """Each client's planted users, billed by the reference rule, give the documented reasons."""
    for client in clients.values():
        ids = {planted_user_id(client["id"], case, SCALE["users_per_client"]): case for case in PLANTED_CASES}
        billed = bill(rows, set(ids), client, month)
        got = {ids[uid]: expected.billable_reason for uid, expected in billed.items()}
        want = {case: months[month] for case, months in EXPECTED.items() if month in months}
        assert got == want, client["code"]
        assert {ids[uid] for uid, e in billed.items() if e.status_source == "current"} == (
            {"no_history_active"} | ({"no_history_inactive_with_login"} if month == 5 else set()))


def test_random_users_include_inactive_users_who_logged_in(rows, clients) -> None:
    planted = {planted_user_id(c, case, SCALE["users_per_client"]) for c in clients for case in PLANTED_CASES}
    reasons = Counter()
    for client in clients.values():
        ids = {u["id"] for u in rows["users"] if u["client_id"] == client["id"] and u["id"] not in planted}
        for month in MONTHS:
            reasons.update(e.billable_reason for e in bill(rows, ids, client, month).values())
    assert reasons["active"] > 0 and reasons[R] > 0


def test_a_month_has_about_users_times_logins_per_user_month(rows) -> None:
    july = datetime(2023, 7, 1), datetime(2023, 8, 1)
    in_july = sum(july[0] <= lg["logged_in_at"] < july[1] for lg in rows["user_logins"])
    target = SCALE["clients"] * SCALE["users_per_client"] * SCALE["logins_per_user_month"]
    assert 0.8 * target <= in_july <= 1.2 * target


def test_bulk_load_round_trips_datetimes_on_sqlite(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    create_source_schema(engine)
    midnight = datetime(2023, 4, 30, 18, 0)  # 1 May 00:00 in Dhaka
    bulk_load(engine, "clients", SOURCE_COLUMNS["clients"],
              [(1, "ONE", "One", "billing@one.example", None, "Asia/Dhaka", datetime(2022, 1, 1))])
    bulk_load(engine, "users", SOURCE_COLUMNS["users"],
              [(1, 1, "u1", "ইউজার", None, None, "SR", "active", datetime(2022, 1, 1), None)])
    logins = (
        (1, 1, midnight - SECOND, "app"),
        (2, 1, midnight, "web"),
        (3, 1, midnight.replace(microsecond=250_000), "app"),
        (4, 1, datetime(2023, 5, 1, 0, 0, tzinfo=timezone(timedelta(hours=6))), None),  # aware: converted
        (5, 1, datetime(2023, 5, 2), ""),
    )
    assert bulk_load(engine, "user_logins", SOURCE_COLUMNS["user_logins"], iter(logins), batch_size=2) == 5

    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT logged_in_at, channel FROM user_logins ORDER BY id").all()
        from_midnight = conn.exec_driver_sql(
            "SELECT id FROM user_logins WHERE logged_in_at >= '2023-04-30 18:00:00' ORDER BY id"
        ).scalars().all()
        full_name = conn.exec_driver_sql("SELECT full_name FROM users").scalar_one()
    engine.dispose()
    assert stored == [
        ("2023-04-30 17:59:59", "app"), ("2023-04-30 18:00:00", "web"), ("2023-04-30 18:00:00.250000", "app"),
        ("2023-04-30 18:00:00", None), ("2023-05-02 00:00:00", ""),
    ]
    assert from_midnight == [2, 3, 4, 5]
    assert full_name == "ইউজার"


@pytest.mark.parametrize("server_url", [
    pytest.param(POSTGRES_URL, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param(MARIADB_URL, marks=pytest.mark.mariadb, id="mariadb"),
])
def test_loads_the_same_rows_into_a_server(demo, server_url: str) -> None:
    sqlite_engine, sqlite_counts = demo
    with scratch_database(server_url) as url:
        assert generate(url, seed=SEED, **SCALE) == sqlite_counts
        engine = sa.create_engine(url)
        try:
            assert count_rows(engine) == sqlite_counts
            assert digest(engine) == digest(sqlite_engine)
        finally:
            engine.dispose()
