"""The billing rule (contract section 2) as a pure function: a snapshot in, the billable list out.

No I/O here. The snapshot already carries, per user, the latest status change before the
month's end and the login facts of the month's window (computed by the database); this module
decides, for each user, the status at month end, whether the user is billable, and why.

The rule works on the snapshot as Arrow (as it is read from Parquet) with ``pyarrow.compute``:
column-at-a-time, with no per-call overhead worth the name, so a client's month is decided in
a few milliseconds (docs/benchmarks.md). Only the billable list becomes a pandas frame.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.core.columns import BILLABLE_COLUMNS, REASON_ACTIVE, REASON_RECENT_LOGIN, UTC_TS
from include.dms_billing.core.config import ACTIVE, INACTIVE, StatusMap


class UnmappedStatusError(ValueError):
    """A raw status the configuration does not map: no guessing on money."""


def status_at_month_end(snapshot: pa.Table, window: BillingWindow, status_map: StatusMap) -> pa.Table:
    """Per user: ``status_at_month_end`` (active/inactive), ``status_source`` and ``status_set_at``.

    Deleted before the end: inactive. Else the latest status change before the end. Else (no
    history before the end) the current ``users.status``, marked ``current``.
    """
    end = pa.scalar(window.end, type=UTC_TS)
    deleted = pc.fill_null(pc.less(snapshot["deleted_at"], end), False)
    has_history = pc.is_valid(snapshot["history_status"])
    raw = pc.if_else(has_history, snapshot["history_status"], snapshot["current_status"])
    lookup = status_map.lookup()
    known = pa.array(list(lookup), pa.string())
    mapped = pc.take(pa.array(list(lookup.values()), pa.string()), pc.index_in(raw, value_set=known))
    unmapped = pc.and_(pc.is_null(mapped), pc.invert(deleted))
    if pc.any(unmapped).as_py():
        values = sorted({str(value) for value in pc.filter(raw, unmapped).to_pylist()})
        raise UnmappedStatusError(f"status values not mapped to active/inactive in the configuration: {values}")
    source = pc.if_else(deleted, "deleted", pc.if_else(has_history, "history", "current"))
    # When that status was set (UTC): the deletion, else the status change; unknown for ``current``.
    history_set_at = pc.if_else(has_history, snapshot["history_changed_at"], pa.scalar(None, UTC_TS))
    return pa.table(
        {
            "status_at_month_end": pc.if_else(deleted, INACTIVE, mapped),
            "status_source": source,
            "status_set_at": pc.if_else(deleted, snapshot["deleted_at"], history_set_at),
        }
    )


def status_from_current(snapshot: pa.Table, window: BillingWindow, status_map: StatusMap) -> int:
    """How many users of the month (billable or not) had no history before its end, so that
    their status was taken from the current ``users.status``: the data-quality count contract
    section 2 asks for. A user left off the bill by its current status counts too."""
    existing = snapshot.filter(pc.less(snapshot["created_at"], pa.scalar(window.end, type=UTC_TS)))
    sources = status_at_month_end(existing, window, status_map)["status_source"]
    return pc.sum(pc.equal(sources, "current")).as_py() or 0


def decide(snapshot: pa.Table, window: BillingWindow, status_map: StatusMap, client_code: str) -> pd.DataFrame:
    """The billable users of one client for ``window``, one row each, ordered by user id.

    Billable = active at month end (reason ``active``) or, if not, at least one login in the
    window (reason ``inactive_recent_login``). Users created at or after the end never count.
    ``last_login_at`` and ``status_set_at`` are given in the client's local time.
    """
    existing = snapshot.filter(pc.less(snapshot["created_at"], pa.scalar(window.end, type=UTC_TS)))
    status = status_at_month_end(existing, window, status_map)
    active = pc.equal(status["status_at_month_end"], ACTIVE)
    billable = pc.or_(active, pc.fill_null(pc.greater(existing["logins_in_month"], 0), False))
    chosen, evidence, active = existing.filter(billable), status.filter(billable), pc.filter(active, billable)
    rows = chosen.num_rows
    local = pa.timestamp("us", tz=window.timezone)  # the same instants, shown in the client's zone
    billed = pa.table(
        {
            "client_code": pa.repeat(client_code, rows),
            "billing_month": pa.repeat(str(window.month), rows),
            "user_id": chosen["user_id"],
            "username": chosen["username"],
            "full_name": chosen["full_name"],
            "role": chosen["role"],
            "status_at_month_end": evidence["status_at_month_end"],
            "billable_reason": pc.if_else(active, REASON_ACTIVE, REASON_RECENT_LOGIN),
            "last_login_at": pc.cast(chosen["last_login_at"], local),
            "logins_in_month": chosen["logins_in_month"],
            "status_source": evidence["status_source"],
            "status_set_at": pc.cast(evidence["status_set_at"], local),
            "change_since_last_month": pa.repeat("", rows),  # filled in by list_changes when a previous list exists
        }
    )
    return billed.select(BILLABLE_COLUMNS).sort_by("user_id").to_pandas()
