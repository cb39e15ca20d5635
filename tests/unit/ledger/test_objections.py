"""Objections become adjustments on the client's next invoice, exactly once (contract section 5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.invoice import ADJUSTMENT, BillTo, Invoice, build_invoice
from include.dms_billing.ledger.invoices import IssuedInvoice, issue_invoice
from include.dms_billing.ledger.objections import (
    ObjectionRejected,
    ObjectionRequest,
    record_objections,
    requests_from_csv,
)
from include.dms_billing.ledger.schema import adjustments, objection_users, objections
from tests.support.samples import ISSUER

PRICES = {"2023-05": Decimal("150.00"), "2023-06": Decimal("165.00"), "2023-07": Decimal("165.00")}
BILLED = {month: set(range(1, 11)) for month in PRICES}  # users 1..10 billed every month


def _issue(engine: sa.Engine, month: str, count: int = 10, run_id: str = "run") -> IssuedInvoice:
    def build(number: str, lines) -> Invoice:
        day = BillingMonth.parse(month).next().first_day
        return build_invoice(
            invoice_number=number, issuer=ISSUER, bill_to=BillTo("MEGHNA", "Meghna Foods Ltd", "b@m.example"),
            billing_month=month, invoice_date=day, due_date=date(day.year, day.month, 16), currency="BDT",
            billable_count=count, unit_price=PRICES[month], vat_rate=Decimal("0.15"), adjustments=lines,
        )

    return issue_invoice(engine, client_code="MEGHNA", billing_month=month, prefix="SKR", build=build,
                         render=lambda i: ("<p/>", b"%PDF-"), run_id=run_id)


def _billed(code: str, month: str) -> set[int]:
    return BILLED.get(month, set())


def _object(engine: sa.Engine, users: tuple[int, ...], month: str = "2023-05", direction: str = "credit"):
    request = ObjectionRequest("MEGHNA", month, users, "left the company in April", "finance@sokrio", direction)
    return record_objections(engine, [request], _billed, "objection-run")


def _adjustment_lines(issued: IssuedInvoice):
    return [line for line in issued.invoice.lines if line.kind == ADJUSTMENT]


def _counts(engine: sa.Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                     for t in (objections, objection_users, adjustments))


def test_a_credit_lands_on_the_next_invoice_once(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "2023-05")
    [recorded] = _object(ledger_engine, (3, 4))

    june = _issue(ledger_engine, "2023-06")
    june_again = _issue(ledger_engine, "2023-06", run_id="rerun")
    july = _issue(ledger_engine, "2023-07")

    assert recorded.amount == Decimal("-300.00")  # May's price, not June's
    [line] = _adjustment_lines(june)
    assert "May 2023" in line.description and "2 users" in line.description and line.quantity == 2
    assert june.invoice.adjustments_amount == Decimal("-300.00")
    assert june.invoice.subtotal == Decimal("1650.00") - Decimal("300.00")
    assert not june_again.newly_issued and june_again.invoice == june.invoice
    assert _adjustment_lines(july) == []
    with ledger_engine.connect() as conn:
        applied = conn.execute(sa.select(adjustments.c.applied_invoice_number)).scalars().all()
    assert applied == [june.invoice.invoice_number]


@pytest.mark.parametrize(
    ("users", "month", "message"),
    [
        ((3, 99), "2023-05", "not on the billed list"),
        ((3,), "2023-06", "no invoice has been issued"),
        ((4,), "2023-05", "already under an accepted objection"),
        ((), "2023-05", "no user ids"),
    ],
)
def test_bad_objections_are_refused_and_change_nothing(ledger_engine, users, month, message) -> None:
    _issue(ledger_engine, "2023-05")
    _object(ledger_engine, (4,))
    before = _counts(ledger_engine)

    with pytest.raises(ObjectionRejected, match=message):
        _object(ledger_engine, users, month)
    assert _counts(ledger_engine) == before


def test_a_credit_larger_than_the_invoice_is_carried_forward(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "2023-05")
    _object(ledger_engine, tuple(range(1, 11)))  # 10 x 150.00 = 1,500.00 credit

    june = _issue(ledger_engine, "2023-06", count=4)  # 4 x 165.00 = 660.00
    july = _issue(ledger_engine, "2023-07", count=10)  # 1,650.00

    assert june.invoice.subtotal == june.invoice.total == Decimal("0.00")
    assert june.invoice.credit_carried_forward == Decimal("840.00")
    assert [line.amount for line in _adjustment_lines(june)] == [Decimal("-1500.00"), Decimal("840.00")]
    [carried] = _adjustment_lines(july)
    assert carried.amount == Decimal("-840.00") and june.invoice.invoice_number in carried.description
    assert july.invoice.subtotal == Decimal("810.00")


def test_a_bulk_csv_is_all_or_nothing(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "2023-05")
    header = "client_code,billing_month,user_id,reason,decided_by,direction\n"
    good = "MEGHNA,2023-05,1,duplicate account,finance,credit\nMEGHNA,2023-05,2,duplicate account,finance,credit\n"
    bad = "MEGHNA,2023-05,77,never existed,finance,credit\n"

    with pytest.raises(ObjectionRejected, match="77"):
        record_objections(ledger_engine, requests_from_csv(header + good + bad), _billed, "bulk")
    assert _counts(ledger_engine) == (0, 0, 0)

    [recorded] = record_objections(ledger_engine, requests_from_csv(header + good), _billed, "bulk")
    assert recorded.request.user_ids == (1, 2) and _counts(ledger_engine) == (1, 2, 1)


def test_a_debit_adds_to_the_next_invoice(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "2023-05")
    _object(ledger_engine, (5,), direction="debit")
    assert _issue(ledger_engine, "2023-06").invoice.adjustments_amount == Decimal("150.00")
