"""The list workbook's first sheet, "Summary": the invoice the month's list becomes (from
``ListTerms``, the numbers the invoice then carries) and how to object, as typed cells.

    Month                2023-05
    Client               MEGHNA
    Currency             BDT

    Invoice line         billable_reason   Users   Unit price (BDT)   Amount (BDT)
    DMS user subscri...  active                3             150.00         450.00
    DMS user subscri...  inactive_recent...    1             150.00         150.00
    Total                                      4                            600.00

    Invoice date         2023-06-01
    VAT rate             15.0%
    Objection deadline   2023-06-11
    Objection reference  MEGHNA/2023-05

Every column is as wide as its longest text (an invoice line's description wraps on two lines
rather than widen the page), so nothing is cut on screen or on the one portrait page it prints on.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from include.dms_billing.core.money import format_amount
from include.dms_billing.outputs.workbook import DATE_FORMAT, PERCENT_FORMAT, Workbook, column_width, money_format

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

    from include.dms_billing.core.list_terms import ListTerms

SUMMARY_SHEET = "Summary"
LINES_HEADER = ("Invoice line", "billable_reason", "Users", "Unit price ({})", "Amount ({})")
TOTAL = "Total"
TOP_LABELS = ("Month", "Client", "Currency")
FACT_LABELS = ("Invoice date", "VAT rate", "Objection deadline", "Objection reference")
VAT_NOTE = "Amounts before VAT: the invoice adds VAT at this rate, and any credit due."
NO_PLAN = "not configured yet: the invoice states the price"
DESCRIPTION_WIDTH = 45  # characters of an invoice line's description on one line before it wraps
LINE_HEIGHT = 15  # points: a line of Excel's default font (Calibri 11)


def client_label(terms: ListTerms, client_name: str | None) -> str:
    """The client as the Summary and the printed pages name it: ``Meghna Foods Ltd (MEGHNA)``."""
    return f"{client_name} ({terms.client_code})" if client_name else terms.client_code


def _width(texts: list[str]) -> int:
    """A column wide enough for the longest of ``texts``."""
    return column_width(max(map(len, texts), default=0), "")


def _wrapped(sheet: Worksheet, row: int, text: str, width: int) -> None:
    """Row ``row`` tall enough for ``text`` wrapped in a column ``width`` wide. Counting characters
    errs on the safe side: Excel's average letter is narrower than the digit a width counts."""
    lines = len(textwrap.wrap(text, width - 2))
    if lines > 1:
        sheet.set_row(row, LINE_HEIGHT * lines)


def summary_sheet(workbook: Workbook, terms: ListTerms, client_name: str | None = None) -> Worksheet:
    """The Summary sheet of ``terms``; amounts as numbers in the currency's decimals, dates as
    Excel dates, the VAT rate as a percentage. Printed portrait on one page."""
    sheet = workbook.worksheet(SUMMARY_SHEET)
    workbook.print_setup(sheet, table=False)
    client = client_label(terms, client_name)
    if terms.currency is None:
        return _counts_only(workbook, sheet, terms, client)
    currency = terms.currency

    def top(**properties: object) -> Format:  # at the top of a row that a wrapped text makes taller
        return workbook.format(valign="top", **properties)

    bold, text, money = top(bold=True), top(), top(num_format=money_format(currency))
    dated, percent = top(num_format=DATE_FORMAT, align="left"), top(num_format=PERCENT_FORMAT, align="left")
    header = [name.format(currency) for name in LINES_HEADER]
    total_amount = terms.subscriptions_amount
    widths = [
        _width([*header[:1], TOTAL, *TOP_LABELS, *FACT_LABELS,
                *(line.description[:DESCRIPTION_WIDTH] for line in terms.lines)]),
        _width([header[1], terms.billing_month, client, currency, *(line.reason for line in terms.lines),
                DATE_FORMAT, f"{terms.vat_rate:.2%}", terms.reference]),
        _width([header[2], f"{terms.billable:,}"]),
        _width([header[3], *(format_amount(line.unit_price, currency) for line in terms.lines)]),
        _width([header[4], format_amount(total_amount, currency)]),  # the total is the largest amount
    ]
    for column, width in enumerate(widths):
        sheet.set_column(column, column, width)
    for row, (label, value) in enumerate(zip(TOP_LABELS, (terms.billing_month, client, currency),
                                             strict=True)):
        sheet.write_string(row, 0, label, bold)
        sheet.write_string(row, 1, value, text)
    first = len(TOP_LABELS) + 1
    sheet.write_row(first, 0, header, bold)
    for row, line in enumerate(terms.lines, start=first + 1):
        sheet.write_string(row, 0, line.description, top(text_wrap=True))
        _wrapped(sheet, row, line.description, widths[0])
        sheet.write_string(row, 1, line.reason, text)
        sheet.write_number(row, 2, line.quantity, text)
        sheet.write_number(row, 3, float(line.unit_price), money)
        sheet.write_number(row, 4, float(line.amount), money)
    total = first + 1 + len(terms.lines)
    sheet.write_string(total, 0, TOTAL, bold)
    sheet.write_number(total, 2, terms.billable, bold)
    sheet.write_number(total, 4, float(total_amount), top(bold=True, num_format=money_format(currency)))
    facts = total + 2
    for row, label in enumerate(FACT_LABELS, start=facts):
        sheet.write_string(row, 0, label, bold)
    sheet.write_datetime(facts, 1, terms.invoice_date, dated)
    sheet.write_number(facts + 1, 1, float(terms.vat_rate), percent)
    sheet.merge_range(facts + 1, 2, facts + 1, 4, VAT_NOTE, top(text_wrap=True))  # within the page
    _wrapped(sheet, facts + 1, VAT_NOTE, sum(widths[2:]))
    sheet.write_datetime(facts + 2, 1, terms.objection_deadline, dated)
    sheet.write_string(facts + 3, 1, terms.reference, text)
    return sheet


def _counts_only(workbook: Workbook, sheet: Worksheet, terms: ListTerms, client: str) -> Worksheet:
    """The Summary of a client without a plan: counts by reason and the dates, no money."""
    bold, dated = workbook.bold, workbook.format(num_format=DATE_FORMAT, align="left")
    rows = [("Month", terms.billing_month), ("Client", client), ("Price", NO_PLAN)]
    rows += [(f"Users: {reason}", count) for reason, count in sorted(terms.by_reason.items())]
    rows += [("Users: total", terms.billable), ("Objection reference", terms.reference)]
    dates = [("Invoice date", terms.invoice_date), ("Objection deadline", terms.objection_deadline)]
    for row, (label, value) in enumerate(rows):
        sheet.write_string(row, 0, label, bold)
        sheet.write(row, 1, value)
    for row, (label, day) in enumerate(dates, start=len(rows)):
        sheet.write_string(row, 0, label, bold)
        sheet.write_datetime(row, 1, day, dated)
    sheet.set_column(0, 0, _width([label for label, _ in rows + dates]))
    sheet.set_column(1, 1, _width([str(value) for _, value in rows] + [DATE_FORMAT]))
    return sheet
