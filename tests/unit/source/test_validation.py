"""The Great Expectations suite: a clean snapshot passes; each kind of bad data fails by name.

The clean snapshot is extracted from a small demo DMS; each bad case corrupts one thing and
must fail the expectation that guards it, with a report on disk the data team can open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.demo.demo_dms import generate
from include.dms_billing.source.extraction import extract_user_facts
from include.dms_billing.source.validation import ValidationContext, build_expectations, validate_snapshot

WINDOW = billing_window(BillingMonth(2023, 5), "Asia/Dhaka")
NOW = datetime(2024, 1, 15, tzinfo=timezone.utc)  # after all the demo data
CONTEXT = ValidationContext("MEGHNA", 1, WINDOW, frozenset({"active", "inactive"}), NOW)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("validation")
    url = f"sqlite:///{folder / 'dms.sqlite'}"
    generate(url, seed=3, clients=2, users_per_client=60, logins_per_user_month=4)
    import sqlalchemy as sa

    extract_user_facts(sa.create_engine(url), 1, WINDOW, folder / "facts.parquet")
    return pq.read_table(folder / "facts.parquet").to_pandas()


def test_a_clean_snapshot_passes_with_every_expectation_recorded(snapshot: pd.DataFrame, tmp_path: Path) -> None:
    outcome = validate_snapshot(snapshot, CONTEXT, tmp_path)

    assert outcome.success, outcome.message
    assert outcome.failures == [] and outcome.rows == len(snapshot)
    assert outcome.report_path == tmp_path / "validation.json"
    saved = json.loads(outcome.report_path.read_text(encoding="utf-8"))
    assert saved["success"] is True and saved["report_path"] == str(outcome.report_path)
    assert len(saved["checked"]) == len(build_expectations(CONTEXT)) and all(c["success"] for c in saved["checked"])
    unique_ids = {"expectation": "expect_column_values_to_be_unique", "column": "user_id", "success": True}
    assert unique_ids in saved["checked"]
    assert not (tmp_path / "data_docs").exists()  # Data Docs are built for failures only


def _set(column: str, value, row: int = 0) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def corrupt(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[row], column] = value
        return frame

    return corrupt


def _duplicate_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame.index[1], "user_id"] = frame.loc[frame.index[0], "user_id"]
    return frame


def _login_before_window(frame: pd.DataFrame) -> pd.DataFrame:
    row = frame.index[0]
    frame.loc[row, "logins_in_month"] = 2
    frame.loc[row, "last_login_at"] = WINDOW.start - timedelta(days=3)
    return frame


def _login_before_creation(frame: pd.DataFrame) -> pd.DataFrame:
    row = frame.index[0]
    frame.loc[row, "first_login_at"] = frame.loc[row, "created_at"] - timedelta(seconds=1)
    return frame


BAD_CASES = {
    "duplicate user id": (_duplicate_id, "expect_column_values_to_be_unique", "user_id"),
    "null user id": (_set("user_id", None), "expect_column_values_to_not_be_null", "user_id"),
    "user of another client": (_set("client_id", 2), "expect_column_values_to_be_in_set", "client_id"),
    "unmapped current status": (_set("current_status", "suspended"), "expect_column_values_to_be_in_set",
                                "current_status"),
    "unmapped history status": (_set("history_status", "on_leave"), "expect_column_values_to_be_in_set",
                                "history_status"),
    "created at the month's end": (_set("created_at", pd.Timestamp(WINDOW.end)),
                                   "expect_column_values_to_be_between", "created_at"),
    "login in the future": (_set("newest_login_at", pd.Timestamp(NOW + timedelta(days=2))),
                            "expect_column_values_to_be_between", "newest_login_at"),
    "status change in the future": (_set("newest_status_change_at", pd.Timestamp(NOW + timedelta(hours=1))),
                                    "expect_column_values_to_be_between", "newest_status_change_at"),
    "month's logins before the window": (_login_before_window, "expect_column_values_to_be_between",
                                         "last_login_at"),
    "login before the account existed": (_login_before_creation,
                                         "expect_column_pair_values_a_to_be_greater_than_b", "first_login_at"),
    "no users": (lambda frame: frame.iloc[0:0], "expect_table_row_count_to_be_between", None),
    "missing column": (lambda frame: frame.drop(columns=["role"]),
                       "expect_table_columns_to_match_ordered_list", None),
}


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_data_fails_the_expectation_that_guards_it(snapshot: pd.DataFrame, tmp_path: Path, case: str) -> None:
    corrupt, expectation, column = BAD_CASES[case]
    outcome = validate_snapshot(corrupt(snapshot.copy()), CONTEXT, tmp_path)

    assert not outcome.success
    assert (expectation, column) in {(f.expectation, f.column) for f in outcome.failures}
    assert str(outcome.report_path) in outcome.message and expectation in outcome.message
    assert outcome.report_path == tmp_path / "data_docs" / "index.html"
    assert "user_facts_MEGHNA_2023-05" in outcome.report_path.read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "validation.json").read_text(encoding="utf-8"))
    assert saved["success"] is False and expectation in {f["expectation"] for f in saved["failures"]}
    assert {"expectation": expectation, "column": column, "success": False} in saved["checked"]


def test_logins_in_the_month_need_a_latest_login(snapshot: pd.DataFrame, tmp_path: Path) -> None:
    frame = snapshot.copy()
    row = frame.index[frame["logins_in_month"] > 0][0]
    frame.loc[row, "last_login_at"] = pd.NaT

    outcome = validate_snapshot(frame, CONTEXT, tmp_path)

    assert not outcome.success
    assert ("expect_column_values_to_not_be_null", "last_login_at") in {
        (f.expectation, f.column) for f in outcome.failures
    }


def test_a_rerun_replaces_the_report(snapshot: pd.DataFrame, tmp_path: Path) -> None:
    validate_snapshot(_duplicate_id(snapshot.copy()), CONTEXT, tmp_path)
    failed_again = validate_snapshot(_duplicate_id(snapshot.copy()), CONTEXT, tmp_path)

    assert not failed_again.success
    assert len(list((tmp_path / "data_docs" / "validations").rglob("*.html"))) == 1  # this run's only

    passed = validate_snapshot(snapshot, CONTEXT, tmp_path)

    assert passed.success
    assert not (tmp_path / "data_docs").exists()  # no stale failure left to mislead anyone
    assert json.loads((tmp_path / "validation.json").read_text(encoding="utf-8"))["success"] is True
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
