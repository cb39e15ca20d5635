"""The history read from the ledger: invoices and sealed lists per month, older invoices split by
their sealed list's summary, and nothing made up where neither says."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from include.dms_billing.core.history import AMOUNT_INVOICED, NOT_SPLIT, MonthPoint
from include.dms_billing.core.invoice import SUBSCRIPTIONS, BillTo, InvoiceLine, build_invoice
from include.dms_billing.ledger.history import client_months, invoiced_totals
from include.dms_billing.ledger.invoices import issue_invoice
from include.dms_billing.ledger.schema import sealed_lists
from include.dms_billing.outputs.billable_list import ListSummary
from include.dms_billing.outputs.paths import ClientMonthPaths
from tests.support.samples import ISSUER

SPLIT = {"active": 3, "inactive_recent_login": 1}


def _issue(engine: sa.Engine, code: str, month: str, *, older: bool = False, currency: str = "BDT") -> Decimal:
    """An invoice of 4 users at 100; ``older``: one subscriptions line without reason, as before."""
    def build(number: str, adjustments: list[InvoiceLine]):
        invoice = build_invoice(
            invoice_number=number, issuer=ISSUER, bill_to=BillTo(code, f"{code} Ltd", f"billing@{code}.example"),
            billing_month=month, invoice_date=date(2023, 6, 1), due_date=date(2023, 6, 16), currency=currency,
            billable_count=4, unit_price=Decimal("100.00"), vat_rate=Decimal("0.15"), by_reason=SPLIT)
        if older:
            line = InvoiceLine(SUBSCRIPTIONS, "DMS user subscriptions", 4, Decimal("100.00"), Decimal("400.00"))
            invoice = replace(invoice, lines=(line,))
        return invoice

    return issue_invoice(engine, client_code=code, billing_month=month, prefix="SKR", build=build,
                         render=lambda invoice: ("<p></p>", b"%PDF-"), run_id="r").invoice.total


def _seal(engine: sa.Engine, root: Path, code: str, month: str, rows: int, summary: dict | None) -> None:
    with engine.begin() as conn:
        conn.execute(sealed_lists.insert().values(
            client_code=code, billing_month=month, csv_sha256="c" * 64, parquet_sha256="p" * 64, row_count=rows,
            sealed_because="list_sent", invoice_number=None, sealed_at=datetime.now(timezone.utc), sealed_by_run="r"))
    if summary is not None:
        paths = ClientMonthPaths(root, month, code)
        paths.summary.parent.mkdir(parents=True, exist_ok=True)
        paths.summary.write_text(ListSummary(code, month, 10, sum(summary.values()), summary, 0, "b", "c", "r").to_json())


def test_each_month_from_its_invoice_its_sealed_list_or_nothing(ledger_engine: sa.Engine, tmp_path: Path) -> None:
    root = tmp_path / "data"
    total = _issue(ledger_engine, "ACME", "2023-03", older=True)
    _seal(ledger_engine, root, "ACME", "2023-03", 4, SPLIT)  # an older invoice: split by its sealed list
    _issue(ledger_engine, "ACME", "2023-04", older=True)  # no sealed list: the count, not split
    _issue(ledger_engine, "ACME", "2023-05", older=True)
    _seal(ledger_engine, root, "ACME", "2023-05", 4, {"active": 5})  # a summary not of the sealed rows: not used
    _seal(ledger_engine, root, "ACME", "2023-06", 2, {"active": 1, "inactive_recent_login": 1})  # sent, not invoiced
    _issue(ledger_engine, "ACME", "2023-07")
    _issue(ledger_engine, "ACME", "2022-07")  # before the window
    _issue(ledger_engine, "OTHER", "2023-02")
    _seal(ledger_engine, root, "ACME", "2023-01", 3, None)  # sealed, its summary gone: no data

    points = {p.billing_month: p for p in client_months(ledger_engine, "ACME", "2023-07", root)}
    assert sorted(points) == ["2023-03", "2023-04", "2023-05", "2023-06", "2023-07"]
    assert points["2023-03"] == MonthPoint("2023-03", SPLIT, total, "BDT", AMOUNT_INVOICED)
    assert points["2023-04"].by_reason == points["2023-05"].by_reason == {NOT_SPLIT: 4}
    assert points["2023-06"] == MonthPoint("2023-06", {"active": 1, "inactive_recent_login": 1})
    assert points["2023-07"].by_reason == SPLIT and points["2023-07"].amount == Decimal("460.00")


def test_invoiced_totals_cover_the_month_and_the_twelve_before(ledger_engine: sa.Engine) -> None:
    _issue(ledger_engine, "ACME", "2023-07")
    _issue(ledger_engine, "PADMA", "2023-07", currency="USD")
    _issue(ledger_engine, "ACME", "2022-07")
    _issue(ledger_engine, "ACME", "2022-06")  # 13 months before: outside
    assert sorted(invoiced_totals(ledger_engine, "2023-07")) == [
        ("2022-07", "BDT", Decimal("460.00")), ("2023-07", "BDT", Decimal("460.00")),
        ("2023-07", "USD", Decimal("460.00"))]
