"""The invoice as data (contract section 4): lines, subtotal, VAT and total, computed exactly.

Pure: the number, the dates and the billable count come in; rendering and storage are
elsewhere. Every amount is a Decimal rounded half-up at the currency's minor unit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.money import round_money

SUBSCRIPTIONS = "subscriptions"
ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class Issuer:
    """Who bills: printed on every invoice; ``prefix`` starts every invoice number."""

    name: str
    address: tuple[str, ...]
    email: str
    vat_registration: str
    prefix: str


@dataclass(frozen=True)
class BillTo:
    client_code: str
    client_name: str
    email: str


@dataclass(frozen=True)
class InvoiceLine:
    kind: str  # SUBSCRIPTIONS or ADJUSTMENT
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    invoice_number: str
    issuer: Issuer
    bill_to: BillTo
    billing_month: str
    invoice_date: date
    due_date: date
    currency: str
    billable_count: int
    unit_price: Decimal
    vat_rate: Decimal
    lines: tuple[InvoiceLine, ...]
    subscriptions_amount: Decimal
    adjustments_amount: Decimal
    subtotal: Decimal
    vat_amount: Decimal
    total: Decimal
    notes: tuple[str, ...] = field(default=())
    credit_carried_forward: Decimal = Decimal(0)  # credit beyond this invoice, owed on the next

    def finance_row(self) -> dict[str, str]:
        """The invoice as one row of the finance summary (contract section 6)."""
        return {
            "invoice_number": self.invoice_number,
            "client_code": self.bill_to.client_code,
            "billing_month": self.billing_month,
            "invoice_date": self.invoice_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "currency": self.currency,
            "billable_count": str(self.billable_count),
            "unit_price": str(self.unit_price),
            "subscriptions_amount": str(self.subscriptions_amount),
            "adjustments_amount": str(self.adjustments_amount),
            "subtotal": str(self.subtotal),
            "vat_amount": str(self.vat_amount),
            "total": str(self.total),
        }


def month_name(billing_month: str) -> str:
    """``2023-05`` -> ``May 2023``."""
    return BillingMonth.parse(billing_month).first_day.strftime("%B %Y")


def subscriptions_line(billable_count: int, unit_price: Decimal, billing_month: str, currency: str) -> InvoiceLine:
    return InvoiceLine(
        kind=SUBSCRIPTIONS,
        description=f"DMS user subscriptions, {month_name(billing_month)}",
        quantity=billable_count,
        unit_price=unit_price,
        amount=round_money(unit_price * billable_count, currency),
    )


def build_invoice(
    *,
    invoice_number: str,
    issuer: Issuer,
    bill_to: BillTo,
    billing_month: str,
    invoice_date: date,
    due_date: date,
    currency: str,
    billable_count: int,
    unit_price: Decimal,
    vat_rate: Decimal,
    adjustments: Sequence[InvoiceLine] = (),
) -> Invoice:
    """Lines, subtotal, VAT (on the subtotal) and total, each rounded at the minor unit.

    Credits larger than the invoice bring it to zero; the rest is carried forward, shown as its
    own line (contract section 5).
    """
    subscriptions = subscriptions_line(billable_count, unit_price, billing_month, currency)
    adjustments = tuple(adjustments)
    before_carry = subscriptions.amount + round_money(sum((a.amount for a in adjustments), Decimal(0)), currency)
    carried = -before_carry if before_carry < 0 else Decimal(0)
    if carried:
        adjustments += (InvoiceLine(ADJUSTMENT, "Credit carried forward to the next invoice", 1, carried, carried),)
    adjustments_amount = round_money(sum((a.amount for a in adjustments), Decimal(0)), currency)
    subtotal = subscriptions.amount + adjustments_amount
    vat_amount = round_money(subtotal * vat_rate, currency)
    return Invoice(
        invoice_number=invoice_number,
        issuer=issuer,
        bill_to=bill_to,
        billing_month=billing_month,
        invoice_date=invoice_date,
        due_date=due_date,
        currency=currency,
        billable_count=billable_count,
        unit_price=unit_price,
        vat_rate=vat_rate,
        lines=(subscriptions, *adjustments),
        subscriptions_amount=subscriptions.amount,
        adjustments_amount=adjustments_amount,
        subtotal=subtotal,
        vat_amount=vat_amount,
        total=subtotal + vat_amount,
        credit_carried_forward=carried,
    )


def invoice_to_json(invoice: Invoice) -> str:
    """The whole invoice as JSON (decimals and dates as strings): what the ledger keeps."""
    return json.dumps(asdict(invoice), default=str, ensure_ascii=False, sort_keys=True)


def invoice_from_json(text: str) -> Invoice:
    data = json.loads(text)
    money = ("unit_price", "vat_rate", "subscriptions_amount", "adjustments_amount", "subtotal", "vat_amount", "total",
             "credit_carried_forward")
    return Invoice(
        **{key: data[key] for key in ("invoice_number", "billing_month", "currency", "billable_count")},
        **{key: Decimal(data[key]) for key in money},
        issuer=Issuer(**{**data["issuer"], "address": tuple(data["issuer"]["address"])}),
        bill_to=BillTo(**data["bill_to"]),
        invoice_date=date.fromisoformat(data["invoice_date"]),
        due_date=date.fromisoformat(data["due_date"]),
        lines=tuple(
            InvoiceLine(**{**line, "unit_price": Decimal(line["unit_price"]), "amount": Decimal(line["amount"])})
            for line in data["lines"]
        ),
        notes=tuple(data["notes"]),
    )
