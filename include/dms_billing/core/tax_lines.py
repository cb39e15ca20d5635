"""The invoice's lines as the Bangladeshi tax invoice (Mushak-6.3) prints them: each line's
supplementary duty (SD), VAT and value including both.

The invoice's VAT is worked out once, on its subtotal (``invoice.build_invoice``): that is the
amount owed. Printed per line, each line's share is its value times the rate, rounded half-up,
and where those roundings do not add up to the invoice's VAT the minor units left over go to the
lines whose shares were rounded furthest from their exact value (largest remainder), so that
the column adds up to the total a client pays. Pure: derived from a stored invoice, so older
invoices print the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from include.dms_billing.core.invoice import Invoice, InvoiceLine
from include.dms_billing.core.money import minor_units, round_money

# Supplementary duty on a software subscription: none (the Act's SD schedules do not list it).
# The form has the columns all the same, and 0 is the value they expect.
SUPPLEMENTARY_DUTY_RATE = Decimal(0)


@dataclass(frozen=True)
class TaxedLine:
    number: int  # the line's serial number on the invoice, from 1
    line: InvoiceLine
    sd_amount: Decimal
    vat_amount: Decimal

    @property
    def value_including_taxes(self) -> Decimal:
        return self.line.amount + self.sd_amount + self.vat_amount


def _shares(amounts: list[Decimal], rate: Decimal, total: Decimal, currency: str) -> list[Decimal]:
    """``total`` split over ``amounts`` in proportion, each share in the currency's minor units."""
    exact = [amount * rate for amount in amounts]
    shares = [round_money(value, currency) for value in exact]
    step = Decimal(1).scaleb(-minor_units(currency))
    left = int((total - sum(shares, Decimal(0))) / step)  # minor units the roundings missed (+) or overshot (-)
    if left:
        sign = 1 if left > 0 else -1
        # the shares rounded furthest from their exact value in the missing direction go first
        order = sorted((i for i, amount in enumerate(amounts) if amount),
                       key=lambda i: (-(exact[i] - shares[i]) * sign, i))
        for i in (order * abs(left))[:abs(left)]:
            shares[i] += sign * step
    return shares


def taxed_lines(invoice: Invoice) -> tuple[TaxedLine, ...]:
    """Every line of ``invoice`` with its SD and its share of the invoice's VAT; the VAT shares
    add up to ``invoice.vat_amount`` exactly."""
    amounts = [line.amount for line in invoice.lines]
    sd = [round_money(amount * SUPPLEMENTARY_DUTY_RATE, invoice.currency) + 0 for amount in amounts]  # + 0: no -0.00
    base = [amount + duty for amount, duty in zip(amounts, sd)]
    vat = _shares(base, invoice.vat_rate, invoice.vat_amount, invoice.currency)
    return tuple(TaxedLine(n, line, duty, tax)
                 for n, (line, duty, tax) in enumerate(zip(invoice.lines, sd, vat), start=1))
