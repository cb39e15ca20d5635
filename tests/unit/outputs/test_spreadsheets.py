"""What Excel opens: the CSVs start with a UTF-8 byte-order mark, the list's XLSX has typed cells
and a Summary sheet equal to the invoice the list becomes, the finance XLSX the CSV's rows."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd

from include.dms_billing.core.columns import REASON_ACTIVE, REASON_RECENT_LOGIN
from include.dms_billing.core.invoice import ADJUSTMENT, BillTo, InvoiceLine, build_invoice
from include.dms_billing.outputs.billable_list import to_csv_bytes, write_billable_list
from include.dms_billing.outputs.finance_sheet import XLSX_COLUMNS, finance_csv_bytes, finance_xlsx_bytes
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.spreadsheets import list_xlsx_bytes
from tests.support.contract import FINANCE_COLUMNS
from tests.support.samples import FORMULA_NAME, ISSUER, make_billed, make_invoice, make_terms

BOM = b"\xef\xbb\xbf"


def test_the_list_csv_on_disk_and_the_finance_csv_start_with_a_bom(tmp_path: Path) -> None:
    billed = make_billed()
    paths = ClientMonthPaths(tmp_path, "2023-05", "MEGHNA")
    write_billable_list(billed, 10, 1, paths, tmp_path / "report.json")
    data = paths.billable_csv.read_bytes()
    assert data.startswith(BOM + b"user_id,username,") and data == to_csv_bytes(billed)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["full_name"] == "রহিম উদ্দিন" and rows[3]["full_name"] == "'" + FORMULA_NAME
    finance = finance_csv_bytes([make_invoice()])
    assert finance.startswith(BOM + b"invoice_number,client_code,")
    assert next(csv.reader(io.StringIO(finance.decode("utf-8-sig")))) == FINANCE_COLUMNS  # no column added


def _workbook(billed: pd.DataFrame) -> openpyxl.Workbook:
    data = list_xlsx_bytes(billed, "MEGHNA 2023-05", terms=make_terms(billed), client_name="Meghna Foods Ltd")
    return openpyxl.load_workbook(io.BytesIO(data))


def _labelled(sheet) -> dict[str, tuple]:
    """Summary rows by their first cell: ``{"Invoice date": (datetime, None, ...), ...}``."""
    return {row[0]: row[1:] for row in sheet.iter_rows(values_only=True) if row[0] is not None}


def test_the_summary_sheet_is_first_and_equals_the_invoice_of_the_same_list() -> None:
    billed = make_billed()
    book, terms = _workbook(billed), make_terms(billed)
    assert book.sheetnames == ["Summary", "MEGHNA 2023-05"] and book.active.title == "Summary"
    by_reason = {REASON_ACTIVE: 3, REASON_RECENT_LOGIN: 1}
    invoice = build_invoice(
        invoice_number="SKR-000001", issuer=ISSUER, bill_to=BillTo("MEGHNA", "Meghna Foods Ltd", "a@meghna.example"),
        billing_month="2023-05", invoice_date=terms.invoice_date, due_date=date(2023, 6, 16), currency="BDT",
        billable_count=4, unit_price=Decimal("150.00"), vat_rate=Decimal("0.15"), by_reason=by_reason)
    rows = _labelled(book["Summary"])
    assert rows["Month"][0] == "2023-05" and rows["Client"][0] == "Meghna Foods Ltd (MEGHNA)"
    assert rows["Invoice line"][:4] == ("billable_reason", "Users", "Unit price (BDT)", "Amount (BDT)")
    for line in invoice.lines:
        description, reason, users, unit_price, amount = (line.description, *rows[line.description])[:5]
        assert (reason, users) == (line.reason, line.quantity) and isinstance(users, int)
        assert Decimal(str(unit_price)) == line.unit_price and Decimal(str(amount)) == line.amount
    assert rows["Total"][1] == invoice.billable_count == 4
    assert Decimal(str(rows["Total"][3])) == invoice.subscriptions_amount == Decimal("600.00")
    assert rows["Invoice date"][0] == datetime.combine(invoice.invoice_date, datetime.min.time())
    assert book["Summary"]["B10"].number_format == "yyyy-mm-dd"
    assert Decimal(str(rows["VAT rate"][0])) == invoice.vat_rate
    assert rows["Objection deadline"][0].date() == terms.objection_deadline
    assert rows["Objection reference"][0] == "MEGHNA/2023-05"


def test_list_sheet_times_are_local_datetimes_counts_are_numbers_with_an_autofilter() -> None:
    billed = make_billed()
    sheet = _workbook(billed)["MEGHNA 2023-05"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    at, logins = header.index("last_login_at (Bangladesh time)"), header.index("logins_in_month")
    assert "status_set_at (Bangladesh time)" in header
    local = billed["last_login_at"].dt.tz_localize(None)  # the wall time in Dhaka
    assert [row[at] for row in rows[1:]] == [None if pd.isna(t) else t.to_pydatetime() for t in local]
    assert rows[1][at] == datetime(2023, 5, 31, 17, 45)  # 11:45 UTC
    assert sheet.cell(row=2, column=at + 1).is_date and sheet.cell(row=2, column=at + 1).number_format == \
        "yyyy-mm-dd hh:mm:ss"
    assert [row[logins] for row in rows[1:]] == [14, 1, 0, 3] and all(type(row[0]) is int for row in rows[1:])
    assert sheet.auto_filter.ref == f"A1:K{len(billed) + 1}" and sheet.freeze_panes == "A2"
    assert rows[4][2] == "'" + FORMULA_NAME and sheet["C5"].data_type == "s"  # still neutralised
    assert sheet.column_dimensions["G"].width >= len("last_login_at (Bangladesh time)")


def _finance_invoices() -> list:
    credit = InvoiceLine(ADJUSTMENT, "Credit for April 2023: 2 users", 2, Decimal("-150.00"), Decimal("-300.00"))
    return [make_invoice(), make_invoice(number="SKR-000002", client_name="মেঘনা ফুডস", vat_rate="0.075",
                                         adjustments=(credit,)),
            make_invoice(number="SKR-000003", currency="KWD", client_name="=cmd|' /C calc'!A0")]


def test_finance_xlsx_has_the_csvs_rows_typed_and_a_totals_row_per_currency() -> None:
    invoices = _finance_invoices()
    csv_rows = list(csv.DictReader(io.StringIO(finance_csv_bytes(invoices).decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(finance_xlsx_bytes("2023-05", invoices))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == XLSX_COLUMNS and [c for c in XLSX_COLUMNS if c in FINANCE_COLUMNS] == FINANCE_COLUMNS
    cells = [dict(zip(XLSX_COLUMNS, row)) for row in rows[1:4]]
    for row, expected, invoice in zip(cells, csv_rows, invoices, strict=True):
        assert row["client_name"] == invoice.bill_to.client_name and row["vat_rate"] == float(invoice.vat_rate)
        for column in ("invoice_date", "due_date"):
            assert row[column].date().isoformat() == expected[column]
        assert type(row["billable_count"]) is int and str(row["billable_count"]) == expected["billable_count"]
        for column in ("unit_price", "subscriptions_amount", "adjustments_amount", "subtotal", "vat_amount", "total"):
            assert Decimal(str(row[column])) == Decimal(expected[column]), column
        assert all(row[c] == expected[c] for c in ("invoice_number", "client_code", "billing_month", "currency"))
    assert sheet["C4"].data_type == "s" and sheet["P4"].value is None  # a name that looks like a formula: text
    assert sheet["O2"].number_format == "#,##0.00" and sheet["O4"].number_format == "#,##0.000"  # KWD: 3
    assert sheet.auto_filter.ref == "A1:O4" and rows[4] == (None,) * len(XLSX_COLUMNS)  # totals outside it
    totals = {row[0]: dict(zip(XLSX_COLUMNS, row)) for row in rows[5:]}
    assert list(totals) == ["Total BDT", "Total KWD"]
    bdt = [r for r in csv_rows if r["currency"] == "BDT"]
    for column in ("billable_count", "subscriptions_amount", "adjustments_amount", "subtotal", "vat_amount", "total"):
        assert Decimal(str(totals["Total BDT"][column])) == sum(Decimal(r[column]) for r in bdt), column
    assert totals["Total KWD"]["total"] == float(invoices[2].total) and totals["Total BDT"]["total"] == 96255 + 89655
