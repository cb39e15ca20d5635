"""The tax invoice (Mushak-6.3) as the client reads it: the PDF's text, read back with pypdf.

From a sample invoice, from the real configuration (through ``draft_invoice``, as a run builds
it), and from an invoice the ledger kept before the tax invoice's fields existed.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pypdf
import pytest

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import DEFAULT_CONFIG, load_config
from include.dms_billing.core.invoice import ADJUSTMENT, InvoiceLine, invoice_from_json
from include.dms_billing.core.jobs import ClientJob, RunIntent, SourceClient
from include.dms_billing.flows.delivery_steps import draft_invoice
from include.dms_billing.outputs.render import render_invoice_html, render_invoice_pdf
from tests.support.samples import BUYER_ADDRESS, BUYER_BIN, ISSUER, make_invoice

ADJUSTMENTS = tuple(
    InvoiceLine(ADJUSTMENT, description, users, Decimal(price), users * Decimal(price))
    for description, users, price in (
        ("Credit for April 2023: 2 users (objection)", 2, "-150.00"),
        ("Credit for March 2023: 1 user (objection)", 1, "-150.00"),
        ("Debit for April 2023: 1 user not billed", 1, "150.00"),
    )
)
ACTIVE = "DMS user subscriptions, May 2023: active users at month end"
RECENT = "DMS user subscriptions, May 2023: inactive users who logged in during the month"


def pdf_text(pdf: bytes, pages: int = 1) -> str:
    """The PDF's text with every run of whitespace (line breaks of wrapped cells too) as one space."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == pages
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


ISSUED_AT = datetime(2023, 6, 1, 4, 5, tzinfo=timezone.utc)  # 10:05 in Dhaka, on the invoice date


@pytest.fixture(scope="module")
def sample_text() -> str:
    invoice = replace(make_invoice(adjustments=ADJUSTMENTS), issued_at=ISSUED_AT)
    return pdf_text(render_invoice_pdf(render_invoice_html(invoice)))


def test_the_sample_invoice_names_both_parties_with_address_and_bin(sample_text: str) -> None:
    assert sample_text.startswith("Tax Invoice (Mushak-6.3)")
    assert f"SELLER {ISSUER.name} {' '.join(ISSUER.address)} BIN: {ISSUER.vat_registration}" in sample_text
    assert f"BUYER Meghna Foods Ltd {' '.join(BUYER_ADDRESS)} BIN: {BUYER_BIN}" in sample_text
    assert "INVOICE (CHALLAN) NUMBER SKR-000001" in sample_text
    assert ("DATE OF ISSUE 1 June 2023 TIME OF ISSUE 10:05 (UTC+06:00) BILLING PERIOD 1 May 2023 to 31 May 2023 "
            "(Bangladesh time) DUE DATE 16 June 2023 (Net 15) CURRENCY BDT") in sample_text


def test_the_sample_invoice_has_one_line_per_reason_then_the_adjustments(sample_text: str) -> None:
    """Mushak-6.3's columns: no., description, unit of supply, quantity, unit price, value, SD rate
    and amount, VAT rate and amount, value including SD and VAT."""
    assert ("No. Description of service Unit of supply Quantity Unit price (BDT) Value (BDT) SD rate SD (BDT) "
            "VAT rate VAT (BDT) Value with SD and VAT (BDT)") in sample_text
    rows = re.findall(r"\b(\d) (DMS user subscriptions.*?|(?:Credit|Debit) for .*?) user-month (-?[\d,]+) "
                      r"(-?[\d,.]+) (-?[\d,.]+) 0% 0.00 15% (-?[\d,.]+) (-?[\d,.]+)", sample_text)
    assert rows == [
        ("1", ACTIVE, "540", "150.00", "81,000.00", "12,150.00", "93,150.00"),
        ("2", RECENT, "18", "150.00", "2,700.00", "405.00", "3,105.00"),
        ("3", "Credit for April 2023: 2 users (objection)", "2", "-150.00", "-300.00", "-45.00", "-345.00"),
        ("4", "Credit for March 2023: 1 user (objection)", "1", "-150.00", "-150.00", "-22.50", "-172.50"),
        ("5", "Debit for April 2023: 1 user not billed", "1", "150.00", "150.00", "22.50", "172.50"),
    ]
    assert sample_text.count("active users at month end") == 1
    assert sample_text.count("inactive users who logged in") == 1
    assert ("Subtotal (value excluding SD and VAT) 83,400.00 BDT Supplementary duty (0%) 0.00 BDT "
            "VAT (15%) 12,510.00 BDT Total including SD and VAT 95,910.00 BDT") in sample_text
    assert "In words: Bangladeshi taka ninety-five thousand, nine hundred and ten only." in sample_text


def test_the_sample_invoice_says_how_to_pay_and_how_to_object(sample_text: str) -> None:
    assert "16 June 2023 (Net 15)" in sample_text
    assert ("Please pay 95,910.00 BDT by 16 June 2023, quoting invoice number SKR-000001 as the payment reference. "
            "Payment terms: Net 15, payment within 15 days of the invoice date.") in sample_text
    for expected in ("Account number: 1501200000000001", "Routing number: 060260000",
                     "bKash: 01713-000001 (Merchant)", "Nagad: 01894-000002 (Merchant)"):
        assert expected in sample_text, expected
    assert "This invoice is final" in sample_text
    assert ("write to billing@sokrio.example by 8 June 2023, naming the users and the reason and quoting "
            "reference MEGHNA/2023-05 and invoice number SKR-000001") in sample_text
    assert "credit on your next invoice" in sample_text
    assert "Farhana Haque Head of Finance Authorised signatory" in sample_text


def test_an_invoice_from_the_real_configuration() -> None:
    """MEGHNA's May 2023 invoice as a run drafts it: parties and payment from billing.yaml."""
    config = load_config(DEFAULT_CONFIG)
    source = SourceClient(1, "MEGHNA", "Meghna (DMS name)", "accounts@meghna.example", None, "Asia/Dhaka")
    job = ClientJob.of(source, BillingMonth(2023, 5), RunIntent(), config)  # the legal name wins
    draft = draft_invoice(job, {"active": 500, "inactive_recent_login": 20}, config)
    invoice = replace(draft("SKR-000042", [*ADJUSTMENTS]), issued_at=ISSUED_AT)
    text = pdf_text(render_invoice_pdf(render_invoice_html(invoice)))  # one page with all the bank's details
    issuer, client, bank = config.issuer, config.client("MEGHNA"), config.issuer.payment.bank
    assert f"SELLER {issuer.name} {' '.join(issuer.address)} BIN: 004563218-0101" in text
    assert f"BUYER Meghna Foods Ltd {' '.join(client.address)} BIN: 001234567-0202" in text
    for expected in (f"Account number: {bank.account_number}", "Routing number: 060260435", "SWIFT: BRAKBDDH",
                     "bKash: 01713-045678 (Merchant)", "Nagad: 01894-512307 (Merchant)"):
        assert expected in text, expected
    assert ("1 June 2023 TIME OF ISSUE 10:05 (UTC+06:00) BILLING PERIOD 1 May 2023 to 31 May 2023 "
            "(Bangladesh time)") in text
    assert f"1 {ACTIVE} user-month 500 150.00 75,000.00 0% 0.00 15% 11,250.00 86,250.00" in text
    assert f"2 {RECENT} user-month 20 150.00 3,000.00 0% 0.00 15% 450.00 3,450.00" in text
    assert "3 Credit for April 2023: 2 users (objection) user-month 2 -150.00 -300.00 0% 0.00 15% -45.00 -345.00" in text
    assert "5 Debit for April 2023: 1 user not billed user-month 1 150.00 150.00 0% 0.00 15% 22.50 172.50" in text
    assert "Total including SD and VAT 89,355.00 BDT" in text  # (78,000 - 300) x 1.15
    assert "In words: Bangladeshi taka eighty-nine thousand, three hundred and fifty-five only." in text
    assert "VAT at 15%: standard rate, section 15 of the Value Added Tax and Supplementary Duty Act, 2012." in text
    # 1 June + 15 days is Friday 16 June: due on Sunday 18 June; objections until Thursday 8 June.
    assert "18 June 2023 (Net 15)" in text and "by 18 June 2023" in text
    assert ("Payment terms: Net 15, payment within 15 days of the invoice date; 16 June 2023 is a day off (a "
            "weekend or public holiday), so payment is due on the next working day, 18 June 2023.") in text
    assert "by 8 June 2023" in text and "reference MEGHNA/2023-05 and invoice number SKR-000042" in text
    assert "Farhana Haque Head of Finance Authorised signatory" in text


def old_invoice_json() -> str:
    """An invoice as the ledger kept it before the tax invoice: no address, BIN, payment,
    signatory, timezone or objection deadline, and one subscriptions line without a reason."""
    return json.dumps({
        "adjustments_amount": "0.00", "billable_count": 558, "billing_month": "2023-04",
        "bill_to": {"client_code": "MEGHNA", "client_name": "Meghna Foods Ltd", "email": "accounts@meghna.example"},
        "credit_carried_forward": "0", "currency": "BDT", "due_date": "2023-05-17", "invoice_date": "2023-05-02",
        "invoice_number": "SKR-000007",
        "issuer": {"address": ["Banani", "Dhaka"], "email": "billing@sokrio.example", "name": "Sokrio Technologies Ltd",
                   "prefix": "SKR", "vat_registration": "004563218-0101"},
        "lines": [{"amount": "83700.00", "description": "DMS user subscriptions, April 2023", "kind": "subscriptions",
                   "quantity": 558, "unit_price": "150.00"}],
        "notes": [], "subscriptions_amount": "83700.00", "subtotal": "83700.00", "total": "96255.00",
        "unit_price": "150.00", "vat_amount": "12555.00", "vat_rate": "0.15",
    }, sort_keys=True)


def test_an_invoice_stored_by_the_old_code_still_loads_and_renders() -> None:
    invoice = invoice_from_json(old_invoice_json())
    assert (invoice.timezone, invoice.objection_deadline, invoice.by_reason) == ("", None, {})
    assert invoice.bill_to.address == () and invoice.issuer.payment == ()
    text = pdf_text(render_invoice_pdf(render_invoice_html(invoice)))
    # no time of issue, zone or payment terms: that invoice never recorded them
    assert "DATE OF ISSUE 2 May 2023 BILLING PERIOD 1 April 2023 to 30 April 2023 DUE DATE 17 May 2023 CURRENCY BDT" in text
    assert "BUYER Meghna Foods Ltd BIN: not registered" in text
    assert "1 DMS user subscriptions, April 2023 user-month 558 150.00 83,700.00 0% 0.00 15% 12,555.00 96,255.00" in text
    assert "Total including SD and VAT 96,255.00 BDT" in text and "Payment terms" not in text
    assert "write to billing@sokrio.example, naming the users" in text  # no deadline it never had
    assert "reference MEGHNA/2023-04 and invoice number SKR-000007" in text
    assert "Authorised signatory" in text and "None" not in text


def test_a_chart_given_as_a_data_uri_is_shown_as_an_image() -> None:
    chart = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    html = render_invoice_html(make_invoice(), chart=chart, chart_alt="A chart")
    assert re.search(rf'<img src="{re.escape(chart)}" alt="[^"<>]+" style="[^"<>]*width: 100%[^"<>]*">', html)
    assert "<img" not in render_invoice_html(make_invoice())
    with pytest.raises(ValueError, match="data: URI"):
        render_invoice_html(make_invoice(), chart="http://evil.example/x.png")


def test_an_invoice_issued_after_its_date_says_when_it_was_issued() -> None:
    """A backfill dates the invoice by the calendar (contract 3) and tells the real time of issue."""
    late = replace(make_invoice(), issued_at=datetime(2026, 12, 6, 19, 55, tzinfo=timezone.utc))
    text = " ".join(re.sub(r"<[^>]+>", " ", render_invoice_html(late)).split())
    assert "Date of issue 1 June 2023 Time of issue 7 December 2026, 01:55 (UTC+06:00)" in text
