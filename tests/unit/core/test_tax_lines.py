"""Mushak-6.3's per-line columns: each line's SD (none) and VAT, and its value including both.

The invoice owes VAT on its subtotal; printed per line, the shares must add up to that VAT to
the poisha, each share within a minor unit of the line's own value times the rate.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dms_billing.core.invoice import ADJUSTMENT, LUMP_SUM, USER_MONTH, InvoiceLine
from include.dms_billing.core.tax_lines import taxed_lines
from tests.support.samples import make_invoice


def _adjustment(description: str, users: int, price: str) -> InvoiceLine:
    return InvoiceLine(ADJUSTMENT, description, users, Decimal(price), users * Decimal(price))


def test_the_sample_invoices_lines_with_vat_and_no_sd() -> None:
    lines = taxed_lines(make_invoice())  # 540 and 18 users at 150.00 BDT, 15% VAT
    assert [(t.number, t.line.unit, t.sd_amount, t.vat_amount, t.value_including_taxes) for t in lines] == [
        (1, USER_MONTH, Decimal("0.00"), Decimal("12150.00"), Decimal("93150.00")),
        (2, USER_MONTH, Decimal("0.00"), Decimal("405.00"), Decimal("3105.00")),
    ]


@pytest.mark.parametrize("rate", ["0.15", "0.075", "0.05", "0.025"])
@pytest.mark.parametrize("credits", [
    (),
    (("Credit for April 2023: 1 user (objection)", 1, "-150.03"),),
    (("Credit for April 2023: 3 users (objection)", 3, "-150.01"), ("Debit for March 2023: 1 user", 1, "150.07"),
     ("Credit for February 2023: 7 users (objection)", 7, "-150.05")),
])
def test_the_vat_shares_add_up_to_the_invoices_vat(rate: str, credits: tuple) -> None:
    invoice = make_invoice(vat_rate=rate, adjustments=tuple(_adjustment(*c) for c in credits))
    lines = taxed_lines(invoice)
    assert sum(t.vat_amount for t in lines) == invoice.vat_amount
    assert sum(t.value_including_taxes for t in lines) == invoice.total
    for taxed in lines:
        assert abs(taxed.vat_amount - taxed.line.amount * invoice.vat_rate) <= Decimal("0.01")
        assert taxed.sd_amount == 0 and str(taxed.sd_amount) == "0.00"  # never "-0.00" on a credit


def test_a_credit_larger_than_the_bill_is_a_lump_sum_carried_forward() -> None:
    invoice = make_invoice(adjustments=(_adjustment("Credit for April 2023: 600 users (objection)", 600, "-150.00"),))
    lines = taxed_lines(invoice)
    assert invoice.total == 0 and lines[-1].line.unit == LUMP_SUM
    assert sum(t.vat_amount for t in lines) == 0
