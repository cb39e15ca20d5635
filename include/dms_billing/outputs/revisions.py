"""Revisions of a sealed list (contract section 8): a later run's list, kept beside the billed one.

``list_difference`` is pure: who was added, who removed and whose reason changed between the
sealed list and a recomputed one. Only those change a bill, so only they make a revision (a
late login of a user already billed as active does not). A revision is written under
``revisions/<id>/``, the id a hash of the recomputed users and reasons, so a retry with the
same data finds it there and writes nothing new. ``last_check.json`` records what this run
found (a revision or none) for the run's report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.dms_billing.outputs.atomic import atomic_path, write_bytes, write_text
from include.dms_billing.outputs.billable_list import to_csv_bytes
from include.dms_billing.outputs.paths import ClientMonthPaths

DIFFERENCE_FILE = "difference.json"


@dataclass(frozen=True)
class ListedUser:
    user_id: int
    username: str | None
    full_name: str | None
    billable_reason: str | None  # on the recomputed list (None: removed from it)
    sealed_reason: str | None  # on the sealed list (None: added)


@dataclass(frozen=True)
class ListDifference:
    added: list[ListedUser] = field(default_factory=list)
    removed: list[ListedUser] = field(default_factory=list)
    reason_changed: list[ListedUser] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.reason_changed)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "reason_changed": len(self.reason_changed)}


def _text(value: object) -> str | None:
    return None if pd.isna(value) else str(value)


def list_difference(sealed: pd.DataFrame, recomputed: pd.DataFrame) -> ListDifference:
    """What a recomputed list would change on the bill: users added, removed, reason changed."""
    keep = ["user_id", "username", "full_name", "billable_reason"]
    both = sealed[keep].merge(recomputed[keep], on="user_id", how="outer", suffixes=("_sealed", ""),
                              indicator=True).sort_values("user_id")

    def users(rows: pd.DataFrame) -> list[ListedUser]:
        return [ListedUser(int(r.user_id), _text(r.username if pd.notna(r.username) else r.username_sealed),
                           _text(r.full_name if pd.notna(r.full_name) else r.full_name_sealed),
                           _text(r.billable_reason), _text(r.billable_reason_sealed))
                for r in rows.itertuples(index=False)]

    matched = both[both["_merge"] == "both"]
    return ListDifference(
        added=users(both[both["_merge"] == "right_only"]),
        removed=users(both[both["_merge"] == "left_only"]),
        reason_changed=users(matched[matched["billable_reason"] != matched["billable_reason_sealed"]]),
    )


def revision_id(recomputed: pd.DataFrame) -> str:
    """The same users with the same reasons give the same id, whatever else the run saw."""
    lines = sorted(f"{int(u)},{r}" for u, r in zip(recomputed["user_id"], recomputed["billable_reason"]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Recheck:
    """A later run's list compared with the sealed one; ``revision`` None: they are the same bill."""

    client_code: str
    billing_month: str
    sealed_count: int
    recomputed_count: int
    difference: ListDifference
    revision: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Recheck:
        data = json.loads(text)
        data["difference"] = ListDifference(
            **{kind: [ListedUser(**u) for u in users] for kind, users in data["difference"].items()})
        return cls(**data)


def recheck(paths: ClientMonthPaths, sealed: pd.DataFrame, recomputed: pd.DataFrame) -> Recheck:
    difference = list_difference(sealed, recomputed)
    revision = None if difference.empty else revision_id(recomputed)
    return Recheck(paths.client_code, paths.billing_month, len(sealed), len(recomputed), difference, revision)


def write_recheck(paths: ClientMonthPaths, recomputed: pd.DataFrame, found: Recheck) -> None:
    """Keep a differing list as a revision (once: its folder is complete when the difference is
    there), then note what this run found. Never touches the sealed files."""
    if found.revision is not None:
        folder = paths.revision_dir(found.revision)
        if not (folder / DIFFERENCE_FILE).exists():
            with atomic_path(folder / "billable_users.parquet") as tmp:
                pq.write_table(pa.Table.from_pandas(recomputed, preserve_index=False), tmp)
            write_bytes(folder / "billable_users.csv", to_csv_bytes(recomputed))
            write_text(folder / DIFFERENCE_FILE, found.to_json())
    write_text(paths.last_check, found.to_json())


def read_last_check(paths: ClientMonthPaths) -> Recheck | None:
    return Recheck.from_json(paths.last_check.read_text(encoding="utf-8")) if paths.last_check.exists() else None
