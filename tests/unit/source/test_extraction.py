"""The SQL extraction plus the pure rule, against hand-written expectations and the reference rule.

Every case of contract section 2 is placed at the local-midnight boundaries of three timezones;
a second client with its own users checks that nothing leaks between clients.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.columns import SNAPSHOT_SCHEMA
from include.dms_billing.core.config import StatusMap
from include.dms_billing.core.rule import decide
from include.dms_billing.source.clients import fetch_clients
from include.dms_billing.source.extraction import extract_user_facts
from tests.support import reference_rule
from tests.support.scenarios import SECOND, Source, section2_cases

MAY = BillingMonth(2023, 5)


def _bill(engine: sa.Engine, client_id: int, window, tmp_path: Path):
    target = tmp_path / f"facts-{client_id}.parquet"
    rows = extract_user_facts(engine, client_id, window, target)
    table = pq.read_table(target)
    assert table.schema.equals(SNAPSHOT_SCHEMA) and table.num_rows == rows
    return decide(table, window, StatusMap(), "C")


def _as_expected(billed) -> dict[int, reference_rule.Expected]:
    return {
        row.user_id: reference_rule.Expected(
            row.status_at_month_end, row.billable_reason,
            None if row.last_login_at is None or row.last_login_at != row.last_login_at
            else row.last_login_at.to_pydatetime().astimezone(reference_rule.timezone.utc),
            row.logins_in_month, row.status_source,
        )
        for row in billed.itertuples()
    }


@pytest.mark.parametrize("tz", ["Asia/Dhaka", "Asia/Kolkata", "America/New_York"])
def test_every_section2_case_at_local_midnights(tz: str, tmp_path: Path) -> None:
    window = billing_window(MAY, tz)
    other = billing_window(MAY, "Asia/Dhaka")
    src = Source()
    src.client(1, "ONE", tz)
    src.client(2, "TWO", "Asia/Dhaka")
    section2_cases(src, 1, window)
    mine = dict(src.expected)
    section2_cases(src, 2, other)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(engine)

    billed = _bill(engine, 1, window, tmp_path)

    expected = {uid: reason for uid, reason in mine.items() if reason}
    assert dict(zip(billed["user_id"], billed["billable_reason"])) == expected
    assert _as_expected(billed) == reference_rule.billable_users(
        src.users, src.changes, src.logins, 1, window, StatusMap().lookup()
    )


def test_transition_month_counts_logins_from_16_april_local(tmp_path: Path) -> None:
    window = billing_window(BillingMonth(2023, 4), "Asia/Dhaka")
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    old = window.start - timedelta(days=30)
    inactive = [("inactive", old)]
    early = src.user(1, "inactive", old, history=inactive, logins=[window.start + timedelta(days=3)])
    last_second = src.user(1, "inactive", old, history=inactive, logins=[window.login_start - SECOND])
    first_second = src.user(1, "inactive", old, history=inactive, logins=[window.login_start])
    both = src.user(1, "inactive", old, history=inactive, logins=[window.start, window.login_start + timedelta(days=1)])
    active = src.user(1, "active", old, history=[("active", old)])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(engine)

    billed = _bill(engine, 1, window, tmp_path).set_index("user_id")

    assert set(billed.index) == {first_second, both, active}
    assert billed.loc[both, "logins_in_month"] == 1  # the login before 16 April does not count
    assert early not in billed.index and last_second not in billed.index


def test_clients_are_read_with_their_timezones(tmp_path: Path) -> None:
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    src.client(2, "TWO", "Asia/Kolkata")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(engine)
    assert [(c.client_code, c.timezone) for c in fetch_clients(engine)] == [("ONE", "Asia/Dhaka"), ("TWO", "Asia/Kolkata")]


def test_extraction_streams_in_chunks_to_one_file(tmp_path: Path) -> None:
    window = billing_window(MAY, "Asia/Dhaka")
    src = Source()
    src.client(1, "ONE", "Asia/Dhaka")
    section2_cases(src, 1, window)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(engine)
    target = tmp_path / "facts.parquet"
    rows = extract_user_facts(engine, 1, window, target, chunk_rows=3)
    meta = pq.ParquetFile(target).metadata
    assert rows == meta.num_rows == len([u for u in src.users if u["created_at"] < window.end.replace(tzinfo=None)])
    assert meta.num_row_groups > 1
    assert not list(tmp_path.glob(".facts.parquet.*")), "no temporary file is left behind"
