"""Column lists and types of every table the pipeline writes: the one place each is defined.

The snapshot is what extraction hands to validation and to the rule: one row per user of one
client, with the facts the rule needs already computed by the database (status history before
the month's end, login facts for the window) plus a few data-quality facts used only by
validation (first and newest login, newest status change).
"""

from __future__ import annotations

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("client_id", pa.int64()),
        ("user_id", pa.int64()),
        ("username", pa.string()),
        ("full_name", pa.string()),
        ("role", pa.string()),
        ("current_status", pa.string()),  # users.status today
        ("created_at", UTC_TS),
        ("deleted_at", UTC_TS),
        ("history_status", pa.string()),  # latest status change before the month's end
        ("history_changed_at", UTC_TS),  # when that status was set
        ("last_login_at", UTC_TS),  # latest login before the month's end (any month)
        ("logins_in_month", pa.int64()),  # logins in the window that counts for this month
        ("first_login_at", UTC_TS),  # data quality: earliest login ever
        ("newest_login_at", UTC_TS),  # data quality: latest login ever (catches the future)
        ("newest_status_change_at", UTC_TS),  # data quality: latest status change ever
    ]
)
SNAPSHOT_COLUMNS: list[str] = SNAPSHOT_SCHEMA.names
SNAPSHOT_TIMESTAMP_COLUMNS: list[str] = [f.name for f in SNAPSHOT_SCHEMA if f.type == UTC_TS]

# Contract section 6: the columns of the list a client receives, in this order.
LIST_COLUMNS: list[str] = [
    "user_id",
    "username",
    "full_name",
    "role",
    "status_at_month_end",
    "billable_reason",
    "last_login_at",
    "logins_in_month",
]

# Where the status at month end came from: contract section 2 asks that rows whose status was
# taken from users.status (no history before the month's end) be marked and counted.
STATUS_SOURCES = ("deleted", "history", "current")

# Evidence appended after the contract's columns in the CSV and XLSX (docs/decisions.md): where the
# status at month end came from, when it was set (local ISO time: the status change or the deletion;
# empty when taken from users.status without history), and the change since last month's list
# (``new`` / ``unchanged``; empty when there is no previous list to compare with).
CHANGE_NEW, CHANGE_UNCHANGED = "new", "unchanged"
EVIDENCE_COLUMNS: list[str] = ["status_source", "status_set_at", "change_since_last_month"]
ATTACHMENT_COLUMNS: list[str] = [*LIST_COLUMNS, *EVIDENCE_COLUMNS]

# The billable list as stored in Parquet: who and when, then the attachment's columns.
BILLABLE_COLUMNS: list[str] = ["client_code", "billing_month", *ATTACHMENT_COLUMNS]

REASON_ACTIVE = "active"
REASON_RECENT_LOGIN = "inactive_recent_login"
BILLABLE_REASONS = (REASON_ACTIVE, REASON_RECENT_LOGIN)

# Contract section 6: the finance summary, one row per invoice, in this order.
FINANCE_COLUMNS: list[str] = [
    "invoice_number",
    "client_code",
    "billing_month",
    "invoice_date",
    "due_date",
    "currency",
    "billable_count",
    "unit_price",
    "subscriptions_amount",
    "adjustments_amount",
    "subtotal",
    "vat_amount",
    "total",
]
