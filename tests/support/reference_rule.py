"""An independent statement of contract section 2 over raw DMS rows, for tests only.

Written straight from the contract, row by row, with none of the production code's shortcuts,
so that the SQL extraction plus the pure rule can be checked against it on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from include.dms_billing.core.billing_month import BillingWindow


@dataclass(frozen=True)
class Expected:
    status_at_month_end: str
    billable_reason: str
    last_login_at: datetime | None  # aware UTC
    logins_in_month: int
    status_source: str


def _utc(naive: datetime | None) -> datetime | None:
    return None if naive is None else naive.replace(tzinfo=timezone.utc)


def billable_users(
    users: list[dict], changes: list[dict], logins: list[dict], client_id: int, window: BillingWindow,
    status_lookup: dict[str, str],
) -> dict[int, Expected]:
    """user_id -> Expected, for every billable user of ``client_id`` (rows as dicts, naive UTC)."""
    result = {}
    for user in users:
        if user["client_id"] != client_id or _utc(user["created_at"]) >= window.end:
            continue
        uid = user["id"]
        before_end = [c for c in changes if c["user_id"] == uid and _utc(c["changed_at"]) < window.end]
        deleted_at = _utc(user.get("deleted_at"))
        if deleted_at is not None and deleted_at < window.end:
            status, source = "inactive", "deleted"
        elif before_end:
            latest = max(before_end, key=lambda c: (c["changed_at"], c["id"]))
            status, source = status_lookup[latest["status"]], "history"
        else:
            status, source = status_lookup[user["status"]], "current"
        times = [_utc(l["logged_in_at"]) for l in logins if l["user_id"] == uid]
        in_month = [t for t in times if window.login_start <= t < window.end]
        before = [t for t in times if t < window.end]
        if status == "active":
            reason = "active"
        elif in_month:
            reason = "inactive_recent_login"
        else:
            continue
        result[uid] = Expected(status, reason, max(before) if before else None, len(in_month), source)
    return result
