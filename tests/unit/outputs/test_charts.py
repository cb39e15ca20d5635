"""The history charts: PNG, small, the same bytes for the same data, the data readable from the file;
only what is known drawn, and said briefly (issue 23: with one month of history, nothing drawn
above the eleven months without data, and a text alternative that names the one month).
"""

from __future__ import annotations

import base64
import io
import re
from decimal import Decimal
from math import ceil, floor

import pytest
from PIL import Image

from include.dms_billing.core.history import (
    AMOUNT_EXPECTED,
    AMOUNT_INVOICED,
    NOT_SPLIT,
    MonthPoint,
    client_history,
    finance_history,
    list_history,
    window,
)
from include.dms_billing.core.invoice import month_name
from include.dms_billing.outputs.chart_text import (
    client_chart_alt,
    client_history_lines,
    finance_chart_alt,
    finance_history_lines,
)
from include.dms_billing.outputs.charts import (
    HEIGHT,
    SCALE,
    WIDTH,
    chart_data,
    client_chart_png,
    client_figure,
    compact,
    data_uri,
    figure_png,
    finance_chart_png,
    finance_figure,
    png_size,
)

MAX_BYTES = 60_000
HISTORY = client_history("ACME", "2024-01", [
    MonthPoint("2023-11", {NOT_SPLIT: 5}, Decimal("862.50"), "BDT", AMOUNT_INVOICED),
    MonthPoint("2023-12", {"active": 3, "inactive_recent_login": 1}, Decimal("690.00"), "BDT", AMOUNT_INVOICED),
    MonthPoint("2024-01", {"active": 4, "inactive_recent_login": 2}, Decimal("900.00"), "BDT", AMOUNT_EXPECTED),
])


def _checked(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < MAX_BYTES
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == png_size(png) == (WIDTH * SCALE, HEIGHT * SCALE)
    return image


def test_the_client_chart_is_a_small_png_carrying_its_data_the_same_bytes_each_time() -> None:
    png = client_chart_png(HISTORY)
    image = _checked(png)
    assert chart_data(png) == HISTORY.to_data()
    assert image.text["Description"]  # a standard tEXt chunk: any PNG reader shows it
    assert "Software" not in image.text and client_chart_png(HISTORY) == png
    assert data_uri(png) == "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_chart_of_no_data_at_all_is_still_drawn() -> None:
    empty = client_history("ACME", "2024-01", [])
    png = client_chart_png(empty)
    _checked(png)
    assert all(month["by_reason"] is None for month in chart_data(png)["months"])


def test_the_finance_chart_has_a_panel_per_currency_and_its_data() -> None:
    history = finance_history("2024-01", [("2024-01", "BDT", Decimal("150.50")), ("2024-01", "USD", Decimal("20")),
                                          ("2023-06", "BDT", Decimal("99.00"))])
    png = finance_chart_png(history)
    _checked(png)
    assert chart_data(png) == history.to_data() and finance_chart_png(history) == png
    assert finance_history_lines(history) == [
        "January 2023 to May 2023: no data",
        "June 2023       1 invoice: 99.00 BDT",
        "July 2023 to December 2023: no data",
        "January 2024    2 invoices: 150.50 BDT; 20.00 USD",
    ]


def test_the_text_lines_say_no_data_once_and_which_amount() -> None:
    assert client_history_lines(HISTORY) == [
        "February 2023 to October 2023: no data",
        "November 2023   5 users (not split 5); 862.50 BDT (invoice total)",
        "December 2023   4 users (active 3; inactive but logged in 1); 690.00 BDT (invoice total)",
        "January 2024    6 users (active 4; inactive but logged in 2); 900.00 BDT (not invoiced yet, before VAT)",
    ]


def test_chart_data_refuses_what_is_not_a_chart() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        chart_data(b"GIF89a")
    plain = io.BytesIO()
    Image.new("RGB", (2, 2)).save(plain, format="PNG")
    with pytest.raises(ValueError, match="no chart data"):
        chart_data(plain.getvalue())


def test_tick_labels_are_compact_never_an_offset() -> None:
    assert [compact(v) for v in (0, 950, 5000, 52000, 8625000, 12500000)] == ["0", "950", "5,000", "52k", "8.6M",
                                                                             "12.5M"]


# Issue 23: a client billed for the first time (May 2023, its list's month, not invoiced yet).
ONE_MONTH = list_history("MEGHNA", "2023-05", [], {"active": 566, "inactive_recent_login": 16}, Decimal("87300.00"),
                         "BDT")
FULL_YEAR = client_history("MEGHNA", "2023-05", [
    MonthPoint(m, {"active": 500 + 10 * i, "inactive_recent_login": 5 + i}, Decimal(75_000 + 1_500 * i), "BDT",
               AMOUNT_INVOICED) for i, m in enumerate(window("2023-05"))])


def _picture(figure, data: dict) -> Image.Image:
    """The chart's PNG as RGB; making it draws ``figure``, so its axes are where the PNG shows them."""
    return Image.open(io.BytesIO(figure_png(figure, data))).convert("RGB")


def _colours(image: Image.Image, axes, month: int) -> set[tuple[int, int, int]]:
    """The colours in a month's place (the middle 70 % of its slot), from the top of the axes down to
    just above its baseline (the axis line and its ticks left out)."""
    (left, bottom), (right, top) = axes.transData.transform([(month - 0.35, axes.get_ylim()[0]),
                                                             (month + 0.35, axes.get_ylim()[1])])
    box = (ceil(left), ceil(image.height - top), floor(right), floor(image.height - bottom) - 4)
    return set(image.crop(box).getdata())


def _background(image: Image.Image) -> tuple[int, int, int]:
    return image.getpixel((0, 0))


def _named(months, text: str) -> list[str]:
    return [m for m in months if month_name(m) in text]


def test_one_month_of_history_draws_nothing_above_the_months_without_data() -> None:
    figure = client_figure(ONE_MONTH)
    image = _picture(figure, ONE_MONTH.to_data())
    bars, blank = figure.axes[0], {_background(image)}
    assert _colours(image, bars, 11) - blank  # the month with data is there to see
    for month in range(11):
        assert _colours(image, bars, month) == blank, window("2023-05")[month]
    note = bars.get_xlabel()  # the one short note, under the axis
    assert "no data" in note.lower() and _named(window("2023-05"), note) == ["2023-05"] and len(note) < 60


def test_the_text_alternative_and_the_lines_name_the_one_month_briefly() -> None:
    alt = client_chart_alt(ONE_MONTH)
    assert len(alt) < 200 and alt.count("no data") == 1 and _named(window("2023-05"), alt) == ["2023-05"]
    assert "May 2023: 582 users" in alt and "87,300.00 BDT" in alt
    lines = client_history_lines(ONE_MONTH)
    assert len(lines) == 2 and " ".join(lines).count("no data") == 1
    assert lines[0].startswith("June 2022 to April 2023") and lines[1].startswith("May 2023")


def test_the_reasons_read_as_a_list_of_two() -> None:
    """Not "(active 566, inactive, logged in 16)": three items to a reader."""
    [counts] = re.findall(r"users \(([^()]*)\)", client_history_lines(ONE_MONTH)[-1])
    items = re.split(r"[,;] ", counts)
    assert len(items) == 2 and all(re.fullmatch(r"[a-z ]+ \d+", item) for item in items), counts
    assert items[1].startswith("inactive") and items[1].endswith(" 16")


def test_twelve_months_of_data_are_each_named_and_drawn_nothing_collapsed() -> None:
    months = window("2023-05")
    lines = client_history_lines(FULL_YEAR)
    assert [line[:len(month_name(m))] for line, m in zip(lines, months)] == [month_name(m) for m in months]
    assert len(lines) == 12 and "no data" not in " ".join(lines)
    alt = client_chart_alt(FULL_YEAR)
    assert all(f"{month_name(m)}: " in alt for m in months) and "no data" not in alt
    figure = client_figure(FULL_YEAR)
    image = _picture(figure, FULL_YEAR.to_data())
    assert all(_colours(image, figure.axes[0], month) - {_background(image)} for month in range(12))
    assert figure.axes[0].get_xlabel() == ""


def test_months_without_data_between_are_said_once_per_run() -> None:
    months = window("2023-05")
    gaps = (3, 6, 7)  # September 2022; December 2022 and January 2023
    history = client_history("MEGHNA", "2023-05", [
        MonthPoint(m, {"active": 5}, Decimal("750.00"), "BDT", AMOUNT_INVOICED)
        for i, m in enumerate(months) if i not in gaps])
    lines = client_history_lines(history)
    assert len(lines) == 11 and " ".join(lines).count("no data") == 2
    assert "September 2022  no data" in lines and "December 2022 to January 2023: no data" in lines
    alt = client_chart_alt(history)
    assert alt.count("no data") == 1 and alt.endswith("no data for September 2022 and December 2022 to January 2023")
    figure = client_figure(history)
    image = _picture(figure, history.to_data())
    blank = {_background(image)}
    assert [month for month in range(12) if _colours(image, figure.axes[0], month) == blank] == list(gaps)


FINANCE_ONE = finance_history("2023-05", [("2023-05", "BDT", Decimal("250000.00")), ("2023-05", "USD", Decimal("500"))])


def test_the_finance_chart_of_one_month_draws_nothing_above_the_twelve_before() -> None:
    figure = finance_figure(FINANCE_ONE)
    image = _picture(figure, FINANCE_ONE.to_data())
    blank = {_background(image)}
    panels = [axes for axes in figure.axes if axes.get_ylabel() in ("BDT", "USD")]
    assert len(panels) == 2
    for panel in panels:
        assert _colours(image, panel, 12) - blank
        assert all(_colours(image, panel, month) == blank for month in range(12)), panel.get_ylabel()
    note = panels[-1].get_xlabel()
    assert "no data" in note.lower() and _named(FINANCE_ONE.months, note) == ["2023-05"] and len(note) < 60


def test_the_finance_text_names_the_one_month_briefly_and_a_full_year_each_month() -> None:
    alt = finance_chart_alt(FINANCE_ONE)
    assert len(alt) < 200 and alt.count("no data") == 1 and _named(FINANCE_ONE.months, alt) == ["2023-05"]
    assert "250,000.00 BDT" in alt and "500.00 USD" in alt
    assert finance_history_lines(FINANCE_ONE) == ["May 2022 to April 2023: no data",
                                                  "May 2023        2 invoices: 250,000.00 BDT; 500.00 USD"]
    months = window("2023-05", 13)
    full = finance_history("2023-05", [(m, "BDT", Decimal(1000 + i)) for i, m in enumerate(months)])
    lines, alt = finance_history_lines(full), finance_chart_alt(full)
    assert len(lines) == 13 and "no data" not in " ".join(lines) + alt
    assert all(f"{month_name(m)}: 1 invoice" in alt for m in months)
    figure = finance_figure(full)
    image = _picture(figure, full.to_data())
    assert all(_colours(image, figure.axes[0], month) - {_background(image)} for month in range(13))
