"""What changed since last month's list: users newly billable, users no longer billable, the counts.

"Last month's list" is the stored billable list of the previous billing month for the same
client (``billable/billing_month=YYYY-MM/client_code=CODE/billable_users.parquet``, complete
when its ``summary.json`` exists), as sealed once it is billed (``sealed_lists``). Without it there is nothing to compare with, and the list
says so ("no list for 2023-03 to compare with") instead of calling every user new.

Pure functions over frames, except ``read_previous_list`` and the JSON round trip.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.dms_billing.core.billing_month import BillingMonth, BillingWindow
from include.dms_billing.core.columns import CHANGE_NEW, CHANGE_UNCHANGED
from include.dms_billing.core.config import ACTIVE, StatusMap
from include.dms_billing.core.rule import status_at_month_end
from include.dms_billing.outputs.fingerprints import Fingerprint, read_marker, verify
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.storage import StoragePath, read_frame


@dataclass(frozen=True)
class ChangedUser:
    """One user who entered or left the list; ``why`` is in the client's words and local time."""

    user_id: int
    username: str | None
    full_name: str | None
    why: str
    previous_reason: str | None = None  # the billable reason on last month's list (users who left)


@dataclass(frozen=True)
class ListChanges:
    billing_month: str
    previous_month: str
    previous_count: int | None  # None: no list for the previous month
    current_count: int
    newly_billable: list[ChangedUser] = field(default_factory=list)
    no_longer_billable: list[ChangedUser] = field(default_factory=list)

    @property
    def compared(self) -> bool:
        return self.previous_count is not None

    @property
    def difference(self) -> int | None:
        return None if self.previous_count is None else self.current_count - self.previous_count

    def headline(self) -> str:
        """One line for people: the count compared with last month, or why there is no comparison."""
        if not self.compared:
            return f"no list for {self.previous_month} to compare with"
        diff = self.difference
        trend = "the same as" if diff == 0 else f"{abs(diff):,} {'more' if diff > 0 else 'fewer'} than"
        return (f"{self.current_count:,} billable users, {trend} {self.previous_month} ({self.previous_count:,}): "
                f"{len(self.newly_billable):,} newly billable, {len(self.no_longer_billable):,} no longer billable")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ListChanges:
        data = json.loads(text)
        for key in ("newly_billable", "no_longer_billable"):
            data[key] = [ChangedUser(**user) for user in data[key]]
        return cls(**data)


def read_previous_list(paths: ClientMonthPaths, sealed: Fingerprint | None = None) -> pd.DataFrame | None:
    """The previous month's complete list of the same client, or None. When it is sealed
    (``sealed``: the ledger's fingerprint, else the marker beside it) it is read only once its
    files are checked to be the sealed list, and never from a later revision."""
    previous = ClientMonthPaths(
        paths.root, str(BillingMonth.parse(paths.billing_month).previous()), paths.client_code
    )
    sealed = sealed or read_marker(previous)
    if sealed is not None:
        verify(previous, sealed)
    elif not (previous.summary.exists() and previous.billable_parquet.exists()):
        return None
    return read_frame(previous.billable_parquet, columns=["user_id", "username", "full_name", "billable_reason"])


def _local(moment: pd.Timestamp, tz: str) -> str:
    return moment.tz_convert(tz).isoformat()


def _why_not_billable(user_id: int, status: pd.DataFrame, window: BillingWindow) -> str:
    """Why a user on last month's list is not on this one, from this month's status (by user id)."""
    if user_id not in status.index:
        return "no longer in Sokrio DMS"
    source, set_at = status.at[user_id, "status_source"], status.at[user_id, "status_set_at"]
    no_login = "no login in the month"
    if source == "deleted":
        return f"deleted at {_local(set_at, window.timezone)}; {no_login}"
    if source == "history":
        return f"inactive since {_local(set_at, window.timezone)}; {no_login}"
    return f"inactive (current status, no status history); {no_login}"


def compare_with_previous(
    billed: pd.DataFrame,
    snapshot: pa.Table,
    window: BillingWindow,
    status_map: StatusMap,
    previous: pd.DataFrame | None,
) -> tuple[pd.DataFrame, ListChanges]:
    """``billed`` with ``change_since_last_month`` filled in, and the changes for the email."""
    month = window.month
    billed = billed.copy()
    if previous is None:
        billed["change_since_last_month"] = ""
        return billed, ListChanges(str(month), str(month.previous()), None, len(billed))
    before = set(previous["user_id"].astype("int64"))
    is_new = ~billed["user_id"].isin(before)
    billed["change_since_last_month"] = is_new.map({True: CHANGE_NEW, False: CHANGE_UNCHANGED}).astype(str)
    newly = [
        ChangedUser(int(r.user_id), _text(r.username), _text(r.full_name), r.billable_reason)
        for r in billed[is_new].itertuples(index=False)
    ]
    left = previous[~previous["user_id"].isin(set(billed["user_id"]))].sort_values("user_id")
    gone = snapshot.filter(pc.is_in(snapshot["user_id"], value_set=pa.array(left["user_id"], pa.int64())))
    status = status_at_month_end(gone, window, status_map).to_pandas().set_axis(gone["user_id"].to_pylist())
    if (status["status_at_month_end"] == ACTIVE).any():  # cannot be: active is billable
        raise ValueError("a user active at month end is missing from the list")
    no_longer = [
        ChangedUser(int(r.user_id), _text(r.username), _text(r.full_name),
                    _why_not_billable(int(r.user_id), status, window), r.billable_reason)
        for r in left.itertuples(index=False)
    ]
    return billed, ListChanges(str(month), str(month.previous()), len(previous), len(billed), newly, no_longer)


def _text(value: object) -> str | None:
    return None if pd.isna(value) else str(value)


def read_changes(path: StoragePath) -> ListChanges | None:
    """The changes stored beside a list; None for a list written before changes were kept."""
    return ListChanges.from_json(path.read_text(encoding="utf-8")) if path.exists() else None
