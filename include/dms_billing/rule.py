"""The billing rule (contract section 2) as a pure function: a snapshot in, the billable list out.

No I/O here. The snapshot already carries, per user, the latest status change before the
month's end and the login facts of the month's window (computed by the database); this module
decides, for each user, the status at month end, whether the user is billable, and why.
"""

from __future__ import annotations

import pandas as pd

from include.dms_billing.billing_month import BillingWindow
from include.dms_billing.columns import (
    BILLABLE_COLUMNS,
    REASON_ACTIVE,
    REASON_RECENT_LOGIN,
)
from include.dms_billing.config import ACTIVE, StatusMap


class UnmappedStatusError(ValueError):
    """A raw status the configuration does not map: no guessing on money."""


def status_at_month_end(snapshot: pd.DataFrame, window: BillingWindow, status_map: StatusMap) -> pd.DataFrame:
    """Per user: ``status_at_month_end`` (active/inactive), ``status_source`` and ``status_set_at``.

    Deleted before the end: inactive. Else the latest status change before the end. Else (no
    history before the end) the current ``users.status``, marked ``current``.
    """
    deleted = snapshot["deleted_at"].notna() & (snapshot["deleted_at"] < window.end)
    has_history = snapshot["history_status"].notna()
    raw = snapshot["history_status"].where(has_history, snapshot["current_status"])
    mapped = raw.map(status_map.lookup())
    unmapped = mapped.isna() & ~deleted
    if unmapped.any():
        values = sorted(raw[unmapped].astype(str).unique())
        raise UnmappedStatusError(f"status values not mapped to active/inactive in the configuration: {values}")
    source = pd.Series("current", index=snapshot.index).where(~has_history, "history").where(~deleted, "deleted")
    status = mapped.where(~deleted, "inactive")
    # When that status was set (UTC): the deletion, else the status change; unknown for ``current``.
    set_at = snapshot["history_changed_at"].where(has_history).where(~deleted, snapshot["deleted_at"])
    return pd.DataFrame(
        {"status_at_month_end": status, "status_source": source, "status_set_at": set_at}, index=snapshot.index
    )


def decide(
    snapshot: pd.DataFrame,
    window: BillingWindow,
    status_map: StatusMap,
    client_code: str,
) -> pd.DataFrame:
    """The billable users of one client for ``window``, one row each, ordered by user id.

    Billable = active at month end (reason ``active``) or, if not, at least one login in the
    window (reason ``inactive_recent_login``). Users created at or after the end never count.
    ``last_login_at`` and ``status_set_at`` are given in the client's local time.
    """
    existing = snapshot[snapshot["created_at"] < window.end]
    status = status_at_month_end(existing, window, status_map)
    active = status["status_at_month_end"] == ACTIVE
    logged_in = existing["logins_in_month"] > 0
    billable = active | logged_in
    chosen = existing[billable]
    billed = pd.DataFrame(
        {
            "client_code": client_code,
            "billing_month": str(window.month),
            "user_id": chosen["user_id"],
            "username": chosen["username"],
            "full_name": chosen["full_name"],
            "role": chosen["role"],
            "status_at_month_end": status.loc[billable, "status_at_month_end"],
            "billable_reason": active[billable].map({True: REASON_ACTIVE, False: REASON_RECENT_LOGIN}),
            "last_login_at": chosen["last_login_at"].dt.tz_convert(window.timezone),
            "logins_in_month": chosen["logins_in_month"],
            "status_source": status.loc[billable, "status_source"],
            "status_set_at": status.loc[billable, "status_set_at"].dt.tz_convert(window.timezone),
            "change_since_last_month": "",  # filled in by list_changes when a previous list exists
        },
        columns=BILLABLE_COLUMNS,
    )
    return billed.sort_values("user_id", kind="stable").reset_index(drop=True)
