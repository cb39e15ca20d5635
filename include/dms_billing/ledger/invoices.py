"""Invoices in the ledger: issued once per client and month, with a stable number.

``issue_invoice`` returns the invoice already issued for the client and month when there is
one (a re-run or a retry gets the same number, the same PDF); otherwise it takes the issuer's
next sequence number, builds and renders the invoice, and inserts it. The unique constraints
decide any race: the loser reads back the winner's invoice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from include.dms_billing.core.invoice import (
    ADJUSTMENT,
    Invoice,
    InvoiceLine,
    invoice_from_json,
    invoice_to_json,
)
from include.dms_billing.ledger.schema import adjustments, invoice_lines, invoices

MAX_NUMBER_RACES = 5


@dataclass(frozen=True)
class IssuedInvoice:
    invoice: Invoice
    html: str
    pdf: bytes
    newly_issued: bool  # False: it was issued before (a re-run or retry)


def invoice_number(prefix: str, sequence: int) -> str:
    return f"{prefix}-{sequence:06d}"


def find_invoice(conn: sa.Connection, client_code: str, billing_month: str) -> IssuedInvoice | None:
    row = conn.execute(
        sa.select(invoices.c.document, invoices.c.html, invoices.c.pdf).where(
            invoices.c.client_code == client_code, invoices.c.billing_month == billing_month
        )
    ).one_or_none()
    return None if row is None else IssuedInvoice(invoice_from_json(row.document), row.html, row.pdf, False)


def month_invoices(engine: sa.Engine, billing_month: str) -> list[Invoice]:
    """Every invoice issued for ``billing_month``, in number order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(invoices.c.document)
            .where(invoices.c.billing_month == billing_month)
            .order_by(invoices.c.issuer, invoices.c.sequence)
        )
        return [invoice_from_json(row.document) for row in rows]


def _next_sequence(conn: sa.Connection, issuer: str) -> int:
    current = conn.execute(sa.select(sa.func.max(invoices.c.sequence)).where(invoices.c.issuer == issuer)).scalar()
    return (current or 0) + 1


class AdjustmentsMoved(RuntimeError):
    """Pending adjustments changed while the invoice was built: build it again."""


def pending_adjustments(conn: sa.Connection, client_code: str, billing_month: str) -> list[sa.Row]:
    """Adjustments waiting for this client's next invoice of a month after theirs, oldest first."""
    return list(conn.execute(
        sa.select(adjustments).where(
            adjustments.c.client_code == client_code,
            adjustments.c.applied_invoice_number.is_(None),
            adjustments.c.after_month < billing_month,
        ).order_by(adjustments.c.id)
    ))


def _line(row: sa.Row) -> InvoiceLine:
    return InvoiceLine(ADJUSTMENT, row.description, row.quantity, row.unit_price, row.amount)


def _apply_adjustments(conn: sa.Connection, invoice: Invoice, ids: list[int]) -> None:
    """Mark the adjustments applied to ``invoice`` (each only once) and carry any surplus credit."""
    if ids:
        marked = conn.execute(
            adjustments.update()
            .where(adjustments.c.id.in_(ids), adjustments.c.applied_invoice_number.is_(None))
            .values(applied_invoice_number=invoice.invoice_number)
        ).rowcount
        if marked != len(ids):
            raise AdjustmentsMoved(f"adjustments {ids} were applied elsewhere meanwhile")
    if invoice.credit_carried_forward:
        conn.execute(adjustments.insert().values(
            client_code=invoice.bill_to.client_code, objection_id=None, after_month=invoice.billing_month,
            description=f"Credit carried forward from invoice {invoice.invoice_number}", quantity=1,
            unit_price=-invoice.credit_carried_forward, amount=-invoice.credit_carried_forward,
            applied_invoice_number=None, created_at=datetime.now(timezone.utc),
        ))


def _insert(conn: sa.Connection, sequence: int, invoice: Invoice, html: str, pdf: bytes, run_id: str) -> None:
    invoice_id = conn.execute(
        invoices.insert().values(
            issuer=invoice.issuer.prefix,
            sequence=sequence,
            invoice_number=invoice.invoice_number,
            client_code=invoice.bill_to.client_code,
            billing_month=invoice.billing_month,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            billable_count=invoice.billable_count,
            unit_price=invoice.unit_price,
            vat_rate=invoice.vat_rate,
            subscriptions_amount=invoice.subscriptions_amount,
            adjustments_amount=invoice.adjustments_amount,
            subtotal=invoice.subtotal,
            vat_amount=invoice.vat_amount,
            total=invoice.total,
            document=invoice_to_json(invoice),
            html=html,
            pdf=pdf,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            issued_at=datetime.now(timezone.utc),
            issued_by_run=run_id,
        )
    ).inserted_primary_key[0]
    conn.execute(
        invoice_lines.insert(),
        [
            {"invoice_id": invoice_id, "position": position, "kind": line.kind, "description": line.description,
             "quantity": line.quantity, "unit_price": line.unit_price, "amount": line.amount}
            for position, line in enumerate(invoice.lines, start=1)
        ],
    )


def issue_invoice(
    engine: sa.Engine,
    *,
    client_code: str,
    billing_month: str,
    prefix: str,
    build: Callable[[str, list[InvoiceLine]], Invoice],
    render: Callable[[Invoice], tuple[str, bytes]],
    run_id: str,
    on_issue: Callable[[sa.Connection, Invoice], None] | None = None,
) -> IssuedInvoice:
    """The client's invoice for the month: the one already issued, or a new one numbered next.

    ``build`` makes the invoice for a given number and the pending adjustment lines, ``render``
    its HTML and PDF; both run outside any transaction, so no lock is held while the PDF
    renders. Issuing marks those adjustments applied in the same transaction, so each is
    applied exactly once. ``on_issue`` runs in that transaction too (sealing the list the
    invoice was built from), and only when this call issues the invoice.
    """
    for _ in range(MAX_NUMBER_RACES):
        with engine.connect() as conn:
            existing = find_invoice(conn, client_code, billing_month)
            if existing:
                return existing
            sequence = _next_sequence(conn, prefix)
            pending = pending_adjustments(conn, client_code, billing_month)
        invoice = build(invoice_number(prefix, sequence), [_line(row) for row in pending])
        html, pdf = render(invoice)
        try:
            with engine.begin() as conn:
                _insert(conn, sequence, invoice, html, pdf, run_id)
                _apply_adjustments(conn, invoice, [row.id for row in pending])
                if on_issue is not None:
                    on_issue(conn, invoice)
            return IssuedInvoice(invoice, html, pdf, True)
        except (sa.exc.IntegrityError, AdjustmentsMoved):
            continue  # another run issued this client's invoice, or took the number: look again
    raise RuntimeError(f"could not issue an invoice for {client_code} {billing_month}: numbering kept racing")
