"""What the snapshot cannot show: DMS rows the extraction could not read, and users it left out.

Contract section 8: no user leaves the bill, or enters it, for a reason the contract does not
give, and a row the pipeline cannot read (a timestamp that is no UTC instant, a missing
``created_at``) fails the client, naming the rows. The snapshot holds only the users it kept,
so the extract step asks the DMS, beside it: the SQLite timestamp audit
(``include/sql/timestamp_audit.sqlite.sql``; typed columns on PostgreSQL and MySQL need none)
and the reconciliation (``include/sql/reconciliation.sql``). The result is saved as JSON beside
the snapshot; the validate step turns it into failures and the report's ``reconciliation``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.outputs.atomic import write_text
from include.dms_billing.outputs.storage import StoragePath
from include.dms_billing.source.extraction import batch_query, window_params
from include.dms_billing.source.sql_files import dialect_sql, load_sql
from include.dms_billing.source.validation import Failure

AUDIT_FILES = {"sqlite": "timestamp_audit.sqlite.sql", "mysql": "timestamp_audit.mysql.sql"}
SAMPLE_SIZE = 10  # rows named per failure; the counts are complete

# Why a user is not in the snapshot. Only the first is a reason the contract gives.
CREATED_AFTER = "created after the month"
MISSING_CREATED = "created_at missing"
UNREADABLE_CREATED = "created_at unreadable"
LOGGED_IN_BEFORE_CREATED = "created after the month, yet logged in before its end"
STATUS_BEFORE_CREATED = "created after the month, yet its status changed before its end"
ALLOWED_REASONS = frozenset({CREATED_AFTER})


@dataclass(frozen=True)
class SourceChecks:
    """One client-month's audit and reconciliation, as saved beside the snapshot."""

    source_users: int  # users of the client in the DMS
    snapshot_users: int  # of them, in the snapshot
    left_out: dict[str, list[dict[str, Any]]]  # reason -> [{"user_id", "created_at"}], by user id
    unreadable: dict[str, dict[str, Any]] = field(default_factory=dict)  # "table.column" -> count, sample

    def failures(self) -> list[Failure]:
        """Each problem as a failure that names table, column, user id and value."""
        failures = [
            Failure("timestamp_readable_as_utc_instant", column, found["count"], found["sample"])
            for column, found in self.unreadable.items()
        ]
        for reason, users in self.left_out.items():
            if reason not in ALLOWED_REASONS:
                sample = [_named(user) for user in users[:SAMPLE_SIZE]]
                failures.append(Failure(f"user left out: {reason}", "users.created_at", len(users), sample))
        unaccounted = self.source_users - self.snapshot_users - sum(map(len, self.left_out.values()))
        if unaccounted:
            failures.append(Failure(f"users accounted for: {self.source_users} in the DMS, {self.snapshot_users} in "
                                    f"the snapshot, {unaccounted:+d} neither (the DMS changed meanwhile?)",
                                    "users.id", abs(unaccounted), []))
        return failures

    def summary(self) -> dict[str, Any]:
        """The ``reconciliation`` section of ``validation.json``."""
        return {
            "description": self.describe(),
            "source_users": self.source_users,
            "snapshot_users": self.snapshot_users,
            "left_out": {reason: {"count": len(users), "allowed": reason in ALLOWED_REASONS,
                                  "user_ids": [user["user_id"] for user in users]}
                         for reason, users in self.left_out.items()},
            "unreadable_timestamps": self.unreadable,
        }

    def describe(self) -> str:
        """One line for people: the counts and why users were left out."""
        reasons = "; ".join(f"{len(users)} {reason}" for reason, users in self.left_out.items())
        return (f"DMS {self.source_users} user(s), snapshot {self.snapshot_users}"
                + (f", left out: {reasons}" if reasons else ""))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SourceChecks:
        return cls(**json.loads(text))


def _named(user: dict[str, Any]) -> str:
    value = user["created_at"]
    return f"user {user['user_id']}: {'NULL' if value is None else repr(value)}"


def _text(value: Any) -> str | None:
    """A stored timestamp as people read it: ISO text for a driver's datetime, else as stored."""
    if value is None:
        return None
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)


def _reason(row: sa.Row) -> str:
    if row.created_at is None:
        return MISSING_CREATED
    if not row.created_readable:
        return UNREADABLE_CREATED
    if row.logged_in_before_end:
        return LOGGED_IN_BEFORE_CREATED
    if row.status_changed_before_end:
        return STATUS_BEFORE_CREATED
    return CREATED_AFTER


def _audit(conn: sa.Connection, dialect: str, params: dict[str, Any]) -> dict[int, dict[str, dict[str, Any]]]:
    """Per client, the unreadable timestamps per ``table.column``: how many, and the first few
    named. SQLite's text and MySQL's zero dates; PostgreSQL's typed columns hold instants only."""
    audit = AUDIT_FILES.get(dialect)
    found: dict[int, dict[str, dict[str, Any]]] = {}
    if audit is None:
        return found
    for row in conn.execute(batch_query(load_sql(audit)), params):
        entry = found.setdefault(row.client_id, {}).setdefault(f"{row.table_name}.{row.column_name}",
                                                                {"count": 0, "sample": []})
        entry["count"] += 1
        if len(entry["sample"]) < SAMPLE_SIZE:
            entry["sample"].append(f"user {row.user_id}: {row.value!r} ({row.stored_type})")
    return found


def check_sources(engine: sa.Engine, window: BillingWindow, snapshot_users: Mapping[int, int]) -> dict[int, SourceChecks]:
    """Audit and reconcile a batch's clients (``snapshot_users``: each client's snapshot size) in
    one query of each kind."""
    dialect = engine.dialect.name
    params = {**window_params(dialect, window), "client_ids": list(snapshot_users)}
    left_out: dict[int, dict[str, list[dict[str, Any]]]] = {client_id: {} for client_id in snapshot_users}
    with engine.connect() as conn:
        source_users = dict(conn.execute(batch_query(load_sql("source_users.sql")), params).tuples().all())
        for row in conn.execute(batch_query(dialect_sql("reconciliation.sql", dialect)), params):
            left_out[row.client_id].setdefault(_reason(row), []).append(
                {"user_id": row.user_id, "created_at": _text(row.created_at)})
        unreadable = _audit(conn, dialect, params)
    return {client_id: SourceChecks(source_users.get(client_id, 0), rows, left_out[client_id],
                                    unreadable.get(client_id, {}))
            for client_id, rows in snapshot_users.items()}


def check_source(engine: sa.Engine, client_id: int, window: BillingWindow, snapshot_users: int) -> SourceChecks:
    """Audit and reconcile one client's users against a snapshot of ``snapshot_users``."""
    return check_sources(engine, window, {client_id: snapshot_users})[client_id]


def save_source_checks(checks: SourceChecks, target: StoragePath) -> None:
    write_text(target, checks.to_json())


def load_source_checks(target: StoragePath) -> SourceChecks | None:
    """The checks the extract step saved, or None when it saved none (an older snapshot)."""
    return SourceChecks.from_json(target.read_text(encoding="utf-8")) if target.exists() else None
