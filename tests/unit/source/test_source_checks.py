"""Source rows the contract does not describe fail their client, naming the rows (section 8).

One SQLite DMS holds a clean client and one client per case: a timestamp that cannot be read
as a UTC instant (in each of the four columns the rule compares), a NULL ``created_at``, and a
user created after the month yet active in it. Every client goes through the DAG's extract and
validate steps; the report states how many users the DMS holds, how many reached the snapshot
and why each other one did not.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import plan_clients
from include.dms_billing.flows import list_steps
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.source.clients import fetch_clients
from include.dms_billing.source.extraction import batch_query
from include.dms_billing.source.source_checks import AUDIT_FILES
from include.dms_billing.source.sql_files import load_sql
from tests.support.scenarios import Source, create_relaxed_schema

MAY = BillingMonth(2023, 5)
WINDOW = billing_window(MAY, "Asia/Dhaka")
OLD = WINDOW.start - timedelta(days=60)
MID = WINDOW.start + timedelta(days=10)
AFTER = WINDOW.end + timedelta(days=3)

# Client code -> (table, column, stored value) of its one bad timestamp, and the failure's text.
UNREADABLE = {
    "LOGNOW": ("user_logins", "logged_in_at", "now"),
    "LOGINT": ("user_logins", "logged_in_at", 1683000000),
    "LOGREAL": ("user_logins", "logged_in_at", 2460080.5),
    "LOGSPACE": ("user_logins", "logged_in_at", "2023-05-10 10:00:00 +06:00"),
    "FEB30": ("user_status_changes", "changed_at", "2023-02-30 10:00:00"),
    "HOUR24": ("users", "created_at", "2023-03-31 24:00:00"),
    "NODATE": ("users", "created_at", "last spring"),
    "DELBAD": ("users", "deleted_at", "2023-05-10"),
}
ACTIVITY_CASES = {
    "NULLCREATED": "user left out: created_at missing on users.created_at: 1 row(s), e.g. user {uid}: NULL",
    "LATELOGIN": "user left out: created after the month, yet logged in before its end on users.created_at",
    "LATECHANGE": "user left out: created after the month, yet its status changed before its end",
}


def _nullable_created_schema(engine: sa.Engine) -> None:
    """The contract's tables, but ``users.created_at`` may be NULL."""
    create_relaxed_schema(engine, "created_at  TIMESTAMP    NOT NULL,\n    deleted_at", "created_at  TIMESTAMP,\n    deleted_at")


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every client extracted and validated: outcomes, the case users' ids, the data root."""
    folder = tmp_path_factory.mktemp("source_checks")
    src = Source()
    cases: dict[str, int] = {}
    for client_id, code in enumerate(["CLEAN", *UNREADABLE, *ACTIVITY_CASES], start=1):
        src.client(client_id, code, "Asia/Dhaka")
        src.user(client_id, "active", OLD, history=[("active", OLD)], logins=[MID])
        cases[code] = src.user(client_id, "inactive", OLD, history=[("inactive", OLD)], logins=[MID])
    cases["CLEAN"] = src.user(1, "active", AFTER, history=[("active", AFTER)], logins=[AFTER])
    src.users[cases["NULLCREATED"] - 1]["created_at"] = None
    for code in ("LATELOGIN", "LATECHANGE"):
        src.users[cases[code] - 1]["created_at"] = AFTER.replace(tzinfo=None)
    src.changes = [c for c in src.changes if c["user_id"] != cases["LATELOGIN"]]
    src.logins = [entry for entry in src.logins if entry["user_id"] != cases["LATECHANGE"]]
    engine = sa.create_engine(f"sqlite:///{folder / 'dms.sqlite'}")
    _nullable_created_schema(engine)
    src.load(engine, create_schema=False)
    with engine.begin() as conn:
        for code, (table, column, value) in UNREADABLE.items():
            key = "id" if table == "users" else "user_id"
            conn.execute(sa.text(f"UPDATE {table} SET {column} = :value WHERE {key} = :uid"),
                         {"value": value, "uid": cases[code]})
    outcomes, jobs = {}, {}
    for job in plan_clients(fetch_clients(engine), [], MAY, parse_config({})):
        jobs[job.client_code] = job
        paths = ClientMonthPaths(folder / "data", str(MAY), job.client_code)
        list_steps.extract_step(engine, job, paths)
        outcomes[job.client_code] = (list_steps.validate_step(job, paths, parse_config({})), paths)
    return {"outcomes": outcomes, "cases": cases, "jobs": jobs}


def test_a_user_created_after_the_month_is_reported_left_out_and_passes(checked) -> None:
    outcome, paths = checked["outcomes"]["CLEAN"]
    assert outcome.success, outcome.message
    saved = json.loads((paths.report_dir / "validation.json").read_text(encoding="utf-8"))
    assert saved["reconciliation"]["source_users"] == 3 and saved["reconciliation"]["snapshot_users"] == 2
    assert saved["reconciliation"]["left_out"] == {
        "created after the month": {"count": 1, "allowed": True, "user_ids": [checked["cases"]["CLEAN"]]}}
    assert saved["reconciliation"]["description"] == "DMS 3 user(s), snapshot 2, left out: 1 created after the month"


@pytest.mark.parametrize("code", UNREADABLE)
def test_an_unreadable_timestamp_fails_its_client_naming_table_column_user_and_value(checked, code: str) -> None:
    outcome, paths = checked["outcomes"][code]
    table, column, value = UNREADABLE[code]
    named = f"timestamp_readable_as_utc_instant on {table}.{column}: 1 row(s), e.g. user {checked['cases'][code]}: "
    assert not outcome.success
    assert named + repr(str(value)) in outcome.message, outcome.message
    assert "Reconciliation: DMS 2 user(s)" in outcome.message
    saved = json.loads((paths.report_dir / "validation.json").read_text(encoding="utf-8"))
    assert saved["success"] is False and saved["reconciliation"]["unreadable_timestamps"][f"{table}.{column}"]["count"] == 1
    assert not paths.summary.exists() and not paths.billable_csv.exists()


@pytest.mark.parametrize("code", ACTIVITY_CASES)
def test_a_user_left_out_for_no_reason_of_the_contract_fails_with_its_id(checked, code: str) -> None:
    outcome, paths = checked["outcomes"][code]
    uid = checked["cases"][code]
    assert not outcome.success
    assert ACTIVITY_CASES[code].format(uid=uid) in outcome.message, outcome.message
    assert f"user {uid}: " in outcome.message
    saved = json.loads((paths.report_dir / "validation.json").read_text(encoding="utf-8"))
    [(reason, left)] = saved["reconciliation"]["left_out"].items()
    assert left == {"count": 1, "allowed": False, "user_ids": [uid]} and reason in outcome.message
    assert not paths.summary.exists()


def test_validation_fails_without_the_checks_of_the_extract_step(checked, tmp_path: Path) -> None:
    job, clean = checked["jobs"]["CLEAN"], checked["outcomes"]["CLEAN"][1]
    paths = ClientMonthPaths(tmp_path, str(MAY), "CLEAN")
    paths.snapshot.parent.mkdir(parents=True)
    paths.snapshot.write_bytes(clean.snapshot.read_bytes())

    outcome = list_steps.validate_step(job, paths, parse_config({}))

    assert not outcome.success and "source checks saved by the extract step" in outcome.message


# Shapes julianday() reads, or seems to: the audit passes exactly those pandas reads as the same
# instant (to the millisecond julianday() keeps), and a true date and time.
AUDITED = {
    "2023-05-31 18:00:00": True, "2023-05-31T18:00:00": True, "2023-05-31 18:00:00.5": True,
    "2023-05-31T18:00:00.123456Z": True, "2023-06-01T00:00:00+06:00": True, "2023-05-31 12:30:00-05:30": True,
    "2024-02-29 10:00:00": True, "2023-05-31 18:00:00.123456789": True, "2023-05-31 18:00:00+14:00": True,
    "2023-02-29 10:00:00": False, "2023-04-31 00:00:00": False, "2023-05-31 24:00:00": False,
    "2023-05-31 18:00": False, "2023-05-31": False, "2023-05-31 18:00:00z": False, "2023-05-31 18:00:00 Z": False,
    "2023-05-31 18:00:00+0600": False, "2023-05-31 18:00:00+15:00": False, "2023-05-3118:00:00": False,
    "now": False, "2460000.5": False, " 2023-05-31 18:00:00": False, "2023-05-31 18:00:00.": False,
}


def test_the_audit_passes_what_pandas_reads_as_julianday_does(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    uid = src.user(1, "active", OLD, logins=[MID] * len(AUDITED))
    src.load(engine)
    with engine.begin() as conn:
        for login_id, value in enumerate(AUDITED, start=1):
            conn.execute(sa.text("UPDATE user_logins SET logged_in_at = :v WHERE id = :id"), {"v": value, "id": login_id})
        flagged = {row.value for row in conn.execute(batch_query(load_sql(AUDIT_FILES["sqlite"])), {"client_ids": [1]})}
        instants = dict(conn.execute(sa.text("SELECT logged_in_at, julianday(logged_in_at) FROM user_logins")).all())
    assert {value for value, readable in AUDITED.items() if not readable} == flagged and uid == 1
    for value in (v for v, readable in AUDITED.items() if readable):
        parsed = pd.to_datetime(value, utc=True, format="ISO8601")
        from_julianday = pd.Timestamp((instants[value] - 2440587.5) * 86_400, unit="s", tz="UTC")
        assert abs(parsed - from_julianday) < pd.Timedelta(milliseconds=1), value
