"""The month on one board: every client's state, from the ledger and the stored outputs.

What finance and the data team ask each month (who got the list, who was held, which invoices
are out, who failed and where the report is) answered per client, read-only. ``board_rows`` is
the pure part: it joins what the ledger recorded (``MonthRecords``) with what the outputs hold
(``StoredMonth``); ``read_board`` does the reading, in one query per ledger table and a few small
files per client.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.ledger.month_records import MonthRecords, read_month_records
from include.dms_billing.outputs.billable_list import ListSummary, read_summary
from include.dms_billing.outputs.paths import (
    CLIENT_AREAS,
    CLIENT_KEY,
    MONTH_KEY,
    VALIDATION_SUMMARY,
    ClientMonthPaths,
    month_folder,
)
from include.dms_billing.outputs.storage import StoragePath

# The states a row can be filtered by, in the order the page offers them.
STATES = ("failed", "held", "not sent", "invoiced", "objected", "revised")


@dataclass(frozen=True)
class StoredClient:
    """What the outputs hold of one client's month."""

    summary: ListSummary | None
    previous_billable: int | None  # the previous month's list, when there is one
    validation: dict | None  # validation.json: success, failures, report_path
    kept_unsent: frozenset[str]  # kinds of email a run without delivery kept under archive/
    revisions: tuple[str, ...]  # later recomputations kept beside a sealed list


@dataclass(frozen=True)
class ClientRow:
    """One client's month on the board, as plain values (the page's row and the JSON's item)."""

    client_code: str
    client_name: str
    billable: int | None
    by_reason: dict[str, int]
    change: int | None  # against the previous month's list
    list_state: str  # sent, kept unsent, failed, sending, not sent
    list_sent_at: str | None
    list_to: str | None
    list_emails: int
    sealed: bool
    revisions: list[str]
    approval: str | None  # approved, held, not asked; None before the run's approval
    approved_by: str | None
    invoice_number: str | None
    total: str | None
    currency: str | None
    invoice_date: str | None
    due_date: str | None
    invoice_state: str | None  # sent, kept unsent, failed, sending, not sent; None without an invoice
    objections: int
    objected_users: int
    credit_waiting: str | None  # adjustments waiting for the next invoice (negative: owed to the client)
    failure: str | None
    report: bool  # a validation report can be opened
    states: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MonthBoard:
    billing_month: str
    rows: list[ClientRow]
    totals: dict[str, str]  # invoiced total per currency
    approval: dict | None  # the month's latest decision: by whom, asked, held, when

    def to_data(self) -> dict:
        return {"billing_month": self.billing_month, "approval": self.approval, "totals": self.totals,
                "clients": [asdict(row) for row in self.rows]}


def _email_state(records: MonthRecords, code: str, kind: str, stored: StoredClient) -> tuple[str, object]:
    sent = records.deliveries.get((code, kind))
    if sent is not None:
        return sent.state, sent
    return ("kept unsent" if kind in stored.kept_unsent else "not sent"), None


def _expectation(failure: dict) -> str:
    """One failed expectation as validation.json records it: ``status: expect_... (3 rows)``."""
    column, count = failure.get("column"), failure.get("unexpected_count")
    rows = f" ({count} row{'s' * (count != 1)})" if isinstance(count, int) else ""
    return f"{column + ': ' if column else ''}{failure.get('expectation', '?')}{rows}"


def _failure(stored: StoredClient, records: MonthRecords, code: str) -> str | None:
    validation = stored.validation
    if validation is not None and not validation.get("success"):
        failed = [_expectation(f) for f in validation.get("failures", [])]
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        return f"validation failed: {', '.join(failed[:3])}{more}"
    if stored.summary is None:
        return "no list written (see the data team's alert for the step that stopped)"
    for kind in (DeliveryKind.LIST, DeliveryKind.INVOICE):
        sent = records.deliveries.get((code, kind))
        if sent is not None and sent.state == "failed":
            return f"the {kind} email failed: {sent.detail or 'no detail'}"
    return None


def _approval(records: MonthRecords, code: str) -> tuple[str | None, str | None]:
    decision = records.approval
    if decision is None:
        return None, None
    if code in decision.held:
        return "held", decision.decided_by
    if not decision.asked:
        return "not asked", decision.decided_by.removeprefix("not asked: ")
    return "approved", decision.decided_by  # by a user, or ``timeout`` when nobody answered in time


def board_row(code: str, records: MonthRecords, stored: StoredClient) -> ClientRow:
    """One client's row: the pure join of the ledger's records and the stored outputs."""
    summary = stored.summary
    list_state, list_sent = _email_state(records, code, DeliveryKind.LIST, stored)
    invoice = records.invoices.get(code)
    invoice_state = _email_state(records, code, DeliveryKind.INVOICE, stored)[0] if invoice else None
    approval, approved_by = _approval(records, code) if summary else (None, None)  # no list: not asked about
    objected = records.objections.get(code, [])
    waiting = records.waiting.get(code)
    failure = _failure(stored, records, code)
    billable = summary.billable if summary else None
    states = [state for state, holds in (
        ("failed", failure is not None),
        ("held", approval == "held"),
        ("not sent", summary is not None and (list_state != "sent" or invoice_state not in (None, "sent"))),
        ("invoiced", invoice is not None),
        ("objected", bool(objected) or bool(waiting)),
        ("revised", bool(stored.revisions)),
    ) if holds]
    return ClientRow(
        client_code=code,
        client_name=summary.client_name if summary else "",
        billable=billable,
        by_reason=dict(summary.by_reason) if summary else {},
        change=None if billable is None or stored.previous_billable is None else billable - stored.previous_billable,
        list_state=list_state,
        list_sent_at=list_sent.sent_at.isoformat(timespec="minutes") if list_sent and list_sent.sent_at else None,
        list_to=list_sent.recipients if list_sent else None,
        list_emails=list_sent.attempts if list_sent else 0,
        sealed=code in records.seals,
        revisions=list(stored.revisions),
        approval=approval,
        approved_by=approved_by,
        invoice_number=invoice.invoice_number if invoice else None,
        total=str(invoice.total) if invoice else None,
        currency=invoice.currency if invoice else None,
        invoice_date=invoice.invoice_date.isoformat() if invoice else None,
        due_date=invoice.due_date.isoformat() if invoice else None,
        invoice_state=invoice_state,
        objections=len(objected),
        objected_users=sum(o.user_count for o in objected),
        credit_waiting=str(waiting) if waiting else None,
        failure=failure,
        report=stored.validation is not None and not stored.validation.get("success"),
        states=states,
    )


def board_rows(records: MonthRecords, stored: dict[str, StoredClient]) -> MonthBoard:
    """Every client with a trace this month, in code order, with the invoiced totals per currency."""
    codes = sorted(set(stored) | records.client_codes())
    empty = StoredClient(None, None, None, frozenset(), ())
    rows = [board_row(code, records, stored.get(code, empty)) for code in codes]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in records.invoices.values():
        totals[invoice.currency] += invoice.total
    decision = records.approval
    approval = None if decision is None else {
        "decided_by": decision.decided_by, "asked": decision.asked, "held": list(decision.held),
        "decided_at": decision.decided_at.isoformat(timespec="minutes"), "run_id": decision.run_id}
    return MonthBoard(records.billing_month, rows, {c: str(t) for c, t in sorted(totals.items())}, approval)


def _codes_under(folder: StoragePath) -> set[str]:
    if not folder.exists():
        return set()
    return {child.name.removeprefix(CLIENT_KEY) for child in folder.iterdir() if child.name.startswith(CLIENT_KEY)}


def _read_json(path: StoragePath) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _stored_client(root: StoragePath, month: BillingMonth, code: str) -> StoredClient:
    paths = ClientMonthPaths(root, str(month), code)
    previous = ClientMonthPaths(root, str(month.previous()), code)
    kept = frozenset(kind for kind in (DeliveryKind.LIST, DeliveryKind.INVOICE) if paths.archived_email(kind).exists())
    revisions = paths.revisions
    return StoredClient(
        summary=read_summary(paths) if paths.summary.exists() else None,
        previous_billable=read_summary(previous).billable if previous.summary.exists() else None,
        validation=_read_json(paths.report_dir / VALIDATION_SUMMARY),
        kept_unsent=kept,
        revisions=tuple(sorted(p.name for p in revisions.iterdir() if p.is_dir())) if revisions.exists() else (),
    )


def stored_month(root: StoragePath, month: BillingMonth, codes: set[str] = frozenset()) -> dict[str, StoredClient]:
    """What the outputs hold for every client of ``month`` that has a snapshot, a report or a
    list (and for ``codes``, which the ledger knows)."""
    found = set(codes)
    for area in CLIENT_AREAS:
        found |= _codes_under(month_folder(root, area, str(month)))
    return {code: _stored_client(root, month, code) for code in sorted(found)}


def read_board(engine: sa.Engine, root: StoragePath, month: BillingMonth) -> MonthBoard:
    records = read_month_records(engine, str(month))
    return board_rows(records, stored_month(root, month, records.client_codes()))


SORTS = {  # what the page's columns sort by; rows without the value go last either way
    "client": lambda row: row.client_code,
    "billable": lambda row: row.billable,
    "change": lambda row: row.change,
    "list": lambda row: row.list_state,
    "invoice": lambda row: row.invoice_number,
    "total": lambda row: Decimal(row.total) if row.total is not None else None,
    "due": lambda row: row.due_date,
    "state": lambda row: ",".join(row.states) or None,
}


def select_rows(rows: list[ClientRow], state: str | None = None, sort: str = "client",
                descending: bool = False, codes: frozenset[str] = frozenset()) -> list[ClientRow]:
    """The rows in ``state`` (any when None) and among ``codes`` (any when empty), sorted by a
    column of ``SORTS``; unknown states and sorts are refused by the caller, not guessed here."""
    key = SORTS[sort]
    chosen = [row for row in rows if (state is None or state in row.states) and (not codes or row.client_code in codes)]
    known = sorted((row for row in chosen if key(row) is not None), key=key, reverse=descending)
    return known + [row for row in chosen if key(row) is None]


def months_with_outputs(root: StoragePath) -> list[BillingMonth]:
    """Every month some client has a snapshot, a report or a list for, newest first."""
    found = set()
    for area in CLIENT_AREAS:
        folder = root / area
        if folder.exists():
            for child in folder.iterdir():
                try:
                    found.add(BillingMonth.parse(child.name.removeprefix(MONTH_KEY)))
                except ValueError:
                    continue  # not a month's partition
    return sorted(found, reverse=True)


def latest_month(root: StoragePath) -> BillingMonth:
    """The newest month with outputs, else the month that has just ended (in Dhaka)."""
    from datetime import datetime, timezone

    found = months_with_outputs(root)
    return found[0] if found else BillingMonth.containing(datetime.now(timezone.utc)).previous()
