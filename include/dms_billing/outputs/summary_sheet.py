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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.dms_billing.outputs.workbook import DATE_FORMAT, PERCENT_FORMAT, Workbook, column_width, money_format

if TYPE_CHECKING:
    from xlsxwriter.worksheet import Worksheet

    from include.dms_billing.core.list_terms import ListTerms

SUMMARY_SHEET = "Summary"
LINES_HEADER = ("Invoice line", "billable_reason", "Users", "Unit price ({})", "Amount ({})")
TOTAL = "Total"
VAT_NOTE = "Amounts are before VAT; the invoice adds VAT at this rate, and any credit due."
NO_PLAN = "not configured yet: the invoice states the price"


def summary_sheet(workbook: Workbook, terms: ListTerms, client_name: str | None = None) -> Worksheet:
    """The Summary sheet of ``terms``; amounts as numbers in the currency's decimals, dates as
    Excel dates, the VAT rate as a percentage."""
    sheet = workbook.worksheet(SUMMARY_SHEET)
    if terms.currency is None:
        return _counts_only(workbook, sheet, terms, client_name)
    bold, money = workbook.bold, workbook.format(num_format=money_format(terms.currency))
    dated, percent = workbook.format(num_format=DATE_FORMAT, align="left"), workbook.format(
        num_format=PERCENT_FORMAT, align="left")
    client = f"{client_name} ({terms.client_code})" if client_name else terms.client_code
    for row, (label, value) in enumerate((("Month", terms.billing_month), ("Client", client),
                                          ("Currency", terms.currency))):
        sheet.write_string(row, 0, label, bold)
        sheet.write_string(row, 1, value)
    top = 4
    sheet.write_row(top, 0, [name.format(terms.currency) for name in LINES_HEADER], bold)
    for row, line in enumerate(terms.lines, start=top + 1):
        sheet.write_string(row, 0, line.description)
        sheet.write_string(row, 1, line.reason)
        sheet.write_number(row, 2, line.quantity)
        sheet.write_number(row, 3, float(line.unit_price), money)
        sheet.write_number(row, 4, float(line.amount), money)
    total = top + 1 + len(terms.lines)
    sheet.write_string(total, 0, TOTAL, bold)
    sheet.write_number(total, 2, terms.billable, bold)
    sheet.write_number(total, 4, float(terms.subscriptions_amount), workbook.format(
        bold=True, num_format=money_format(terms.currency)))
    facts = total + 2
    for row, label in enumerate(("Invoice date", "VAT rate", "Objection deadline", "Objection reference"),
                                start=facts):
        sheet.write_string(row, 0, label, bold)
    sheet.write_datetime(facts, 1, terms.invoice_date, dated)
    sheet.write_number(facts + 1, 1, float(terms.vat_rate), percent)
    sheet.write_string(facts + 1, 2, VAT_NOTE)
    sheet.write_datetime(facts + 2, 1, terms.objection_deadline, dated)
    sheet.write_string(facts + 3, 1, terms.reference)
    longest = max(len(line.description) for line in terms.lines) if terms.lines else 0
    sheet.set_column(0, 0, column_width(longest, "Objection reference"))
    sheet.set_column(1, 1, column_width(max(len(client), len("inactive_recent_login")), ""))
    sheet.set_column(2, 4, column_width(len("Amount (BDT)"), ""))
    return sheet


def _counts_only(workbook: Workbook, sheet: Worksheet, terms: ListTerms, client_name: str | None) -> Worksheet:
    """The Summary of a client without a plan: counts by reason and the dates, no money."""
    bold, dated = workbook.bold, workbook.format(num_format=DATE_FORMAT, align="left")
    client = f"{client_name} ({terms.client_code})" if client_name else terms.client_code
    rows = [("Month", terms.billing_month), ("Client", client), ("Price", NO_PLAN)]
    rows += [(f"Users: {reason}", count) for reason, count in sorted(terms.by_reason.items())]
    rows += [("Users: total", terms.billable), ("Objection reference", terms.reference)]
    for row, (label, value) in enumerate(rows):
        sheet.write_string(row, 0, label, bold)
        sheet.write(row, 1, value)
    for row, (label, day) in enumerate((("Invoice date", terms.invoice_date),
                                        ("Objection deadline", terms.objection_deadline)), start=len(rows)):
        sheet.write_string(row, 0, label, bold)
        sheet.write_datetime(row, 1, day, dated)
    sheet.set_column(0, 1, column_width(max(len(client), len(NO_PLAN)), "Objection reference"))
    return sheet
