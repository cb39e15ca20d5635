"""What the ledger holds about one billing month, for every client at once: the billing page's
source (``views/month_board.py``). One query per table, however many clients, and nothing written.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from include.dms_billing.ledger.schema import (
    adjustments,
    approval_decisions,
    deliveries,
    invoices,
    objections,
    sealed_lists,
)


@dataclass(frozen=True)
class InvoiceRecord:
    invoice_number: str
    currency: str
    total: Decimal
    invoice_date: date
    due_date: date
    issued_at: datetime


@dataclass(frozen=True)
class DeliveryRecord:
    """The latest attempt of one kind of email (list, invoice) and how many there were."""

    state: str  # sending, sent, failed
    recipients: str
    sent_at: datetime | None
    attempts: int
    detail: str | None


@dataclass(frozen=True)
class SealRecord:
    sealed_at: datetime
    because: str  # list_sent, invoice, legacy
    invoice_number: str | None


@dataclass(frozen=True)
class ApprovalRecord:
    """The month's latest approval decision (a later run's answer replaces an earlier one)."""

    decided_by: str  # a user id, ``timeout``, or ``not asked: <why>``
    asked: bool
    held: tuple[str, ...]
    decided_at: datetime
    run_id: str


@dataclass(frozen=True)
class ObjectionRecord:
    direction: str  # credit or debit
    user_count: int
    invoice_number: str


@dataclass(frozen=True)
class MonthRecords:
    billing_month: str
    invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], DeliveryRecord] = field(default_factory=dict)  # (client, kind)
    seals: dict[str, SealRecord] = field(default_factory=dict)
    approval: ApprovalRecord | None = None
    objections: dict[str, list[ObjectionRecord]] = field(default_factory=dict)
    waiting: dict[str, Decimal] = field(default_factory=dict)  # adjustments not yet on an invoice

    def client_codes(self) -> set[str]:
        """Every client the ledger knows for the month (the finance summary's ``*`` left out)."""
        codes = {*self.invoices, *self.seals, *self.objections, *(code for code, _ in self.deliveries)}
        return codes - {"*"}


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every stored moment is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _deliveries(conn: sa.Connection, billing_month: str) -> dict[tuple[str, str], DeliveryRecord]:
    rows = conn.execute(
        sa.select(deliveries).where(deliveries.c.billing_month == billing_month)
        .order_by(deliveries.c.client_code, deliveries.c.kind, deliveries.c.attempt)
    )
    found: dict[tuple[str, str], DeliveryRecord] = {}
    for row in rows:  # in attempt order: the last one of a key stays, counting them all
        key = (row.client_code, row.kind)
        attempts = found[key].attempts + 1 if key in found else 1
        found[key] = DeliveryRecord(row.state, row.recipients, _aware(row.sent_at), attempts, row.detail)
    return found


def read_month_records(engine: sa.Engine, billing_month: str) -> MonthRecords:
    """The month's invoices, emails, seals, latest approval, objections, and the adjustments that
    wait for each client's next invoice (recorded against this month or any earlier one)."""
    with engine.connect() as conn:
        issued = {row.client_code: InvoiceRecord(row.invoice_number, row.currency, row.total, row.invoice_date,
                                                 row.due_date, _aware(row.issued_at))
                  for row in conn.execute(sa.select(
                      invoices.c.client_code, invoices.c.invoice_number, invoices.c.currency, invoices.c.total,
                      invoices.c.invoice_date, invoices.c.due_date, invoices.c.issued_at,
                  ).where(invoices.c.billing_month == billing_month))}
        seals = {row.client_code: SealRecord(_aware(row.sealed_at), row.sealed_because, row.invoice_number)
                 for row in conn.execute(sa.select(sealed_lists).where(sealed_lists.c.billing_month == billing_month))}
        latest = conn.execute(
            sa.select(approval_decisions).where(approval_decisions.c.billing_month == billing_month)
            .order_by(approval_decisions.c.id.desc()).limit(1)
        ).first()
        objected: dict[str, list[ObjectionRecord]] = defaultdict(list)
        for row in conn.execute(sa.select(objections).where(objections.c.billing_month == billing_month)
                                .order_by(objections.c.id)):
            objected[row.client_code].append(ObjectionRecord(row.direction, row.user_count, row.invoice_number))
        waiting: dict[str, Decimal] = defaultdict(Decimal)
        for row in conn.execute(sa.select(adjustments.c.client_code, adjustments.c.amount).where(
                adjustments.c.applied_invoice_number.is_(None), adjustments.c.after_month <= billing_month)):
            waiting[row.client_code] += row.amount
        sent = _deliveries(conn, billing_month)
    approval = None if latest is None else ApprovalRecord(
        latest.decided_by, latest.asked, tuple(json.loads(latest.held)), _aware(latest.decided_at), latest.run_id)
    return MonthRecords(billing_month, issued, sent, seals, approval, dict(objected), dict(waiting))
