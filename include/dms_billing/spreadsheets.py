"""Spreadsheet outputs: the billable list as XLSX and the finance summary as CSV.

People open these in Excel or LibreOffice, so any text that came from the DMS (names, roles) is
neutralised against formula injection: a cell that starts like a formula is written as text
with a leading apostrophe, never evaluated.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from include.dms_billing.columns import ATTACHMENT_COLUMNS, FINANCE_COLUMNS
from include.dms_billing.invoice import Invoice

if TYPE_CHECKING:
    from include.dms_billing.list_changes import ListChanges

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER_COLUMNS = frozenset({"user_id", "logins_in_month"})
MIN_WIDTH, MAX_WIDTH = 8, 60


def neutralise(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading ``'`` if it could start a formula."""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def _list_cell(column: str, value: object) -> object:
    """One list value as an XLSX cell: numbers stay numbers, times are ISO text, text is inert.

    Control characters XML cannot hold are dropped (openpyxl would refuse the whole sheet).
    """
    if pd.isna(value):
        return None
    if column in NUMBER_COLUMNS:
        return int(value)
    if column in ("last_login_at", "status_set_at"):
        return value.isoformat()
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


CHANGES_SHEET = "Changes"
CHANGES_COLUMNS = ["change", "user_id", "username", "full_name", "why", "billable_reason_last_month"]


def new_workbook() -> Workbook:
    """A write-only workbook: rows stream to the file, about twice as fast as a normal one."""
    return Workbook(write_only=True)


def _write_sheet(workbook: Workbook, title: str, columns: Sequence[str], rows: list[list[object]]) -> None:
    """A sheet of ``rows`` under a bold frozen header, each column as wide as its longest value.

    Write-only sheets take widths and panes before the first row, so rows come ready-made.
    """
    sheet = workbook.create_sheet(title[:31])  # Excel's limit on sheet names
    for index, column in enumerate(columns):
        longest = max((len(str(row[index])) for row in rows if row[index] is not None), default=0)
        width = min(max(longest, len(column)) + 2, MAX_WIDTH)
        sheet.column_dimensions[get_column_letter(index + 1)].width = max(width, MIN_WIDTH)
    sheet.freeze_panes = "A2"
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append(row)


def list_sheet(
    workbook: Workbook, title: str, billed: pd.DataFrame, columns: Sequence[str] = ATTACHMENT_COLUMNS
) -> None:
    """One row per user; the contract's columns first."""
    rows = [[_list_cell(column, value) for column, value in zip(columns, row)]
            for row in billed[list(columns)].itertuples(index=False)]
    _write_sheet(workbook, title, columns, rows)


def changes_sheet(workbook: Workbook, changes: ListChanges) -> None:
    """Users newly billable and no longer billable since last month, each with the reason."""
    rows: list[list[object]] = []
    if not changes.compared:
        rows.append([changes.headline(), None, None, None, None, None])
    for label, users in (("newly billable", changes.newly_billable), ("no longer billable", changes.no_longer_billable)):
        for user in users:
            values = [label, user.user_id, user.username, user.full_name, user.why, user.previous_reason]
            rows.append([_list_cell(column, value) for column, value in zip(CHANGES_COLUMNS, values)])
    _write_sheet(workbook, CHANGES_SHEET, CHANGES_COLUMNS, rows)


def list_xlsx_bytes(billed: pd.DataFrame, sheet_title: str, changes: ListChanges | None = None) -> bytes:
    """The billable list as a workbook: the list's sheet, then (when known) the "Changes" sheet."""
    workbook = new_workbook()
    list_sheet(workbook, sheet_title, billed)
    if changes is not None:
        changes_sheet(workbook, changes)
    return workbook_bytes(workbook)


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def finance_csv_bytes(invoices: Sequence[Invoice]) -> bytes:
    """The finance summary (contract section 6): UTF-8 CSV, one row per invoice.

    Amounts are written exactly as the ledger holds them (a credit stays ``-150.00``), so no
    neutralising here: every value is a number, a date or a code we issued.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FINANCE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(invoice.finance_row() for invoice in invoices)
    return buffer.getvalue().encode("utf-8")
