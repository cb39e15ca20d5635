"""The history charts' data read from the ledger (issue 18): a client's invoices and sealed lists
over the 12 months ending at a month, and every invoice's total over finance's 13 months.

For each month of the window, oldest first:
- invoiced: the invoice's total, its users by reason from its lines; an older invoice (one line,
  no reason) takes the counts of its sealed list's ``summary.json`` when they add up to the
  invoice's count, and otherwise shows its count as ``NOT_SPLIT`` (no guess at a split);
- sealed but not invoiced (the list was sent, its invoice is not issued yet): the list's counts
  from its summary, no amount; a summary missing or not the sealed count is no data;
- neither (before the client's first bill, or a month never billed): no data.
The caller sets the month of the document itself (the invoice it renders, the list it sends).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import sqlalchemy as sa

from include.dms_billing.core.history import MONTHS, MonthPoint, invoice_point, window
from include.dms_billing.core.invoice import invoice_from_json
from include.dms_billing.core.money import round_money
from include.dms_billing.ledger.schema import invoices, sealed_lists
from include.dms_billing.outputs.billable_list import read_summary
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.storage import StoragePath


def _listed(root: StoragePath, client_code: str, billing_month: str, row_count: int) -> Mapping[str, int] | None:
    """The sealed list's counts by reason, if its summary is there and counts the sealed rows."""
    try:
        summary = read_summary(ClientMonthPaths(root, billing_month, client_code))
    except (OSError, ValueError, TypeError):  # missing, or not a summary: the month is shown without it
        return None
    return summary.by_reason if summary.billable == row_count == sum(summary.by_reason.values()) else None


def client_months(engine: sa.Engine, client_code: str, billing_month: str, root: StoragePath) -> list[MonthPoint]:
    """The months of the window ending at ``billing_month`` that the ledger has data for."""
    months = window(billing_month)
    with engine.connect() as conn:
        issued = {row.billing_month: invoice_from_json(row.document) for row in conn.execute(
            sa.select(invoices.c.billing_month, invoices.c.document).where(
                invoices.c.client_code == client_code, invoices.c.billing_month.in_(months)))}
        sealed = {row.billing_month: row.row_count for row in conn.execute(
            sa.select(sealed_lists.c.billing_month, sealed_lists.c.row_count).where(
                sealed_lists.c.client_code == client_code, sealed_lists.c.billing_month.in_(months)))}
    points = []
    for month in months:
        invoice = issued.get(month)
        needs_list = month in sealed and (invoice is None or not invoice.by_reason)
        listed = _listed(root, client_code, month, sealed[month]) if needs_list else None
        if invoice is not None:
            points.append(invoice_point(invoice, listed))
        elif listed is not None:
            points.append(MonthPoint(month, listed))
    return points


def invoiced_totals(engine: sa.Engine, billing_month: str) -> list[tuple[str, str, Decimal]]:
    """``(billing_month, currency, total)`` of every invoice of the month and the 12 before."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(invoices.c.billing_month, invoices.c.currency, invoices.c.total).where(
            invoices.c.billing_month.in_(window(billing_month, MONTHS + 1))).order_by(invoices.c.id))
        return [(row.billing_month, row.currency, round_money(Decimal(row.total), row.currency)) for row in rows]
