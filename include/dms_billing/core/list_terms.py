"""What a month's list tells the client before any invoice exists: the invoice it will become
(its date, the lines per reason at the plan's price) and how to object (until when, quoting what).

Pure: the same numbers the invoice will carry (``invoice.subscriptions_lines``), worked out from
the configuration and the list's counts, so the list email, its XLSX Summary sheet and the FAQ
quote what the invoice then shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.invoice import InvoiceLine, subscriptions_lines
from include.dms_billing.core.money import round_money
from include.dms_billing.core.work_calendar import days_off, invoice_date, objection_deadline


def objection_reference(client_code: str, billing_month: str) -> str:
    """What a client quotes when it objects to a month's bill (before and after the invoice)."""
    return f"{client_code}/{billing_month}"


@dataclass(frozen=True)
class ListTerms:
    client_code: str
    billing_month: str
    invoice_date: date
    objection_deadline: date
    reference: str
    by_reason: Mapping[str, int]
    # The plan's price: None (and no lines) for a client whose plan is not configured yet. Its list
    # still goes out on day 1 (the contract's list needs no price); its invoice task then fails.
    currency: str | None
    unit_price: Decimal | None
    vat_rate: Decimal | None
    lines: tuple[InvoiceLine, ...]  # the subscriptions lines, one per billable reason
    # For the FAQ the list email carries: the configured days to object (objections.days_after_invoice),
    # the preview's days before month end (None: no preview for this client) and the calendar's days off.
    objection_days: int = 7
    preview_days_before: int | None = None
    days_off: str = ""

    @property
    def billable(self) -> int:
        return sum(self.by_reason.values())

    @property
    def subscriptions_amount(self) -> Decimal | None:
        if self.currency is None:
            return None
        return round_money(sum((line.amount for line in self.lines), Decimal(0)), self.currency)


def list_terms(client_code: str, billing_month: str, by_reason: Mapping[str, int], config: BillingConfig) -> ListTerms:
    """The terms of ``client_code``'s list for ``billing_month``: dates and reference always, the
    price and lines when the client has a plan."""
    month = BillingMonth.parse(billing_month)
    plan = config.client(client_code).plan
    calendar = config.calendar(client_code)
    dated = invoice_date(month, calendar)
    unit_price = plan.unit_price(month) if plan else None
    preview = config.preview(client_code)
    return ListTerms(
        client_code=client_code,
        billing_month=billing_month,
        invoice_date=dated,
        objection_deadline=objection_deadline(dated, config.objections.days_after_invoice, calendar),
        reference=objection_reference(client_code, billing_month),
        by_reason=dict(by_reason),
        currency=plan.currency if plan else None,
        unit_price=unit_price,
        vat_rate=plan.vat_rate if plan else None,
        lines=subscriptions_lines(by_reason, unit_price, billing_month, plan.currency) if plan else (),
        objection_days=config.objections.days_after_invoice,
        preview_days_before=preview.days_before if preview.enabled else None,
        days_off=days_off(calendar),
    )
