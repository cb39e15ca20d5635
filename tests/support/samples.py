"""Sample invoices and billable lists for the rendering and message tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from include.dms_billing.core.columns import BILLABLE_COLUMNS
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.invoice import (
    BillTo, Invoice, InvoiceLine, Issuer, PaymentMethod, build_invoice,
)
from include.dms_billing.core.list_terms import ListTerms, list_terms

ISSUER = Issuer(
    name="Sokrio Technologies Ltd",
    address=("House 12, Road 5, Gulshan 1", "Dhaka 1212, Bangladesh"),
    email="billing@sokrio.example",
    vat_registration="000123456-0101",
    prefix="SKR",
    phone="+880 2 5504 0000",
    payment=(
        PaymentMethod("Bank transfer", (
            ("Bank", "BRAC Bank PLC"), ("Account name", "Sokrio Technologies Ltd"),
            ("Account number", "1501200000000001"), ("Routing number", "060260000"),
        )),
        PaymentMethod("bKash", (("Account", "01713-000001 (Merchant)"),)),
        PaymentMethod("Nagad", (("Account", "01894-000002 (Merchant)"),)),
    ),
    signatory_name="Farhana Haque",
    signatory_designation="Head of Finance",
)
BUYER_ADDRESS = ("Plot 21, Tejgaon Industrial Area", "Dhaka 1208, Bangladesh")
BUYER_BIN = "001234567-0202"
BY_REASON = {"active": 540, "inactive_recent_login": 18}
FORMULA_NAME = '=HYPERLINK("http://x")'


def make_invoice(
    client_name: str = "Meghna Foods Ltd",
    number: str = "SKR-000001",
    currency: str = "BDT",
    vat_rate: str = "0.15",
    adjustments: tuple[InvoiceLine, ...] = (),
    issuer: Issuer = ISSUER,
) -> Invoice:
    """May 2023 in Asia/Dhaka, 558 users (540 active, 18 inactive who logged in) at 150.00 BDT:
    83,700.00 + 15% VAT = 96,255.00 BDT, due 16 June (Net 15), objections until 8 June."""
    return build_invoice(
        invoice_number=number,
        issuer=issuer,
        bill_to=BillTo(client_code="MEGHNA", client_name=client_name, email="accounts@meghna.example",
                       address=BUYER_ADDRESS, bin=BUYER_BIN),
        billing_month="2023-05",
        invoice_date=date(2023, 6, 1),
        due_date=date(2023, 6, 16),
        currency=currency,
        billable_count=558,
        unit_price=Decimal("150.00"),
        vat_rate=Decimal(vat_rate),
        adjustments=adjustments,
        by_reason=BY_REASON,
        timezone="Asia/Dhaka",
        objection_deadline=date(2023, 6, 8),
        payment_terms_days=15,
    )


def make_billed() -> pd.DataFrame:
    """A billable list as the rule hands it over: local aware times, one user never logged in."""
    logins = pd.to_datetime(
        ["2023-05-31 11:45:00", "2023-05-02 03:00:00", None, "2023-05-20 09:30:15"], utc=True
    )
    return pd.DataFrame(
        {
            "client_code": "MEGHNA",
            "billing_month": "2023-05",
            "user_id": [101, 102, 103, 104],
            "username": ["rahim", "-karim", "sales😀", "x"],
            "full_name": ["রহিম উদ্দিন", "Karim Ahmed", "Happy 😀 Seller", FORMULA_NAME],
            "role": ["SR", "+DSR", "@manager", "SR"],
            "status_at_month_end": ["active", "inactive", "active", "active"],
            "billable_reason": ["active", "inactive_recent_login", "active", "active"],
            "last_login_at": logins.tz_convert("Asia/Dhaka"),
            "logins_in_month": [14, 1, 0, 3],
            "status_source": ["history", "history", "current", "history"],
            "status_set_at": pd.to_datetime(
                ["2023-04-02 04:00:00", "2023-05-10 08:00:00", None, "2023-03-01 00:00:00"], utc=True
            ).tz_convert("Asia/Dhaka"),
            "change_since_last_month": ["unchanged", "new", "unchanged", "new"],
        },
        columns=BILLABLE_COLUMNS,
    )


def make_terms(billed: pd.DataFrame, client_code: str = "MEGHNA", billing_month: str = "2023-05") -> ListTerms:
    """The terms of ``billed`` at 150.00 BDT a user, Bangladesh's calendar, 7 days to object."""
    config = parse_config({"clients": {client_code: {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}}})
    by_reason = {str(k): int(v) for k, v in billed["billable_reason"].value_counts().items()}
    return list_terms(client_code, billing_month, by_reason, config)
