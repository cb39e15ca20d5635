"""Hand-written DMS rows for every case of contract section 2, with the expected answer per user.

Times are placed relative to the client's window (local midnights converted to UTC), so the
same scenario tests the boundaries in any timezone. Rows are naive UTC, as the DMS stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.demo.source_db import SCHEMA_FILE, bulk_load, create_source_schema, schema_statements
from include.dms_billing.source.sql_files import load_sql

SECOND = timedelta(seconds=1)
USER_COLUMNS = ["id", "client_id", "username", "full_name", "email", "phone", "role", "status", "created_at", "deleted_at"]
CHANGE_COLUMNS = ["id", "user_id", "status", "changed_at", "changed_by"]
LOGIN_COLUMNS = ["id", "user_id", "logged_in_at", "channel"]
CLIENT_COLUMNS = ["id", "code", "name", "correspondence_email", "account_manager_email", "timezone", "created_at"]


def naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


@dataclass
class Source:
    """Rows of a small DMS database, built up user by user."""

    clients: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    logins: list[dict] = field(default_factory=list)
    expected: dict[int, str | None] = field(default_factory=dict)  # user id -> reason or None

    def client(self, client_id: int, code: str, tz: str) -> None:
        self.clients.append(
            {"id": client_id, "code": code, "name": f"{code} Ltd", "correspondence_email": f"billing@{code.lower()}.example",
             "account_manager_email": "am@sokrio.example", "timezone": tz, "created_at": datetime(2022, 1, 1)}
        )

    def user(
        self, client_id: int, status: str, created: datetime, *, deleted: datetime | None = None,
        history: list[tuple[str, datetime]] = (), logins: list[datetime] = (), expect: str | None = None,
        name: str | None = None,
    ) -> int:
        uid = len(self.users) + 1
        self.users.append(
            {"id": uid, "client_id": client_id, "username": f"user{uid}", "full_name": name or f"User {uid}",
             "email": f"user{uid}@example.com", "phone": None, "role": "SR", "status": status,
             "created_at": naive(created), "deleted_at": naive(deleted) if deleted else None}
        )
        for value, at in history:
            self.changes.append({"id": len(self.changes) + 1, "user_id": uid, "status": value,
                                 "changed_at": naive(at), "changed_by": "admin"})
        for at in logins:
            self.logins.append({"id": len(self.logins) + 1, "user_id": uid, "logged_in_at": naive(at), "channel": "app"})
        self.expected[uid] = expect
        return uid

    def load(self, engine: sa.Engine, *, create_schema: bool = True) -> None:
        """Write the rows; ``create_schema=False``: into tables the caller created."""
        if create_schema:
            create_source_schema(engine)
        for table, columns, rows in (
            ("clients", CLIENT_COLUMNS, self.clients),
            ("users", USER_COLUMNS, self.users),
            ("user_status_changes", CHANGE_COLUMNS, self.changes),
            ("user_logins", LOGIN_COLUMNS, self.logins),
        ):
            bulk_load(engine, table, columns, [tuple(r[c] for c in columns) for r in rows])


def create_relaxed_schema(engine: sa.Engine, declared: str, relaxed: str) -> None:
    """The contract's tables with one declaration of the DDL (``declared``) written as ``relaxed``:
    a DMS copy (a view, a replica, an export) that lost a constraint, so rows that break it reach us."""
    ddl = load_sql(SCHEMA_FILE)
    assert declared in ddl
    with engine.begin() as conn:
        for statement in schema_statements(ddl.replace(declared, relaxed)):
            conn.exec_driver_sql(statement)


def section2_cases(src: Source, client_id: int, w: BillingWindow) -> None:
    """Every case of contract section 2 for one client and window, expectations included."""
    old = w.start - timedelta(days=60)
    active, inactive = ("active", old), ("inactive", old)
    mid = w.start + timedelta(days=10)
    u = src.user
    # Active at month end: billed whether or not used.
    u(client_id, "active", old, history=[active], expect="active")
    # Inactive all month: a login exactly at the local start counts, one second before does not.
    u(client_id, "inactive", old, history=[inactive], logins=[w.login_start], expect="inactive_recent_login")
    u(client_id, "inactive", old, history=[inactive], logins=[w.login_start - SECOND], expect=None)
    # A login one second before the local end counts; exactly at the end does not.
    u(client_id, "inactive", old, history=[inactive], logins=[w.end - SECOND], expect="inactive_recent_login")
    u(client_id, "inactive", old, history=[inactive], logins=[w.end], expect=None)
    # Deleted before the end: never active, even with an active history and current status.
    u(client_id, "active", old, deleted=w.end - SECOND, history=[active], expect=None)
    # Deleted before the end but logged in during the month: billed for the login.
    u(client_id, "inactive", old, deleted=w.end - SECOND, history=[active], logins=[mid], expect="inactive_recent_login")
    # Deleted exactly at the end: still active at month end.
    u(client_id, "inactive", old, deleted=w.end, history=[active], expect="active")
    # Status history: the latest change before the end wins; on equal times the highest id.
    u(client_id, "inactive", old, history=[active, ("inactive", mid)], expect=None)
    u(client_id, "active", old, history=[inactive, ("inactive", mid), ("active", mid)], expect="active")
    u(client_id, "inactive", old, history=[inactive, ("active", mid), ("inactive", mid)], expect=None)
    # A change exactly at the end is not before it: the earlier status holds.
    u(client_id, "inactive", old, history=[active, ("inactive", w.end)], expect="active")
    u(client_id, "active", old, history=[inactive, ("active", w.end)], expect=None)
    # Deactivated during the month after logging in: billed for the login.
    u(client_id, "inactive", old, history=[active, ("inactive", mid)], logins=[mid - SECOND], expect="inactive_recent_login")
    # No history before the end: the current status, marked as such.
    u(client_id, "active", old, expect="active")
    u(client_id, "inactive", old, expect=None)
    u(client_id, "inactive", old, history=[("inactive", w.end + SECOND)], logins=[mid], expect="inactive_recent_login")
    # Created during the month counts; created at the end or later does not, logins or not.
    u(client_id, "active", w.end - SECOND, history=[("active", w.end - SECOND)], expect="active")
    u(client_id, "active", w.end, history=[("active", w.end)], logins=[w.end + SECOND], expect=None)
    # Logins in earlier months set last_login_at but do not make an inactive user billable.
    u(client_id, "inactive", old, history=[inactive], logins=[old + SECOND, w.start - timedelta(days=3)], expect=None)
