"""Spreadsheet outputs: the billable list as XLSX (a Summary sheet of the invoice it becomes, the
list's sheet, the "Changes" sheet), and the cells the list's CSV and XLSX share.

People open these in Excel or LibreOffice, so any text that came from the DMS (names, roles) is
neutralised against formula injection: a cell that starts like a formula is written as text
with a leading apostrophe, never evaluated. In the XLSX, times are Excel datetimes in the
client's local time (Excel has no timezones: the header names the zone), counts are numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.dms_billing.core.columns import ATTACHMENT_COLUMNS
from include.dms_billing.core.invoice import month_name
from include.dms_billing.outputs.render import zone_name
from include.dms_billing.outputs.summary_sheet import client_label, summary_sheet
from include.dms_billing.outputs.workbook import DATETIME_FORMAT, Workbook

if TYPE_CHECKING:
    from include.dms_billing.core.list_terms import ListTerms
    from include.dms_billing.outputs.list_changes import ListChanges

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Control characters an XML document cannot hold (XLSX is XML).
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010\013\014\016-\037]")
NUMBER_COLUMNS = frozenset({"user_id", "logins_in_month"})
EXCEL_EXACT_INT = 10**15 - 1  # Excel keeps 15 significant digits of a number
TIME_COLUMNS = frozenset({"last_login_at", "status_set_at"})  # local aware times
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # day 0 of Excel's serial dates (1900 system)


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


def excel_serial(times: pd.Series) -> pd.Series:
    """Aware times as Excel serial datetimes of their wall time (days since 1899-12-30, as
    floats, a column at a time); missing stays missing (NaN)."""
    return (times.dt.tz_localize(None) - EXCEL_EPOCH) / pd.Timedelta(days=1)


def list_cells(
    frame: pd.DataFrame, columns: Sequence[str], drop_control: bool = False, excel_times: bool = False
) -> pd.DataFrame:
    """``columns`` of a list as people read them, in CSV and XLSX alike: numbers stay numbers,
    times are ISO text (:func:`iso_text`) or, with ``excel_times``, Excel serial datetimes of
    the local wall time (:func:`excel_serial`), text is inert (:func:`neutralised`); missing
    stays missing. ``drop_control`` drops the control characters XML cannot hold (for XLSX)."""
    cells = frame[list(columns)].copy()
    for column in columns:
        if column in TIME_COLUMNS:
            cells[column] = excel_serial(cells[column]) if excel_times else iso_text(cells[column])
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


def _text_widths(cells: pd.DataFrame) -> list[int]:
    """The longest value of each column, in characters, as shown (a column at a time)."""
    widths = []
    for name in cells.columns:
        values = cells[name].dropna()
        if name in TIME_COLUMNS:
            widths.append(len(DATETIME_FORMAT) if len(values) else 0)
        else:
            widths.append(int(values.astype("str").str.len().max()) if len(values) else 0)
    return widths


def time_header(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The XLSX header: a time column names the zone its local times are in as the client says
    it, e.g. ``last_login_at (Bangladesh time)``; the other columns keep their names."""
    def named(column: str) -> str:
        dtype = frame[column].dtype
        zoned = column in TIME_COLUMNS and isinstance(dtype, pd.DatetimeTZDtype)
        return f"{column} ({zone_name(str(dtype.tz))})" if zoned else column

    return [named(column) for column in columns]


def list_heading(sheet_title: str, terms: ListTerms | None, client_name: str | None) -> str:
    """The top of every printed page of a list workbook, as the list email's subject names it:
    ``Sokrio DMS billable users, May 2023: Meghna Foods Ltd (MEGHNA)`` (the sheet's title
    without ``terms``)."""
    if terms is None:
        return sheet_title
    return f"Sokrio DMS billable users, {month_name(terms.billing_month)}: {client_label(terms, client_name)}"


CHANGES_SHEET = "Changes"
CHANGES_COLUMNS = ["change", "user_id", "username", "full_name", "why", "billable_reason_last_month"]


def list_sheet(
    workbook: Workbook, title: str, billed: pd.DataFrame, columns: Sequence[str] = ATTACHMENT_COLUMNS
) -> None:
    """One row per user; the contract's columns first, its times as local Excel datetimes."""
    cells = list_cells(billed, columns, drop_control=True, excel_times=True)
    times = {index: DATETIME_FORMAT for index, column in enumerate(columns) if column in TIME_COLUMNS}
    workbook.add_sheet(title, time_header(billed, columns), _sheet_columns(cells), widths=_text_widths(cells),
                       number_formats=times)


def changes_sheet(workbook: Workbook, changes: ListChanges) -> None:
    """Users newly billable and no longer billable since last month, each with the reason; without
    last month's list, the same header over a note saying so (not a row of data)."""
    rows: list[list[object]] = []
    for label, users in (("newly billable", changes.newly_billable), ("no longer billable", changes.no_longer_billable)):
        for user in users:
            rows.append([label, user.user_id, user.username, user.full_name, user.why, user.previous_reason])
    frame = pd.DataFrame(rows, columns=CHANGES_COLUMNS, dtype=object)
    cells = list_cells(frame, CHANGES_COLUMNS, drop_control=True)
    workbook.add_sheet(CHANGES_SHEET, CHANGES_COLUMNS, _sheet_columns(cells),
                       note=None if changes.compared else changes.headline())


def list_xlsx_bytes(
    billed: pd.DataFrame, sheet_title: str, changes: ListChanges | None = None, *,
    terms: ListTerms | None = None, client_name: str | None = None,
) -> bytes:
    """The billable list as a workbook: (given ``terms``) the "Summary" sheet, first and the one
    that opens, then the list's sheet, then (when known) the "Changes" sheet. Each printed page
    is headed with the client and the month."""
    workbook = Workbook(list_heading(sheet_title, terms, client_name))
    if terms is not None:
        summary_sheet(workbook, terms, client_name).activate()
    list_sheet(workbook, sheet_title, billed)
    if changes is not None:
        changes_sheet(workbook, changes)
    return workbook.to_bytes()
