"""An XLSX workbook built in memory with XlsxWriter, the cell formats our sheets share and how
they print (A4; a table landscape, one page wide, its header row on every page)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from include.dms_billing.core.money import minor_units

MIN_WIDTH, MAX_WIDTH = 8, 60
DATETIME_FORMAT, DATE_FORMAT, PERCENT_FORMAT = "yyyy-mm-dd hh:mm:ss", "yyyy-mm-dd", "0.0#%"
A4 = 9  # Excel's paper size index
HEADING_LIMIT = 120  # characters: Excel refuses a page header over 255, '&' doubled included
PAGE_FOOTER = "&CPage &P of &N"


def money_format(currency: str) -> str:
    """An amount shown with the currency's decimals and thousands separators: ``#,##0.00``."""
    decimals = minor_units(currency)
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def column_width(longest: int, header: str) -> int:
    """Wide enough for the header and the longest value, within reason."""
    return max(min(max(longest, len(header)) + 2, MAX_WIDTH), MIN_WIDTH)


class Workbook:
    """An XLSX built in memory with XlsxWriter, a sheet at a time; ``to_bytes`` finishes it.

    XlsxWriter writes a 3,860-row list in 0.2 s where openpyxl's write-only mode took 0.37 s. Its
    guesses are switched off: text that looks like a formula, a number or a URL stays text.
    """

    def __init__(self, heading: str = "") -> None:
        """``heading``: what the top of every printed page says (whose document, which month)."""
        self._heading = heading[:HEADING_LIMIT].replace("&", "&&")  # a lone & starts a header code
        self._buffer = io.BytesIO()
        self._book = xlsxwriter.Workbook(self._buffer, {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        })
        self._formats: dict[tuple, Format] = {}
        self.bold = self.format(bold=True)

    def format(self, **properties: object) -> Format:
        """A cell format, made once per set of ``properties`` (``num_format="yyyy-mm-dd"``)."""
        key = tuple(sorted(properties.items()))
        if key not in self._formats:
            self._formats[key] = self._book.add_format(dict(properties))
        return self._formats[key]

    def worksheet(self, title: str) -> Worksheet:
        return self._book.add_worksheet(title[:31])  # Excel's limit on sheet names

    def print_setup(self, sheet: Worksheet, *, table: bool) -> None:
        """How ``sheet`` prints, on A4 with the heading and the sheet's name on top of every page
        and "Page 1 of 3" at the foot: a ``table`` landscape, one page wide and as many tall as it
        takes, its header row (the first) repeated on each page, with gridlines to follow a row
        across; otherwise (a summary) portrait on one page."""
        sheet.set_paper(A4)
        sheet.set_header(f"&L{self._heading}&R&A")
        sheet.set_footer(PAGE_FOOTER)
        if table:
            sheet.set_landscape()
            sheet.set_margins(left=0.4, right=0.4)  # wide tables: every tenth of an inch is print size
            sheet.fit_to_pages(1, 0)
            sheet.repeat_rows(0)
            sheet.hide_gridlines(0)  # shown on screen (as by default) and printed
        else:
            sheet.set_portrait()
            sheet.fit_to_pages(1, 1)

    def add_sheet(
        self, title: str, header: Sequence[str], columns: list[list[object]], *,
        widths: Sequence[int] | None = None, number_formats: Mapping[int, str] | None = None,
        note: str | None = None,
    ) -> Worksheet:
        """A sheet of ``columns`` (the values of each, top to bottom) under a bold frozen
        ``header`` with an autofilter over the data, each column as wide as its longest value
        (``widths``, when known, saves measuring); ``number_formats`` by column index (a
        datetime column's numbers shown as datetimes). A ``note`` instead of data says why there
        are no rows: in italics under the header, outside any filter. Printed as a table."""
        sheet = self.worksheet(title)
        formats = number_formats or {}
        if widths is None:
            widths = [max((len(str(v)) for v in values if v is not None), default=0) for values in columns]
        for index, (name, longest) in enumerate(zip(header, widths, strict=True)):
            cell_format = self.format(num_format=formats[index]) if index in formats else None
            sheet.set_column(index, index, column_width(longest, name), cell_format)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, header, self.bold)
        for number, row in enumerate(zip(*columns), start=1):
            sheet.write_row(number, 0, row)
        if note is None:
            sheet.autofilter(0, 0, len(columns[0]) if columns else 0, len(header) - 1)  # header and data
        else:
            sheet.write_string(1, 0, note, self.format(italic=True))
        self.print_setup(sheet, table=True)
        return sheet

    def to_bytes(self) -> bytes:
        self._book.close()
        return self._buffer.getvalue()
