"""The invoice as data (contract section 4): lines, subtotal, VAT and total, computed exactly.

Pure: the number, the dates and the billable count come in; rendering and storage are
elsewhere. Every amount is a Decimal rounded half-up at the currency's minor unit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.columns import BILLABLE_REASONS, REASON_ACTIVE, REASON_RECENT_LOGIN
from include.dms_billing.core.money import round_money

if TYPE_CHECKING:
    from include.dms_billing.core.parties import IssuerConfig

SUBSCRIPTIONS = "subscriptions"
ADJUSTMENT = "adjustment"
# Mushak-6.3's "unit of supply": a line bills user-months (one user's subscription for one month);
# a credit carried forward is one sum of money.
USER_MONTH = "user-month"
LUMP_SUM = "lump sum"


# What each billable reason's line says (contract section 2).
REASON_LINES = {
    REASON_ACTIVE: "Active users at month end",
    REASON_RECENT_LOGIN: "Inactive users who logged in during the month",
}


@dataclass(frozen=True)
class PaymentMethod:
    """One way to pay, as printed: a title ("Bank transfer", "bKash") and its labelled details."""

    title: str
    details: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Issuer:
    """Who bills (the seller): printed on every invoice as it was when the invoice was issued;
    ``prefix`` starts every invoice number."""

    name: str
    address: tuple[str, ...]
    email: str
    vat_registration: str  # the BIN
    prefix: str
    phone: str = ""
    payment: tuple[PaymentMethod, ...] = ()
    signatory_name: str = ""
    signatory_designation: str = ""


def invoice_issuer(config: IssuerConfig) -> Issuer:
    """The issuer as an invoice records it: payment instructions become labelled lines."""
    methods = []
    if config.payment.bank:
        bank = config.payment.bank
        details = [("Bank", bank.bank), ("Branch", bank.branch), ("Account name", bank.account_name),
                   ("Account number", bank.account_number), ("Routing number", bank.routing_number),
                   ("SWIFT", bank.swift)]
        methods.append(PaymentMethod("Bank transfer", tuple((k, v) for k, v in details if v)))
    for wallet in config.payment.mobile:
        methods.append(PaymentMethod(wallet.provider, (("Account", f"{wallet.number} ({wallet.account_type})"),)))
    signatory = config.signatory
    return Issuer(
        name=config.name, address=config.address, email=config.email, vat_registration=config.bin,
        prefix=config.invoice_prefix, phone=config.phone or "", payment=tuple(methods),
        signatory_name=signatory.name if signatory else "",
        signatory_designation=signatory.designation if signatory else "",
    )


@dataclass(frozen=True)
class BillTo:
    """The buyer: ``client_name`` is its legal name, ``address`` and ``bin`` from the configuration."""

    client_code: str
    client_name: str
    email: str
    address: tuple[str, ...] = ()
    bin: str = ""


@dataclass(frozen=True)
class InvoiceLine:
    kind: str  # SUBSCRIPTIONS or ADJUSTMENT
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    reason: str = ""  # a subscriptions line's billable reason; empty on older invoices' single line
    unit: str = USER_MONTH


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
    timezone: str = ""  # the client's: the billing period's days are its calendar days
    objection_deadline: date | None = None  # the last day an objection to this bill is taken
    payment_terms_days: int | None = None  # the plan's "Net N": the due date is N days on, or the next working day
    vat_basis: str = ""  # why this VAT rate applies, as printed (empty: not stated)
    issued_at: datetime | None = None  # when the ledger numbered it (UTC): Mushak-6.3's time of issue

    @property
    def period_start(self) -> date:
        return BillingMonth.parse(self.billing_month).first_day

    @property
    def period_end(self) -> date:
        """The billing period's last day (inclusive)."""
        return BillingMonth.parse(self.billing_month).next().first_day - timedelta(days=1)

    @property
    def terms_end(self) -> date | None:
        """The invoice date plus the payment terms, before a day off moves it (None: terms unknown)."""
        return None if self.payment_terms_days is None else self.invoice_date + timedelta(days=self.payment_terms_days)

    @property
    def by_reason(self) -> dict[str, int]:
        """Billable users by reason, from the lines (empty for an older invoice with one line)."""
        return {line.reason: line.quantity for line in self.lines if line.kind == SUBSCRIPTIONS and line.reason}

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


def subscriptions_lines(
    by_reason: Mapping[str, int], unit_price: Decimal, billing_month: str, currency: str
) -> tuple[InvoiceLine, ...]:
    """One line per billable reason, both always shown (a zero count says so)."""
    unknown = set(by_reason) - set(BILLABLE_REASONS)
    if unknown:
        raise ValueError(f"not billable reasons: {sorted(unknown)}")
    return tuple(
        InvoiceLine(
            kind=SUBSCRIPTIONS,
            description=f"DMS user subscriptions, {month_name(billing_month)}: {REASON_LINES[reason].lower()}",
            quantity=by_reason.get(reason, 0),
            unit_price=unit_price,
            amount=round_money(unit_price * by_reason.get(reason, 0), currency),
            reason=reason,
        )
        for reason in BILLABLE_REASONS
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
    by_reason: Mapping[str, int] | None = None,
    timezone: str = "",
    objection_deadline: date | None = None,
    payment_terms_days: int | None = None,
    vat_basis: str = "",
) -> Invoice:
    """Lines, subtotal, VAT (on the subtotal) and total, each rounded at the minor unit.

    ``by_reason`` splits the ``billable_count`` users into one line per reason (all active when
    not given). Credits larger than the invoice bring it to zero; the rest is carried forward,
    shown as its own line (contract section 5).
    """
    by_reason = dict(by_reason) if by_reason is not None else {REASON_ACTIVE: billable_count}
    if sum(by_reason.values()) != billable_count:
        raise ValueError(f"billable users by reason {by_reason} do not add up to {billable_count}")
    subscriptions = subscriptions_lines(by_reason, unit_price, billing_month, currency)
    subscriptions_amount = round_money(unit_price * billable_count, currency)
    if sum(line.amount for line in subscriptions) != subscriptions_amount:
        raise ValueError(f"unit price {unit_price} is finer than {currency}'s minor unit: the lines do not add up")
    adjustments = tuple(adjustments)
    before_carry = subscriptions_amount + round_money(sum((a.amount for a in adjustments), Decimal(0)), currency)
    carried = -before_carry if before_carry < 0 else Decimal(0)
    if carried:
        adjustments += (InvoiceLine(ADJUSTMENT, "Credit carried forward to the next invoice", 1, carried, carried,
                                    unit=LUMP_SUM),)
    adjustments_amount = round_money(sum((a.amount for a in adjustments), Decimal(0)), currency)
    subtotal = subscriptions_amount + adjustments_amount
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
        lines=(*subscriptions, *adjustments),
        subscriptions_amount=subscriptions_amount,
        adjustments_amount=adjustments_amount,
        subtotal=subtotal,
        vat_amount=vat_amount,
        total=subtotal + vat_amount,
        credit_carried_forward=carried,
        timezone=timezone,
        objection_deadline=objection_deadline,
        payment_terms_days=payment_terms_days,
        vat_basis=vat_basis,
    )


def invoice_to_json(invoice: Invoice) -> str:
    """The whole invoice as JSON (decimals and dates as strings): what the ledger keeps."""
    return json.dumps(asdict(invoice), default=str, ensure_ascii=False, sort_keys=True)


def _issuer_from(data: dict) -> Issuer:
    payment = tuple(PaymentMethod(p["title"], tuple(tuple(d) for d in p["details"])) for p in data.get("payment", ()))
    return Issuer(**{**data, "address": tuple(data["address"]), "payment": payment})


def invoice_from_json(text: str) -> Invoice:
    """An invoice as the ledger kept it; one issued before a field existed gets its default."""
    data = json.loads(text)
    money = ("unit_price", "vat_rate", "subscriptions_amount", "adjustments_amount", "subtotal", "vat_amount", "total",
             "credit_carried_forward")
    deadline, issued_at = data.get("objection_deadline"), data.get("issued_at")
    return Invoice(
        **{key: data[key] for key in ("invoice_number", "billing_month", "currency", "billable_count")},
        **{key: Decimal(data[key]) for key in money},
        issuer=_issuer_from(data["issuer"]),
        bill_to=BillTo(**{**data["bill_to"], "address": tuple(data["bill_to"].get("address", ()))}),
        invoice_date=date.fromisoformat(data["invoice_date"]),
        due_date=date.fromisoformat(data["due_date"]),
        timezone=data.get("timezone", ""),
        objection_deadline=date.fromisoformat(deadline) if deadline else None,
        payment_terms_days=data.get("payment_terms_days"),
        vat_basis=data.get("vat_basis", ""),
        issued_at=datetime.fromisoformat(issued_at) if issued_at else None,
        lines=tuple(
            InvoiceLine(**{**line, "unit_price": Decimal(line["unit_price"]), "amount": Decimal(line["amount"])})
            for line in data["lines"]
        ),
        notes=tuple(data["notes"]),
    )
