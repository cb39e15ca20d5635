"""Money is decimal and rounds half-up at the currency's minor unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dms_billing.money import format_money, round_money


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "BDT", "0.01"),
        ("0.004999", "BDT", "0.00"),
        ("2.675", "BDT", "2.68"),  # 2.675 as a float would round down to 2.67
        ("-2.675", "BDT", "-2.68"),  # half away from zero for credits
        ("1234.5", "JPY", "1235"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_round_half_up_at_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    rounded = round_money(amount, currency)
    assert rounded == Decimal(expected) and str(rounded) == expected


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        round_money(2.675, "BDT")


def test_format_for_people() -> None:
    assert format_money(Decimal("1234567.5"), "BDT") == "1,234,567.50 BDT"
