"""Spreadsheet outputs: the billable list as XLSX and the finance summary as CSV.

People open these in Excel or LibreOffice, so any text that came from the DMS (names, roles) is
neutralised against formula injection: a cell that starts like a formula is written as text
with a leading apostrophe, never evaluated.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from include.dms_billing.core.columns import ATTACHMENT_COLUMNS, FINANCE_COLUMNS
from include.dms_billing.core.invoice import Invoice

if TYPE_CHECKING:
    from include.dms_billing.outputs.list_changes import ListChanges

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Control characters an XML document cannot hold (XLSX is XML).
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010\013\014\016-\037]")
NUMBER_COLUMNS = frozenset({"user_id", "logins_in_month"})
EXCEL_EXACT_INT = 10**15 - 1  # Excel keeps 15 significant digits of a number
TIME_COLUMNS = frozenset({"last_login_at", "status_set_at"})  # local aware times
MIN_WIDTH, MAX_WIDTH = 8, 60


def neutralised(values: pd.Series) -> pd.Series:
    """Text made inert for spreadsheets: a leading ``'`` on each value that could start a
    formula; missing values stay missing."""
    return values.mask(values.str.startswith(FORMULA_TRIGGERS, na=False), "'" + values)


def iso_text(times: pd.Series) -> pd.Series:
    """Aware times as ISO 8601 text with their offset, as ``Timestamp.isoformat`` writes them
    (``2023-11-28T16:11:12+06:00``); missing stays missing.

    Column at a time (one ``isoformat`` per value was most of the cost of writing a list), and
    from wall time plus offset, so no timezone database beyond Python's is needed. The wall
    time is Arrow's cast to text (``2023-11-28 16:11:12.000000``), a hundred times faster than
    its ``strftime``.
    """
    wall = times.dt.tz_localize(None)
    minutes = (wall - times.dt.tz_convert("UTC").dt.tz_localize(None)) // pd.Timedelta(minutes=1)
    offsets = {m: _offset_text(int(m)) for m in minutes.dropna().unique()}  # one or two per client
    clock = pa.Array.from_pandas(wall).cast(pa.timestamp("us")).cast(pa.string())
    clock = pc.replace_substring(clock, " ", "T", max_replacements=1)
    clock = pc.replace_substring(clock, ".000000", "")  # microseconds only when there are some
    clock_text = pd.Series(pd.array(clock, dtype="str"), index=times.index)
    return clock_text + minutes.map(offsets).astype("str")


def _offset_text(minutes: int) -> str:
    """``+06:00``, ``-04:00``, ``+05:45``."""
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def list_cells(frame: pd.DataFrame, columns: Sequence[str], drop_control: bool = False) -> pd.DataFrame:
    """``columns`` of a list as people read them, in CSV and XLSX alike: numbers stay numbers,
    times are ISO text (:func:`iso_text`), text is inert (:func:`neutralised`); missing stays
    missing. ``drop_control`` drops the control characters XML cannot hold (for XLSX)."""
    cells = frame[list(columns)].copy()
    for column in columns:
        if column in TIME_COLUMNS:
            cells[column] = iso_text(cells[column])
        elif column not in NUMBER_COLUMNS:
            text = cells[column].astype("str")
            cells[column] = neutralised(text.str.replace(ILLEGAL_CHARACTERS_RE.pattern, "", regex=True)
                                        if drop_control else text)
    return cells


def _sheet_columns(cells: pd.DataFrame) -> list[list[object]]:
    """Plain Python values for XlsxWriter, one list per column, None for a blank cell. A whole
    number Excel cannot show exactly (more than 15 digits: a BIGINT user id) is written as its
    digits, as text. Column by column: half the time of turning the whole frame into objects."""
    columns = []
    for name in cells.columns:
        values = cells[name].astype(object).where(cells[name].notna(), None).tolist()
        if name in NUMBER_COLUMNS:
            values = [str(v) if v is not None and abs(v) > EXCEL_EXACT_INT else v for v in values]
        columns.append(values)
    return columns


CHANGES_SHEET = "Changes"
CHANGES_COLUMNS = ["change", "user_id", "username", "full_name", "why", "billable_reason_last_month"]


class Workbook:
    """An XLSX built in memory with XlsxWriter, a sheet at a time; ``to_bytes`` finishes it.

    XlsxWriter writes a 3,860-row list in 0.2 s where openpyxl's write-only mode took 0.37 s. Its
    guesses are switched off: text that looks like a formula, a number or a URL stays text.
    """

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._book = xlsxwriter.Workbook(self._buffer, {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        })
        self._bold = self._book.add_format({"bold": True})

    def add_sheet(self, title: str, header: Sequence[str], columns: list[list[object]]) -> None:
        """A sheet of ``columns`` (the values of each, top to bottom) under a bold frozen
        ``header``, each column as wide as its longest value."""
        sheet = self._book.add_worksheet(title[:31])  # Excel's limit on sheet names
        for index, (name, values) in enumerate(zip(header, columns, strict=True)):
            longest = max((len(str(value)) for value in values if value is not None), default=0)
            sheet.set_column(index, index, max(min(max(longest, len(name)) + 2, MAX_WIDTH), MIN_WIDTH))
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, header, self._bold)
        for number, row in enumerate(zip(*columns), start=1):
            sheet.write_row(number, 0, row)

    def to_bytes(self) -> bytes:
        self._book.close()
        return self._buffer.getvalue()


def list_sheet(
    workbook: Workbook, title: str, billed: pd.DataFrame, columns: Sequence[str] = ATTACHMENT_COLUMNS
) -> None:
    """One row per user; the contract's columns first."""
    workbook.add_sheet(title, columns, _sheet_columns(list_cells(billed, columns, drop_control=True)))


def changes_sheet(workbook: Workbook, changes: ListChanges) -> None:
    """Users newly billable and no longer billable since last month, each with the reason."""
    rows: list[list[object]] = []
    if not changes.compared:
        rows.append([changes.headline(), None, None, None, None, None])
    for label, users in (("newly billable", changes.newly_billable), ("no longer billable", changes.no_longer_billable)):
        for user in users:
            rows.append([label, user.user_id, user.username, user.full_name, user.why, user.previous_reason])
    frame = pd.DataFrame(rows, columns=CHANGES_COLUMNS, dtype=object)
    cells = list_cells(frame, CHANGES_COLUMNS, drop_control=True)
    workbook.add_sheet(CHANGES_SHEET, CHANGES_COLUMNS, _sheet_columns(cells))


def list_xlsx_bytes(billed: pd.DataFrame, sheet_title: str, changes: ListChanges | None = None) -> bytes:
    """The billable list as a workbook: the list's sheet, then (when known) the "Changes" sheet."""
    workbook = Workbook()
    list_sheet(workbook, sheet_title, billed)
    if changes is not None:
        changes_sheet(workbook, changes)
    return workbook.to_bytes()


def finance_csv_bytes(invoices: Sequence[Invoice]) -> bytes:
    """The finance summary (contract section 6): UTF-8 CSV with a BOM, one row per invoice.

    Amounts are written exactly as the ledger holds them (a credit stays ``-150.00``), so no
    neutralising here: every value is a number, a date or a code we issued.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FINANCE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(invoice.finance_row() for invoice in invoices)
    return buffer.getvalue().encode("utf-8-sig")  # with a BOM, so that Excel reads UTF-8
