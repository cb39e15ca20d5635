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


# Currencies of countries that count in lakhs and crores (1,00,000 is one lakh): their amounts
# are written in words that way, as their own invoices and cheques write them.
LAKH_CRORE = frozenset({"BDT", "INR", "NPR", "PKR", "LKR"})


def amount_in_words(amount: Decimal, currency: str) -> str:
    """The amount as a cheque writes it: ``Bangladeshi taka one lakh, twenty thousand and 50/100
    only`` (no fraction when it is whole); the words from num2words, the currency's name from
    babel's CLDR data."""
    from babel.numbers import get_currency_name
    from num2words import num2words

    amount = round_money(amount, currency)
    if amount < 0:
        raise ValueError(f"an amount in words is never negative: {amount}")
    digits = minor_units(currency)
    whole = int(amount)
    words = num2words(whole, lang="en_IN" if currency in LAKH_CRORE else "en")
    cents = int((amount - whole).scaleb(digits))
    minor = f" and {cents:0{digits}d}/{10 ** digits}" if cents else ""
    name = get_currency_name(currency, count=1, locale="en")
    return f"{name[:1].upper()}{name[1:]} {words}{minor} only"
