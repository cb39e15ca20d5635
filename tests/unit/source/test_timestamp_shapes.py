"""SQLite timestamps in any readable shape bill exactly as the contract says.

SQLite compares stored timestamps as text, so '2023-10-31T10:00:00' or an offset suffix would
sort across the month's bounds. The same DMS rows are written in each shape (and in a mix of
them, naive and offset text in one column) and must give the snapshot, and so the bill, of the
canonical 'YYYY-MM-DD HH:MM:SS' text: every case of contract section 2 at the closing day, plus
logins, status changes, creation and deletion on the opening day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, BillingWindow, billing_window
from include.dms_billing.core.config import StatusMap
from include.dms_billing.core.rule import decide
from include.dms_billing.source.extraction import extract_user_facts
from tests.support import reference_rule
from tests.support.scenarios import SECOND, Source, section2_cases

MAY = BillingMonth(2023, 5)
MICRO = timedelta(microseconds=100)
# Every timestamp the rule compares: (table, column).
STAMPS = [("users", "created_at"), ("users", "deleted_at"), ("user_status_changes", "changed_at"),
          ("user_logins", "logged_in_at")]


def _offset(hours: int, minutes: int = 0) -> Callable[[datetime], str]:
    def shape(utc: datetime) -> str:
        local = utc + timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)
        sign = "+" if hours >= 0 else "-"
        return f"{local.isoformat(sep='T')}{sign}{abs(hours):02d}:{minutes:02d}"
    return shape


SHAPES: dict[str, Callable[[datetime], str]] = {
    "T separator": lambda utc: utc.isoformat(sep="T"),
    "+06:00": lambda utc: (utc + timedelta(hours=6)).isoformat(sep=" ") + "+06:00",
    "T and +06:00": _offset(6),
    "-05:30": _offset(-5, 30),
    "+14:00": _offset(14),
    "-12:00": _offset(-12),
    "Z": lambda utc: utc.isoformat(sep="T") + "Z",
    "always a fraction": lambda utc: utc.isoformat(sep=" ", timespec="microseconds"),
}


def _mixed(utc: datetime, row: int) -> str:
    return list(SHAPES.values())[row % len(SHAPES)](utc)


def opening_and_closing_day_cases(src: Source, client_id: int, w: BillingWindow) -> None:
    """Creation, deletion, status changes and logins at the month's opening instant, and a
    tenth of a millisecond either side of the bounds (what julianday() alone would round)."""
    old = w.start - timedelta(days=60)
    active, inactive = ("active", old), ("inactive", old)
    u = src.user
    u(client_id, "active", w.start, history=[("active", w.start)], expect="active")
    u(client_id, "active", old, deleted=w.start, history=[active], expect=None)
    u(client_id, "inactive", old, history=[inactive, ("active", w.start)], expect="active")
    u(client_id, "inactive", old, history=[active, ("inactive", w.start + SECOND)], expect=None)
    u(client_id, "inactive", old, history=[inactive], logins=[w.start + SECOND], expect="inactive_recent_login")
    u(client_id, "inactive", old, history=[inactive], logins=[w.start - MICRO], expect=None)
    u(client_id, "inactive", old, history=[inactive], logins=[w.end - MICRO], expect="inactive_recent_login")
    u(client_id, "inactive", old, history=[inactive], logins=[w.end + MICRO], expect=None)
    u(client_id, "active", w.end - MICRO, history=[("active", w.end - MICRO)], expect="active")
    u(client_id, "active", old, deleted=w.end - MICRO, history=[active], expect=None)
    # The latest login before the end is weeks before it, with one just after the end.
    u(client_id, "inactive", old, history=[inactive], logins=[w.start - timedelta(days=20), w.end + SECOND], expect=None)
    u(client_id, "inactive", old, history=[inactive], logins=[w.end - SECOND, w.end + timedelta(hours=20)],
      expect="inactive_recent_login")


def _reshape(engine: sa.Engine, shape: Callable[[datetime, int], str]) -> None:
    """Rewrite every stored timestamp (canonical UTC text) in ``shape``."""
    with engine.begin() as conn:
        for table, column in STAMPS:
            rows = conn.execute(sa.text(f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :value WHERE rowid = :rowid"),
                [{"rowid": rowid, "value": shape(datetime.fromisoformat(value), i)} for i, (rowid, value) in enumerate(rows)],
            )


def _snapshot(engine: sa.Engine, window: BillingWindow, target: Path) -> pd.DataFrame:
    extract_user_facts(engine, 1, window, target)
    return pq.read_table(target).to_pandas()


@pytest.fixture(scope="module", params=["Asia/Dhaka", "America/New_York"])
def dms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Section 2's cases and the opening-day ones, and the canonical snapshot of them."""
    folder = tmp_path_factory.mktemp("shapes")
    window = billing_window(MAY, request.param)
    src = Source()
    src.client(1, "ONE", request.param)
    section2_cases(src, 1, window)
    opening_and_closing_day_cases(src, 1, window)
    path = folder / "canonical.sqlite"
    src.load(sa.create_engine(f"sqlite:///{path}"))
    canonical = _snapshot(sa.create_engine(f"sqlite:///{path}"), window, folder / "canonical.parquet")
    return {"src": src, "window": window, "path": path, "canonical": canonical, "folder": folder}


@pytest.mark.parametrize("shape", [*SHAPES, "mixed"])
def test_every_shape_bills_as_the_canonical_text(dms, shape: str, tmp_path: Path) -> None:
    copy = tmp_path / "dms.sqlite"
    copy.write_bytes(dms["path"].read_bytes())
    engine = sa.create_engine(f"sqlite:///{copy}")
    _reshape(engine, _mixed if shape == "mixed" else lambda utc, _row: SHAPES[shape](utc))

    snapshot = _snapshot(engine, dms["window"], tmp_path / "facts.parquet")

    pd.testing.assert_frame_equal(snapshot, dms["canonical"])
    src, window = dms["src"], dms["window"]
    billed = decide(pq.read_table(tmp_path / "facts.parquet"), window, StatusMap(), "ONE")
    assert dict(zip(billed["user_id"], billed["billable_reason"])) == {u: r for u, r in src.expected.items() if r}
    assert set(billed["user_id"]) == set(
        reference_rule.billable_users(src.users, src.changes, src.logins, 1, window, StatusMap().lookup()))


def test_the_canonical_snapshot_is_what_the_contract_says(dms) -> None:
    """The fixture's cases themselves, so that 'same as canonical' means 'right'."""
    src, window = dms["src"], dms["window"]
    expected = reference_rule.billable_users(src.users, src.changes, src.logins, 1, window, StatusMap().lookup())
    assert {u for u, r in src.expected.items() if r} == set(expected)
    assert len(dms["canonical"]) == len([u for u in src.users if u["created_at"] < window.end.replace(tzinfo=None)])
