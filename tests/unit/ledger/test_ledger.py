"""The ledger: migrations match the schema; invoices are issued once, numbered in sequence."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from include.dms_billing.core.invoice import (
    BillTo,
    Invoice,
    Issuer,
    build_invoice,
    invoice_from_json,
    invoice_to_json,
)
from include.dms_billing.ledger.invoices import issue_invoice, month_invoices
from include.dms_billing.ledger.schema import invoices, metadata

ISSUER = Issuer("Sokrio Technologies Ltd", ("Banani", "Dhaka"), "billing@sokrio.example", "000-0101", "SKR")


def _builder(code: str, count: int = 3, unit_price: str = "155.50"):
    def build(number: str, adjustments=()) -> Invoice:
        return build_invoice(
            invoice_number=number, issuer=ISSUER, bill_to=BillTo(code, f"{code} Ltd", f"billing@{code}.example"),
            billing_month="2023-05", invoice_date=date(2023, 6, 1), due_date=date(2023, 6, 16), currency="BDT",
            billable_count=count, unit_price=Decimal(unit_price), vat_rate=Decimal("0.15"), adjustments=adjustments,
        )

    return build


def _render(invoice: Invoice) -> tuple[str, bytes]:
    return f"<p>{invoice.invoice_number}</p>", f"%PDF {invoice.invoice_number}".encode()


def _issue(engine: sa.Engine, code: str, build=None, run_id: str = "run-1", render=_render):
    return issue_invoice(engine, client_code=code, billing_month="2023-05", prefix="SKR",
                         build=build or _builder(code), render=render, run_id=run_id)


def test_migrations_create_exactly_the_schema(ledger_engine: sa.Engine) -> None:
    with ledger_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_an_invoice_is_issued_once_and_numbers_follow_each_other(ledger_engine: sa.Engine) -> None:
    first = _issue(ledger_engine, "MEGHNA")
    again = _issue(ledger_engine, "MEGHNA", _builder("MEGHNA", count=999), run_id="run-2")
    other = _issue(ledger_engine, "PADMA")

    assert first.newly_issued and not again.newly_issued and other.newly_issued
    assert first.invoice.invoice_number == again.invoice.invoice_number == "SKR-000001"
    assert again.invoice.billable_count == 3 and again.pdf == first.pdf
    assert other.invoice.invoice_number == "SKR-000002"
    assert [i.invoice_number for i in month_invoices(ledger_engine, "2023-05")] == ["SKR-000001", "SKR-000002"]


def test_amounts_come_back_exact(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "MEGHNA", _builder("MEGHNA", count=7, unit_price="0.015"))
    with ledger_engine.connect() as conn:
        row = conn.execute(sa.select(invoices)).one()
    assert row.unit_price == Decimal("0.015")
    assert row.subscriptions_amount == Decimal("0.11")  # 0.105 rounded half-up
    assert row.vat_amount == Decimal("0.02") and row.total == Decimal("0.13")


def _another_rendering(invoice: Invoice) -> tuple[str, bytes]:
    return "<p/>", b"%PDF other"


def test_a_race_for_the_same_invoice_returns_the_winners(ledger_engine: sa.Engine) -> None:
    """Another run comes while this one renders: it finds the invoice numbered but not yet
    rendered, renders it and keeps its rendering first. Both give back the one invoice and PDF."""
    others = []

    def render_while_another_run_issues(invoice: Invoice) -> tuple[str, bytes]:
        others.append(_issue(ledger_engine, "MEGHNA", run_id="other-run", render=_another_rendering))
        return _render(invoice)

    won = _issue(ledger_engine, "MEGHNA", render=render_while_another_run_issues)

    (other,) = others
    assert won.newly_issued and not other.newly_issued
    assert won.invoice == other.invoice and won.invoice.invoice_number == "SKR-000001"
    assert won.pdf == other.pdf == b"%PDF other"
    with ledger_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invoices)).scalar() == 1


def test_the_database_refuses_a_second_invoice_for_the_month(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "MEGHNA")
    with ledger_engine.connect() as conn:
        row = dict(conn.execute(sa.select(invoices)).one()._mapping)
    row.pop("id")
    with pytest.raises(sa.exc.IntegrityError), ledger_engine.begin() as conn:
        conn.execute(invoices.insert().values(**{**row, "sequence": 2, "invoice_number": "SKR-000002"}))


def test_an_invoice_survives_json() -> None:
    invoice = _builder("MEGHNA")("SKR-000009")
    assert invoice_from_json(invoice_to_json(invoice)) == invoice


def test_invoice_arithmetic() -> None:
    invoice = _builder("MEGHNA", count=558, unit_price="150.00")("SKR-000001")
    assert invoice.subscriptions_amount == Decimal("83700.00")
    assert invoice.vat_amount == Decimal("12555.00") and invoice.total == Decimal("96255.00")


def test_the_invoice_records_when_it_was_issued_and_a_rerun_keeps_that_time(ledger_engine: sa.Engine) -> None:
    """Mushak-6.3's time of issue: the moment the ledger numbered the invoice, the same every re-run."""
    from datetime import datetime, timezone

    before = datetime.now(timezone.utc)
    first = _issue(ledger_engine, "MEGHNA")
    after = datetime.now(timezone.utc)
    again = _issue(ledger_engine, "MEGHNA", run_id="run-2")
    issued_at = first.invoice.issued_at
    assert issued_at is not None and before <= issued_at <= after and issued_at.utcoffset().total_seconds() == 0
    assert again.invoice.issued_at == issued_at
    with ledger_engine.connect() as conn:
        stored = conn.execute(sa.select(invoices.c.issued_at)).scalar_one()
    assert stored.replace(tzinfo=stored.tzinfo or timezone.utc) == issued_at
