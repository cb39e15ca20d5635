"""What changed since last month: newly billable, no longer billable and why, the counts."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.columns import SNAPSHOT_SCHEMA
from include.dms_billing.core.config import StatusMap
from include.dms_billing.core.rule import decide
from include.dms_billing.outputs.list_changes import ListChanges, compare_with_previous, read_previous_list
from include.dms_billing.outputs.paths import client_month_paths

JUNE = billing_window(BillingMonth(2023, 6), "Asia/Kolkata")
OLD = pd.Timestamp(JUNE.start - timedelta(days=90))


def snapshot(*rows: dict) -> pa.Table:
    base = {name: None for name in SNAPSHOT_SCHEMA.names}
    base.update(client_id=1, current_status="active", created_at=OLD, logins_in_month=0)
    records = [{**base, "username": f"u{i + 1}", "user_id": i + 1, **row} for i, row in enumerate(rows)]
    return pa.Table.from_pylist(records, schema=SNAPSHOT_SCHEMA)


def previous_list(*user_ids: int, reason: str = "active") -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(user_ids), "username": [f"u{i}" for i in user_ids],
                         "full_name": None, "billable_reason": reason})


SNAPSHOT = snapshot(
    {"history_status": "active"},  # 1: billed both months
    {"history_status": "inactive", "history_changed_at": JUNE.start + timedelta(days=2)},  # 2: deactivated
    {"history_status": "active", "deleted_at": JUNE.start + timedelta(hours=1)},  # 3: deleted
    {"current_status": "inactive"},  # 4: inactive, no history
    {"history_status": "inactive", "logins_in_month": 2},  # 5: newly billable for a login
    {"history_status": "active", "created_at": JUNE.start + timedelta(days=5)},  # 6: new user
)


def _compare(previous: pd.DataFrame | None):
    billed = decide(SNAPSHOT, JUNE, StatusMap(), "TEESTA")
    return compare_with_previous(billed, SNAPSHOT, JUNE, StatusMap(), previous)


def test_newly_and_no_longer_billable_with_their_reasons_in_local_time() -> None:
    billed, changes = _compare(previous_list(1, 2, 3, 4, 7))

    assert dict(zip(billed["user_id"], billed["change_since_last_month"])) == {1: "unchanged", 5: "new", 6: "new"}
    assert [(u.user_id, u.why) for u in changes.newly_billable] == [(5, "inactive_recent_login"), (6, "active")]
    assert [(u.user_id, u.why, u.previous_reason) for u in changes.no_longer_billable] == [
        (2, "inactive since 2023-06-03T00:00:00+05:30; no login in the month", "active"),
        (3, "deleted at 2023-06-01T01:00:00+05:30; no login in the month", "active"),
        (4, "inactive (current status, no status history); no login in the month", "active"),
        (7, "no longer in Sokrio DMS", "active"),
    ]
    assert (changes.previous_count, changes.current_count, changes.difference) == (5, 3, -2)
    assert changes.headline() == (
        "3 billable users, 2 fewer than 2023-05 (5): 2 newly billable, 4 no longer billable")


def test_without_last_months_list_nothing_is_called_new() -> None:
    billed, changes = _compare(None)
    assert set(billed["change_since_last_month"]) == {""}
    assert not changes.compared and changes.difference is None
    assert changes.headline() == "no list for 2023-05 to compare with"


def test_changes_round_trip_through_json() -> None:
    _, changes = _compare(previous_list(1, 2))
    assert ListChanges.from_json(changes.to_json()) == changes


def test_the_previous_list_counts_only_when_complete(tmp_path) -> None:
    june, may = client_month_paths("2023-06", "TEESTA", tmp_path), client_month_paths("2023-05", "TEESTA", tmp_path)
    may.billable_parquet.parent.mkdir(parents=True)
    previous_list(1, 2).to_parquet(may.billable_parquet)
    assert read_previous_list(june) is None  # no summary.json: the list was never finished
    may.summary.write_text("{}", encoding="utf-8")
    assert list(read_previous_list(june)["user_id"]) == [1, 2]
