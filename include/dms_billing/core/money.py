"""Money: exact decimals, rounded half-up at the currency's minor unit. Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def minor_units(currency: str) -> int:
    """The currency's decimals (JPY 0, BDT 2, KWD 3), from babel's CLDR data: every currency,
    not a hand-kept list. A code babel does not know is refused rather than given two."""
    from babel.numbers import get_currency_precision, is_currency

    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}: expected an ISO 4217 code such as BDT")
    return get_currency_precision(currency)


def to_decimal(value: Decimal | int | str) -> Decimal:
    """A Decimal from an exact value; floats are refused because they are not exact."""
    if isinstance(value, float):
        raise TypeError(f"money must not be a float: {value!r}")
    return Decimal(value)


def round_money(amount: Decimal | int | str, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit (e.g. 0.005 BDT -> 0.01)."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return to_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """For people, in a table that names the currency once: ``12,345.50``."""
    return f"{round_money(amount, currency):,.{minor_units(currency)}f}"


def format_money(amount: Decimal, currency: str) -> str:
    """For people: thousands separators and the currency's decimals, e.g. ``12,345.50 BDT``."""
    return f"{format_amount(amount, currency)} {currency}"
