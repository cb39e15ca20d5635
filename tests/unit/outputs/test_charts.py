"""The history charts: PNG, small, the same bytes for the same data, the data readable from the file."""

from __future__ import annotations

import base64
import io
from decimal import Decimal

import pytest
from PIL import Image

from include.dms_billing.core.history import (
    AMOUNT_EXPECTED,
    AMOUNT_INVOICED,
    NOT_SPLIT,
    MonthPoint,
    client_history,
    finance_history,
)
from include.dms_billing.outputs.charts import (
    HEIGHT,
    SCALE,
    WIDTH,
    chart_data,
    compact,
    client_chart_png,
    client_history_lines,
    data_uri,
    finance_chart_png,
    finance_history_lines,
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
    lines = finance_history_lines(history)
    assert lines[0] == "January 2023    no data"
    assert lines[-1] == "January 2024    2 invoices: 150.50 BDT; 20.00 USD"


def test_the_text_lines_say_no_data_and_which_amount() -> None:
    lines = client_history_lines(HISTORY)
    assert len(lines) == 12 and lines[0] == "February 2023   no data"
    assert lines[-3] == "November 2023   5 users (not split 5); 862.50 BDT (invoice total)"
    assert lines[-1] == ("January 2024    6 users (active 4, inactive, logged in 2); "
                         "900.00 BDT (not invoiced yet, before VAT)")


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
