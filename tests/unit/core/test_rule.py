"""The pure rule on hand-made snapshots (the SQL side is checked in test_extraction.py)."""

from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.columns import BILLABLE_COLUMNS, SNAPSHOT_SCHEMA
from include.dms_billing.core.config import StatusMap
from include.dms_billing.core.rule import UnmappedStatusError, decide

WINDOW = billing_window(BillingMonth(2023, 5), "Asia/Dhaka")
OLD = pd.Timestamp(WINDOW.start - timedelta(days=90))


def snapshot(*rows: dict) -> pa.Table:
    base = {name: None for name in SNAPSHOT_SCHEMA.names}
    base.update(client_id=1, username="u", current_status="active", created_at=OLD, logins_in_month=0)
    records = [{**base, "user_id": i + 1, **row} for i, row in enumerate(rows)]
    return pa.Table.from_pylist(records, schema=SNAPSHOT_SCHEMA)


def reasons(frame: pd.DataFrame) -> dict[int, str]:
    return dict(zip(frame["user_id"], frame["billable_reason"]))


def test_active_billed_regardless_of_use_and_inactive_only_with_a_login() -> None:
    billed = decide(
        snapshot(
            {"history_status": "active"},
            {"history_status": "inactive", "logins_in_month": 2, "last_login_at": WINDOW.end - timedelta(hours=1)},
            {"history_status": "inactive", "last_login_at": WINDOW.start - timedelta(hours=1)},
        ),
        WINDOW, StatusMap(), "ACME",
    )
    assert reasons(billed) == {1: "active", 2: "inactive_recent_login"}
    assert list(billed.columns) == BILLABLE_COLUMNS
    assert set(billed["billing_month"]) == {"2023-05"} and set(billed["client_code"]) == {"ACME"}


def test_status_source_deleted_history_current() -> None:
    billed = decide(
        snapshot(
            {"history_status": "active", "deleted_at": WINDOW.end - timedelta(seconds=1), "logins_in_month": 1,
             "last_login_at": WINDOW.start},
            {"history_status": "active", "current_status": "inactive"},
            {"current_status": "active"},
        ),
        WINDOW, StatusMap(), "ACME",
    )
    assert list(billed["status_source"]) == ["deleted", "history", "current"]
    assert list(billed["status_at_month_end"]) == ["inactive", "active", "active"]
    assert list(billed["billable_reason"]) == ["inactive_recent_login", "active", "active"]


def test_configured_status_values_are_mapped() -> None:
    mapping = StatusMap(active=("enabled",), inactive=("disabled", "suspended"))
    billed = decide(snapshot({"current_status": "enabled"}, {"current_status": "suspended"}), WINDOW, mapping, "X")
    assert reasons(billed) == {1: "active"}


def test_unmapped_status_is_refused_not_guessed() -> None:
    with pytest.raises(UnmappedStatusError, match="on_leave"):
        decide(snapshot({"history_status": "on_leave"}), WINDOW, StatusMap(), "ACME")


def test_users_created_at_or_after_the_end_never_count() -> None:
    billed = decide(snapshot({"created_at": pd.Timestamp(WINDOW.end)}), WINDOW, StatusMap(), "ACME")
    assert billed.empty and list(billed.columns) == BILLABLE_COLUMNS


def test_last_login_is_given_in_the_clients_local_time() -> None:
    window = billing_window(BillingMonth(2023, 5), "Asia/Kolkata")
    billed = decide(snapshot({"last_login_at": window.start}), window, StatusMap(), "ACME")
    assert billed.loc[0, "last_login_at"].isoformat() == "2023-05-01T00:00:00+05:30"


def test_status_set_at_is_the_deletion_the_change_or_unknown_in_local_time() -> None:
    deleted, changed = WINDOW.end - timedelta(seconds=1), WINDOW.start + timedelta(days=3)
    billed = decide(
        snapshot(
            {"history_status": "active", "history_changed_at": changed - timedelta(days=1), "deleted_at": deleted,
             "logins_in_month": 1},
            {"history_status": "active", "history_changed_at": changed},
            {"current_status": "active"},
        ),
        WINDOW, StatusMap(), "ACME",
    )
    stamps = [None if pd.isna(t) else t.isoformat() for t in billed["status_set_at"]]
    assert stamps == ["2023-05-31T23:59:59+06:00", "2023-05-04T00:00:00+06:00", None]
    assert set(billed["change_since_last_month"]) == {""}  # the rule alone cannot know last month
