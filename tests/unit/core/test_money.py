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


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        # The taka counts in lakhs and crores, as Bangladeshi invoices and cheques write it.
        ("96255.00", "BDT", "Bangladeshi taka ninety-six thousand, two hundred and fifty-five only"),
        ("12345678.05", "BDT", "Bangladeshi taka one crore, twenty-three lakh, forty-five thousand, "
                               "six hundred and seventy-eight and 05/100 only"),
        ("0.50", "BDT", "Bangladeshi taka zero and 50/100 only"),
        ("1234567.89", "USD", "US dollar one million, two hundred and thirty-four thousand, five hundred and "
                              "sixty-seven and 89/100 only"),
        ("1500", "JPY", "Japanese yen one thousand, five hundred only"),  # no minor unit
        ("2.125", "KWD", "Kuwaiti dinar two and 125/1000 only"),
    ],
)
def test_an_amount_in_words(amount: str, currency: str, expected: str) -> None:
    from include.dms_billing.core.money import amount_in_words

    assert amount_in_words(Decimal(amount), currency) == expected


def test_an_amount_in_words_is_never_negative() -> None:
    from include.dms_billing.core.money import amount_in_words

    with pytest.raises(ValueError, match="never negative"):
        amount_in_words(Decimal("-1.00"), "BDT")
