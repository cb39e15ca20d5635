"""History at a glance (issue 18): a client's last 12 months, and finance's month against the 12 before.

Pure data, built by ``ledger/history.py`` from the ledger and drawn by ``outputs/charts.py``.
A month without data is ``None`` in every field it lacks, never a zero: a chart draws it as
"no data" and a table says so. The JSON form (``to_data``) is what the chart embeds in its PNG.

- ``ClientHistory``: for each of the 12 months ending at the billing month, billable users by
  reason and an amount, or no data. The amount is the invoice total (``AMOUNT_INVOICED``: VAT and
  adjustments included) or, for the list email's own month before its invoice exists, the
  subscriptions amount the list's terms promise (``AMOUNT_EXPECTED``: before VAT); the chart's
  legend and the table say which.
- ``FinanceHistory``: the month's invoiced total per currency, and each of the 12 months before;
  currencies are never added together. A month with no invoice in a currency is no data for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.columns import BILLABLE_REASONS
from include.dms_billing.core.invoice import Invoice

MONTHS = 12
NOT_SPLIT = "not_split"  # an invoice with one line and no sealed list's counts: the total, not split
REASONS = (*BILLABLE_REASONS, NOT_SPLIT)  # the stacking order of the bars
AMOUNT_INVOICED = "invoice_total"  # the invoice's total, VAT and adjustments included
AMOUNT_EXPECTED = "subscriptions_before_vat"  # not invoiced yet: the list's subscriptions amount


def window(billing_month: str, months: int = MONTHS) -> tuple[str, ...]:
    """The ``months`` months ending at ``billing_month``, oldest first (across year ends)."""
    month = BillingMonth.parse(billing_month)
    found = [month]
    for _ in range(months - 1):
        found.append(found[-1].previous())
    return tuple(str(m) for m in reversed(found))


@dataclass(frozen=True)
class MonthPoint:
    """One month of a client: ``by_reason`` None is no list data, ``amount`` None no amount."""

    billing_month: str
    by_reason: Mapping[str, int] | None = None
    amount: Decimal | None = None
    currency: str | None = None
    amount_kind: str | None = None  # AMOUNT_INVOICED or AMOUNT_EXPECTED when there is an amount

    def __post_init__(self) -> None:
        if self.by_reason is not None:
            unknown = set(self.by_reason) - set(REASONS)
            if unknown:
                raise ValueError(f"{self.billing_month}: not reasons of a billed list: {sorted(unknown)}")
            object.__setattr__(self, "by_reason", {r: int(self.by_reason[r]) for r in REASONS if r in self.by_reason})
        if (self.amount is None) != (self.currency is None) or (self.amount is None) != (self.amount_kind is None):
            raise ValueError(f"{self.billing_month}: an amount needs its currency and kind, and only with one")
        if self.amount_kind not in (None, AMOUNT_INVOICED, AMOUNT_EXPECTED):
            raise ValueError(f"{self.billing_month}: unknown amount kind {self.amount_kind!r}")

    @property
    def has_data(self) -> bool:
        return self.by_reason is not None or self.amount is not None

    @property
    def billable(self) -> int | None:
        return None if self.by_reason is None else sum(self.by_reason.values())

    def to_data(self) -> dict[str, object]:
        return {
            "billing_month": self.billing_month,
            "by_reason": None if self.by_reason is None else dict(self.by_reason),
            "billable": self.billable,
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency,
            "amount_kind": self.amount_kind,
        }


@dataclass(frozen=True)
class ClientHistory:
    client_code: str
    billing_month: str
    months: tuple[MonthPoint, ...]  # the window, oldest first, one point per month

    @property
    def currency(self) -> str | None:
        """The amount axis's currency: the latest month's that has an amount."""
        return next((p.currency for p in reversed(self.months) if p.currency), None)

    @property
    def no_data_months(self) -> tuple[str, ...]:
        return tuple(p.billing_month for p in self.months if not p.has_data)

    def to_data(self) -> dict[str, object]:
        return {"kind": "client_history", "client_code": self.client_code, "billing_month": self.billing_month,
                "currency": self.currency, "months": [p.to_data() for p in self.months]}


def invoice_point(invoice: Invoice, listed: Mapping[str, int] | None = None) -> MonthPoint:
    """The month an invoice bills: its total, and its users by reason from its lines; an older
    invoice of one line without reason takes ``listed`` (its sealed list's counts, when they add up
    to its count), else its count as ``NOT_SPLIT``."""
    by_reason = invoice.by_reason
    if not by_reason and listed is not None and sum(listed.values()) == invoice.billable_count:
        by_reason = dict(listed)
    return MonthPoint(invoice.billing_month, by_reason or {NOT_SPLIT: invoice.billable_count}, invoice.total,
                      invoice.currency, AMOUNT_INVOICED)


def client_history(client_code: str, billing_month: str, known: Iterable[MonthPoint]) -> ClientHistory:
    """The 12 months ending at ``billing_month``: each month of ``known`` in the window as given,
    every other month no data (before the client's first bill, or a month never billed)."""
    by_month = {p.billing_month: p for p in known}
    return ClientHistory(client_code, billing_month,
                         tuple(by_month.get(m) or MonthPoint(m) for m in window(billing_month)))


def list_history(
    client_code: str, billing_month: str, known: Iterable[MonthPoint], by_reason: Mapping[str, int],
    expected: Decimal | None, currency: str | None,
) -> ClientHistory:
    """The list email's history: its own month is its invoice once issued (in ``known`` with an
    amount), else the list's counts with the subscriptions amount its terms promise (before VAT;
    none when the client has no plan yet)."""
    known = list(known)
    if not any(p.billing_month == billing_month and p.amount is not None for p in known):
        kind = AMOUNT_EXPECTED if expected is not None else None
        known.append(MonthPoint(billing_month, by_reason, expected, currency if kind else None, kind))
    return client_history(client_code, billing_month, known)


@dataclass(frozen=True)
class FinanceHistory:
    """``totals[currency][i]`` is the total invoiced in ``months[i]``, None for none; the last
    month is the summary's own (13 months in all: it and the 12 before)."""

    billing_month: str
    months: tuple[str, ...]
    invoice_counts: tuple[int, ...]
    totals: Mapping[str, tuple[Decimal | None, ...]] = field(default_factory=dict)

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted(self.totals))

    def to_data(self) -> dict[str, object]:
        return {"kind": "finance_history", "billing_month": self.billing_month, "months": list(self.months),
                "invoice_counts": list(self.invoice_counts),
                "totals": {c: [None if t is None else str(t) for t in self.totals[c]] for c in self.currencies}}


def finance_history(billing_month: str, invoiced: Iterable[tuple[str, str, Decimal]]) -> FinanceHistory:
    """From ``(billing_month, currency, total)`` of every invoice (others ignored): per currency,
    the month's total and each of the 12 months before's, None where no invoice in it."""
    months = window(billing_month, MONTHS + 1)
    counts = dict.fromkeys(months, 0)
    sums: dict[str, dict[str, Decimal]] = {}
    for month, currency, total in invoiced:
        if month in counts:
            counts[month] += 1
            per_month = sums.setdefault(currency, {})
            per_month[month] = per_month.get(month, Decimal(0)) + total
    return FinanceHistory(billing_month, months, tuple(counts[m] for m in months),
                          {c: tuple(sums[c].get(m) for m in months) for c in sorted(sums)})
