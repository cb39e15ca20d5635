"""Money: exact decimals, rounded half-up at the currency's minor unit. Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units of the currencies that differ from the usual two decimals.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "OMR": 3}
DEFAULT_MINOR_UNITS = 2


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNITS)


def to_decimal(value: Decimal | int | str) -> Decimal:
    """A Decimal from an exact value; floats are refused because they are not exact."""
    if isinstance(value, float):
        raise TypeError(f"money must not be a float: {value!r}")
    return Decimal(value)


def round_money(amount: Decimal | int | str, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit (e.g. 0.005 BDT -> 0.01)."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return to_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """For people: thousands separators and the currency's decimals, e.g. ``12,345.50 BDT``."""
    return f"{round_money(amount, currency):,.{minor_units(currency)}f} {currency}"
