"""Money is decimal and rounds half-up at the currency's minor unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dms_billing.core.money import format_money, round_money


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


def test_every_currencys_decimals_come_from_babel_and_unknown_codes_are_refused() -> None:
    from include.dms_billing.core.config import ConfigError, parse_config

    assert [str(round_money("1.2345", c)) for c in ("VND", "BDT", "JOD")] == ["1", "1.23", "1.235"]
    with pytest.raises(ValueError, match="unknown currency 'XYZ'"):
        round_money("1", "XYZ")
    plan = {"prices": [{"from": "2023-04", "unit_price": "1"}], "currency": "XYZ"}
    with pytest.raises(ConfigError, match="clients.ACME.plan.currency"):
        parse_config({"clients": {"ACME": {"plan": plan}}})
