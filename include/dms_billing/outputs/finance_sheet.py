"""The finance summary (contract section 6): one row per invoice, as CSV (the contract's columns)
and as XLSX (typed cells, the client's name and the VAT rate besides, a totals row per currency).

Amounts are written exactly as the ledger holds them (a credit stays ``-150.00``), so no
neutralising of numbers: every value is a number, a date or a code we issued; the client's name
(XLSX only) is text from the configuration and is written as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from include.dms_billing.core.columns import FINANCE_COLUMNS
from include.dms_billing.core.invoice import Invoice, month_name
from include.dms_billing.outputs.workbook import DATE_FORMAT, PERCENT_FORMAT, Workbook, column_width, money_format

CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark, so that Excel reads it as UTF-8
FINANCE_SHEET = "Finance summary"
# The XLSX's columns: the contract's, with the client's name and the VAT rate where people look for them.
XLSX_COLUMNS: list[str] = [*FINANCE_COLUMNS[:2], "client_name", *FINANCE_COLUMNS[2:11], "vat_rate",
                           *FINANCE_COLUMNS[11:]]
MONEY_COLUMNS = ("unit_price", "subscriptions_amount", "adjustments_amount", "subtotal", "vat_amount", "total")
SUMMED = ("billable_count", *MONEY_COLUMNS[1:])  # what a totals row adds up (not the unit price)


def finance_csv_bytes(invoices: Sequence[Invoice]) -> bytes:
    """The contract's CSV: UTF-8 with a BOM, a header row, one row per invoice."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FINANCE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(invoice.finance_row() for invoice in invoices)
    return buffer.getvalue().encode(CSV_ENCODING)


@dataclass
class CurrencyTotal:
    """The month's invoices in one currency, added up; currencies are never added together."""

    currency: str
    invoices: int = 0
    sums: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, invoice: Invoice) -> None:
        self.invoices += 1
        for column in SUMMED:
            self.sums[column] += getattr(invoice, column)


def currency_totals(invoices: Sequence[Invoice]) -> list[CurrencyTotal]:
    """One total per currency, in the currencies' alphabetical order."""
    totals: dict[str, CurrencyTotal] = {}
    for invoice in invoices:
        totals.setdefault(invoice.currency, CurrencyTotal(invoice.currency)).add(invoice)
    return [totals[currency] for currency in sorted(totals)]


def _invoice_cells(invoice: Invoice) -> dict[str, object]:
    return {
        **{column: getattr(invoice, column) for column in ("invoice_number", "billing_month", "invoice_date",
                                                           "due_date", "currency", "billable_count", "vat_rate",
                                                           *MONEY_COLUMNS)},
        "client_code": invoice.bill_to.client_code, "client_name": invoice.bill_to.client_name,
    }


def _total_cells(total: CurrencyTotal) -> dict[str, object]:
    return {"invoice_number": f"Total {total.currency}", "client_name": f"{total.invoices:,} invoice{'' if total.invoices == 1 else 's'}",
            "currency": total.currency, **{column: total.sums[column] for column in SUMMED}}


def finance_xlsx_bytes(billing_month: str, invoices: Sequence[Invoice]) -> bytes:
    """The finance summary as a workbook: one row per invoice under a bold frozen header with an
    autofilter, then, after a blank row (outside the filter, so sorting leaves it below), a bold
    totals row per currency. Dates are Excel dates, amounts numbers in the currency's decimals,
    the VAT rate a percentage, counts numbers. Printed as a table: landscape, one page wide."""
    workbook = Workbook(f"Sokrio DMS finance summary, {month_name(billing_month)}")
    sheet = workbook.worksheet(f"{FINANCE_SHEET} {billing_month}")
    workbook.print_setup(sheet, table=True)
    sheet.write_row(0, 0, XLSX_COLUMNS, workbook.bold)
    totals = currency_totals(invoices)
    rows = [(_invoice_cells(i), False) for i in invoices] + [(_total_cells(t), True) for t in totals]
    for index, (cells, bold) in enumerate(rows, start=1):
        row = index + 1 if bold else index  # the blank row before the totals
        for col, column in enumerate(XLSX_COLUMNS):
            value = cells.get(column)
            if value is None:
                continue
            props: dict[str, object] = {"bold": True} if bold else {}
            if column in MONEY_COLUMNS:
                sheet.write_number(row, col, float(value), workbook.format(num_format=money_format(cells["currency"]),
                                                                           **props))
            elif column in ("invoice_date", "due_date"):
                sheet.write_datetime(row, col, value, workbook.format(num_format=DATE_FORMAT, **props))
            elif column == "vat_rate":
                sheet.write_number(row, col, float(value), workbook.format(num_format=PERCENT_FORMAT, **props))
            elif column == "billable_count":
                sheet.write_number(row, col, int(value), workbook.format(num_format="#,##0", **props))
            else:
                sheet.write_string(row, col, str(value), workbook.format(**props) if props else None)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, len(invoices), len(XLSX_COLUMNS) - 1)
    for col, column in enumerate(XLSX_COLUMNS):
        longest = max((len(str(cells.get(column, ""))) for cells, _ in rows), default=0)
        sheet.set_column(col, col, column_width(longest + (3 if column in MONEY_COLUMNS else 0), column))
    return workbook.to_bytes()
