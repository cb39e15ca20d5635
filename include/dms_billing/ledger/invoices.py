"""Invoices in the ledger: issued once per client and month, numbered in order without gaps.

``issue_invoice`` returns the invoice already issued for the client and month when there is
one (a re-run or a retry gets the same number, the same PDF). Otherwise one short transaction,
holding the numbering mutex (``ledger/mutex.py``), takes the issuer's next sequence, builds the
invoice with it and the pending adjustments, inserts it, marks those adjustments applied and
runs the caller's ``on_issue``: a number is never taken without its invoice, so there are no
gaps, and concurrent calls wait their turn instead of racing and retrying.

The PDF shows the number, so it is rendered after that commit (no lock held while it renders,
0.1 to 0.5 s) and kept by a second short write, the first rendering kept winning. Until then
the invoice is numbered but not deliverable (``find_invoice`` gives None); a call that finds
it so (a concurrent one, or a retry after the process died) renders the document issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import sqlalchemy as sa

from include.dms_billing.core.invoice import (
    ADJUSTMENT,
    LUMP_SUM,
    USER_MONTH,
    Invoice,
    InvoiceLine,
    invoice_from_json,
    invoice_to_json,
)
from include.dms_billing.ledger.mutex import hold
from include.dms_billing.ledger.schema import adjustments, invoice_lines, invoice_number_mutex, invoices


@dataclass(frozen=True)
class IssuedInvoice:
    invoice: Invoice
    html: str
    pdf: bytes
    newly_issued: bool  # False: it was issued before (a re-run or retry)


def invoice_number(prefix: str, sequence: int) -> str:
    return f"{prefix}-{sequence:06d}"


def _stored(conn: sa.Connection, client_code: str, billing_month: str) -> sa.Row | None:
    return conn.execute(
        sa.select(invoices.c.id, invoices.c.document, invoices.c.html, invoices.c.pdf).where(
            invoices.c.client_code == client_code, invoices.c.billing_month == billing_month
        )
    ).one_or_none()


def _issued(row: sa.Row, newly_issued: bool) -> IssuedInvoice:
    return IssuedInvoice(invoice_from_json(row.document), row.html, row.pdf, newly_issued)


def find_invoice(conn: sa.Connection, client_code: str, billing_month: str) -> IssuedInvoice | None:
    """The month's invoice as issued, once its rendering is kept: only then can it be sent."""
    row = _stored(conn, client_code, billing_month)
    return None if row is None or row.pdf is None else _issued(row, False)


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
    """Pending adjustments were applied by a writer that did not hold the numbering mutex."""


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
    """An adjustment as its invoice line: an objection's counts user-months, a credit carried forward is a sum."""
    unit = USER_MONTH if row.objection_id is not None else LUMP_SUM
    return InvoiceLine(ADJUSTMENT, row.description, row.quantity, row.unit_price, row.amount, unit=unit)


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


def _insert(conn: sa.Connection, sequence: int, invoice: Invoice, run_id: str) -> None:
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
            issued_at=invoice.issued_at,
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


def _number(
    conn: sa.Connection, client_code: str, billing_month: str, prefix: str,
    build: Callable[[str, list[InvoiceLine]], Invoice], run_id: str,
    on_issue: Callable[[sa.Connection, Invoice], None] | None,
) -> None:
    """Under the numbering mutex: the next number, the invoice built with it and stamped with this
    moment (its time of issue), its adjustments applied."""
    sequence = _next_sequence(conn, prefix)
    pending = pending_adjustments(conn, client_code, billing_month)
    invoice = build(invoice_number(prefix, sequence), [_line(row) for row in pending])
    invoice = replace(invoice, issued_at=datetime.now(timezone.utc))
    _insert(conn, sequence, invoice, run_id)
    _apply_adjustments(conn, invoice, [row.id for row in pending])
    if on_issue is not None:
        on_issue(conn, invoice)


def _keep_rendering(
    engine: sa.Engine, row: sa.Row, render: Callable[[Invoice], tuple[str, bytes]], newly_issued: bool
) -> IssuedInvoice:
    """Render the invoice as issued and keep it, unless another call kept its rendering first."""
    invoice = invoice_from_json(row.document)
    html, pdf = render(invoice)
    with engine.begin() as conn:
        kept = conn.execute(
            invoices.update()
            .where(invoices.c.id == row.id, invoices.c.pdf.is_(None))
            .values(html=html, pdf=pdf, pdf_sha256=hashlib.sha256(pdf).hexdigest())
        ).rowcount
        if kept != 1:
            return _issued(_stored(conn, invoice.bill_to.client_code, invoice.billing_month), newly_issued)
    return IssuedInvoice(invoice, html, pdf, newly_issued)


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

    ``build`` makes the invoice for a given number and the pending adjustment lines; it runs
    under the numbering mutex, so it must be quick (it is arithmetic). ``render`` makes its
    HTML and PDF after the invoice is committed, holding no lock. Issuing marks those
    adjustments applied in the same transaction, so each is applied exactly once. ``on_issue``
    runs in that transaction too (sealing the list the invoice was built from), and only when
    this call issues the invoice.
    """
    with engine.connect() as conn:
        row = _stored(conn, client_code, billing_month)
    newly_issued = False
    if row is None:
        with engine.begin() as conn:
            hold(conn, invoice_number_mutex)
            row = _stored(conn, client_code, billing_month)  # issued by another call while this one waited
            if row is None:
                _number(conn, client_code, billing_month, prefix, build, run_id, on_issue)
                row, newly_issued = _stored(conn, client_code, billing_month), True
    if row.pdf is None:
        return _keep_rendering(engine, row, render, newly_issued)
    return _issued(row, newly_issued)


def pending_lines(engine: sa.Engine, client_code: str, billing_month: str) -> list[InvoiceLine]:
    """The adjustment lines the client's next invoice for ``billing_month`` would carry (a draft's)."""
    with engine.connect() as conn:
        return [_line(row) for row in pending_adjustments(conn, client_code, billing_month)]
