"""What people open: the invoice as HTML and PDF, the list as XLSX, the finance CSV.

Each output is read back with a real parser (pypdf, openpyxl, csv), never compared as a string
of bytes we wrote ourselves.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pypdf
import pytest

from include.dms_billing.core.invoice import ADJUSTMENT, InvoiceLine
from include.dms_billing.outputs.render import environment, render_invoice_html, render_invoice_pdf
from include.dms_billing.outputs.finance_sheet import finance_csv_bytes
from include.dms_billing.outputs.spreadsheets import iso_text, list_xlsx_bytes, neutralised
from tests.support.contract import ATTACHMENT_COLUMNS, FINANCE_COLUMNS, LIST_COLUMNS
from tests.support.samples import FORMULA_NAME, make_billed, make_invoice

XLSX_HEADER = [f"{c} (Bangladesh time)" if c.endswith("_at") else c for c in ATTACHMENT_COLUMNS]  # times name their zone


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return render_invoice_pdf(render_invoice_html(make_invoice()))


def test_html_templates_are_escaped_and_text_templates_are_not() -> None:
    autoescape = environment().autoescape
    assert autoescape("invoice.html.j2") and autoescape("list_email.html.j2")
    assert not autoescape("list_email.txt.j2")


def test_invoice_html_holds_everything_an_invoice_needs() -> None:
    html = render_invoice_html(make_invoice())
    for expected in (
        "Sokrio Technologies Ltd", "House 12, Road 5, Gulshan 1", "BIN: 000123456-0101", "Tax Invoice (Mushak-6.3)",
        "Meghna Foods Ltd", "MEGHNA", "SKR-000001", "1 June 2023", "16 June 2023", "May 2023",
        "DMS user subscriptions, May 2023", "558", "150.00", "83,700.00 BDT", "VAT (15%)",
        "12,555.00 BDT", "96,255.00 BDT", "How to object", "never re-issued", "credit on your next invoice",
        "@page { size: A4", "'Noto Sans Bengali', 'Noto Sans', 'DejaVu Sans', sans-serif",
    ):
        assert expected in html, expected


def test_invoice_html_escapes_the_client_name() -> None:
    html = render_invoice_html(make_invoice(client_name="Evil <script>alert(1)</script> & Co"))
    assert "<script>" not in html
    assert "Evil &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_vat_rate_and_a_credit_line_are_shown_as_printed() -> None:
    credit = InvoiceLine(ADJUSTMENT, "Credit for April 2023: 2 users (objection)", 2, Decimal("-150.00"),
                         Decimal("-300.00"))
    html = render_invoice_html(make_invoice(vat_rate="0.075", adjustments=(credit,)))
    assert "VAT (7.5%)" in html
    assert "Credit for April 2023: 2 users (objection)" in html and ">-300.00<" in html


def test_pdf_text_holds_the_number_and_the_total(invoice_pdf: bytes) -> None:
    reader = pypdf.PdfReader(io.BytesIO(invoice_pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) == 1
    assert "SKR-000001" in text and "96,255.00 BDT" in text
    assert reader.metadata.title == "Invoice SKR-000001"


def test_pdf_is_a4_and_fetches_nothing(tmp_path: Path) -> None:
    """A stylesheet link smuggled into the HTML must not be followed (it would make it A5)."""
    sheet = tmp_path / "evil.css"
    sheet.write_text("@page { size: A5 }")
    html = render_invoice_html(make_invoice()).replace(
        "</head>", f'<link rel="stylesheet" href="{sheet.as_uri()}"></head>'
    )
    page = pypdf.PdfReader(io.BytesIO(render_invoice_pdf(html))).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4 in pt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"), ("+88017", "'+88017"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"), ("\rx", "'\rx"), ("রহিম", "রহিম"), ("a=b", "a=b"), ("", ""),
    ],
)
def test_neutralised(value: str, expected: str) -> None:
    column = pd.Series([value, None], dtype="str")
    assert neutralised(column).iloc[0] == expected and pd.isna(neutralised(column).iloc[1])


@pytest.mark.parametrize("zone", ["Asia/Dhaka", "Asia/Kathmandu", "America/New_York", "Europe/London", "UTC"])
def test_iso_text_writes_what_isoformat_writes(zone: str) -> None:
    utc = pd.Series(pd.to_datetime(
        ["2023-11-28 10:11:12", "2023-03-12 07:30:00.123456", None, "2023-10-29 00:59:59", "2023-03-26 01:00:00"],
        utc=True, format="ISO8601",
    )).astype("datetime64[us, UTC]")
    local = utc.dt.tz_convert(zone)
    assert iso_text(local).tolist()[:2] + iso_text(local).tolist()[3:] == [
        t.isoformat() for t in local if not pd.isna(t)
    ]
    assert pd.isna(iso_text(local).iloc[2])


def _sheet_rows(data: bytes) -> tuple[openpyxl.worksheet.worksheet.Worksheet, list[tuple]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return sheet, list(sheet.iter_rows(values_only=True))


def test_list_xlsx_has_the_contract_columns_and_one_row_per_user() -> None:
    sheet, rows = _sheet_rows(list_xlsx_bytes(make_billed(), "MEGHNA 2023-05"))
    assert sheet.title == "MEGHNA 2023-05"
    assert list(rows[0]) == XLSX_HEADER and list(rows[0][:8]) == [*LIST_COLUMNS[:6], "last_login_at (Bangladesh time)",
                                                                  "logins_in_month"]  # the contract's first
    assert sheet.freeze_panes == "A2" and all(cell.font.bold for cell in sheet[1])
    assert rows[1] == (101, "rahim", "রহিম উদ্দিন", "SR", "active", "active", datetime(2023, 5, 31, 17, 45), 14,
                       "history", datetime(2023, 4, 2, 10), "unchanged")
    assert rows[3][2] == "Happy 😀 Seller" and rows[3][6] is None  # never logged in: empty cell
    assert rows[3][8:] == ("current", None, "unchanged")  # status from users.status: no time known
    assert [type(row[0]) for row in rows[1:]] == [int] * 4 and [row[7] for row in rows[1:]] == [14, 1, 0, 3]
    assert all(8 <= sheet.column_dimensions[c].width <= 60 for c in "ABCDEFGH")


def test_list_xlsx_formula_cells_are_text() -> None:
    sheet, rows = _sheet_rows(list_xlsx_bytes(make_billed(), "list"))
    assert rows[4][2] == "'" + FORMULA_NAME and sheet["C5"].data_type == "s"
    assert rows[2][1] == "'-karim" and rows[2][3] == "'+DSR" and rows[3][3] == "'@manager"
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def test_list_xlsx_keeps_text_that_looks_like_a_number_or_a_link_as_text() -> None:
    billed = make_billed().assign(username=["00123", "1e5", "https://evil.example/x", "x"])
    sheet, rows = _sheet_rows(list_xlsx_bytes(billed, "list"))
    assert [row[1] for row in rows[1:4]] == ["00123", "1e5", "https://evil.example/x"]
    assert [sheet.cell(row=r, column=2).data_type for r in (2, 3, 4)] == ["s", "s", "s"]
    assert all(cell.hyperlink is None for row in sheet.iter_rows() for cell in row)


def test_list_xlsx_drops_control_characters_xml_cannot_hold() -> None:
    billed = make_billed().assign(full_name=["Bell\x07 Name", "ok", "ok", "ok"])
    assert _sheet_rows(list_xlsx_bytes(billed, "list"))[1][1][2] == "Bell Name"


def test_empty_list_xlsx_has_the_header_only() -> None:
    _, rows = _sheet_rows(list_xlsx_bytes(make_billed().iloc[0:0], "list"))
    assert rows == [tuple(XLSX_HEADER)]


def test_finance_csv_one_row_per_invoice() -> None:
    invoices = [make_invoice(), make_invoice(number="SKR-000002", currency="USD")]
    rows = list(csv.reader(io.StringIO(finance_csv_bytes(invoices).decode("utf-8-sig"))))
    assert rows[0] == FINANCE_COLUMNS
    assert [dict(zip(rows[0], row)) for row in rows[1:]] == [invoice.finance_row() for invoice in invoices]
    assert rows[1][FINANCE_COLUMNS.index("total")] == "96255.00"
