"""Who is on an invoice besides the plan: the issuer (seller), its payment instructions and
signatory, and the identifiers the Bangladeshi VAT invoice (Mushak-6.3) carries for both parties.

Part of the billing configuration (``core/config.py``), validated the same way.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _bin(value: str) -> str:
    """A Bangladeshi Business Identification Number: 13 digits, often written 9-4 (``004563218-0101``)."""
    if not re.fullmatch(r"\d{13}|\d{9}-\d{4}", value) or not value.strip("0-"):
        raise ValueError(f"{value!r} is not a BIN: expected 13 digits, e.g. 004563218-0101")
    return value


Bin = Annotated[str, AfterValidator(_bin)]
Text = Annotated[str, Field(min_length=1)]


class BankAccount(Strict):
    """Where a bank transfer goes (BEFTN/RTGS need the routing number)."""

    bank: Text
    branch: Text
    account_name: Text
    account_number: Text
    routing_number: str | None = None
    swift: str | None = None


class MobileWallet(Strict):
    """A mobile financial service account, e.g. bKash or Nagad, and how to pay into it."""

    provider: Text
    number: Text
    account_type: Text = "Merchant"


class Payment(Strict):
    """The payment instructions printed on every invoice."""

    bank: BankAccount | None = None
    mobile: tuple[MobileWallet, ...] = ()


class Signatory(Strict):
    """The person who signs invoices for the issuer (Mushak-6.3: name and designation)."""

    name: Text
    designation: Text


class IssuerConfig(Strict):
    """Sokrio as printed on invoices (the seller of Mushak-6.3); ``invoice_prefix`` starts every
    invoice number."""

    name: Text = "Sokrio Technologies Ltd"
    address: tuple[Text, ...] = ("House 12, Road 7, Block C, Banani", "Dhaka 1213, Bangladesh")
    email: Text = "billing@sokrio.example"
    phone: str | None = None
    bin: Bin = "004563218-0101"
    payment: Payment = Payment()
    signatory: Signatory | None = None
    invoice_prefix: str = Field(default="SKR", pattern=r"^[A-Z]{2,8}$")

