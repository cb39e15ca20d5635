"""The emails, serialised and parsed back as a mail client would: headers, parts, attachments,
and no way for data to add a header."""

from __future__ import annotations

import email
import email.policy
import io
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import openpyxl
import pandas as pd
import pytest

from include.dms_billing.mail.headers import Envelope
from include.dms_billing.mail.messages import (
    alert_email,
    finance_email,
    invoice_email,
    list_email,
)
from include.dms_billing.outputs.billable_list import ListSummary, to_csv_text
from include.dms_billing.outputs.render import render_invoice_html, render_invoice_pdf
from include.dms_billing.outputs.finance_sheet import finance_csv_bytes
from tests.support.contract import ATTACHMENT_COLUMNS
from tests.support.samples import FORMULA_NAME, make_billed, make_invoice, make_terms

ENVELOPE = Envelope(
    sender="Sokrio Billing <billing@sokrio.example>",
    reply_to="billing@sokrio.example",
    to=("accounts@meghna.example",),
    cc=("Account Manager <am@sokrio.example>",),
    message_id="<list.MEGHNA.2023-05.0@billing.sokrio.example>",
)
INJECTION = "Meghna Foods Ltd\r\nBcc: evil@x"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIXED = ["multipart/mixed", "multipart/alternative", "text/plain", "text/html"]  # before the attachments
REPORT = "/data/reports/billing_month=2023-05/client_code=MEGHNA"


def parse(msg: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


def summary_of(billed: pd.DataFrame, month: str = "2023-05") -> ListSummary:
    counts = billed["billable_reason"].value_counts()
    return ListSummary(
        client_code="MEGHNA", billing_month=month, users_in_snapshot=10, billable=len(billed),
        by_reason={"active": int(counts.get("active", 0)),
                   "inactive_recent_login": int(counts.get("inactive_recent_login", 0))},
        status_from_current=1, billable_parquet="b.parquet", billable_csv="b.csv", validation_report="r",
    )


def the_list_email(client_name: str = "Meghna Foods Ltd", envelope: Envelope = ENVELOPE) -> EmailMessage:
    billed = make_billed()
    return list_email(envelope, client_name, "MEGHNA", "2023-05", summary_of(billed), billed, terms=make_terms(billed))


def bodies(msg: EmailMessage) -> tuple[str, str]:
    """Text and HTML as read; quoted-printable text carries CRLF, the canonical line break."""
    return tuple(msg.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


def attachments(msg: EmailMessage) -> dict[str, tuple[str, bytes]]:
    return {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in msg.iter_attachments()
    }


def structure(msg: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


def test_list_email_headers() -> None:
    msg = parse(the_list_email())
    assert msg["From"] == "Sokrio Billing <billing@sokrio.example>"
    assert msg["To"] == "accounts@meghna.example"
    assert msg["Cc"] == "Account Manager <am@sokrio.example>"
    assert msg["Reply-To"] == "billing@sokrio.example"
    assert msg["Subject"] == "Sokrio DMS billable users, May 2023: Meghna Foods Ltd (MEGHNA), 4 users"
    assert msg["Message-ID"] == "<list.MEGHNA.2023-05.0@billing.sokrio.example>"
    assert msg["X-Sokrio-Billing"] == "list; client=MEGHNA; month=2023-05"
    sent = parsedate_to_datetime(msg["Date"])  # "-0000": UTC
    assert abs(sent - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=5)
    assert "Bcc" not in msg


def test_list_email_parts_and_attachments() -> None:
    billed = make_billed()
    msg = parse(the_list_email())
    assert structure(msg) == [*MIXED, "text/csv", XLSX, "application/pdf"]  # the FAQ: test_list_email_terms
    files = attachments(msg)
    assert list(files) == ["Sokrio_billable_users_MEGHNA_2023-05.csv", "Sokrio_billable_users_MEGHNA_2023-05.xlsx",
                           "Sokrio_billing_FAQ_MEGHNA_2023-05.pdf"]
    assert files["Sokrio_billable_users_MEGHNA_2023-05.csv"] == ("text/csv", b"\xef\xbb\xbf" + to_csv_text(billed).encode())
    xlsx_type, xlsx = files["Sokrio_billable_users_MEGHNA_2023-05.xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == ["Summary", "MEGHNA 2023-05"] and book.active.title == "Summary"  # what opens
    rows = list(book["MEGHNA 2023-05"].iter_rows(values_only=True))
    assert xlsx_type == XLSX and len(rows) == 1 + len(billed)
    assert [name.removesuffix(" (Bangladesh time)") for name in rows[0]] == ATTACHMENT_COLUMNS
    assert rows[1][2] == "রহিম উদ্দিন" and rows[4][2] == "'" + FORMULA_NAME


def test_list_email_body_counts_columns_and_objection_rule() -> None:
    text, html = bodies(parse(the_list_email()))
    for body in (text, html):
        assert "May 2023" in body and "MEGHNA" in body
        assert "Active at the end of the month" in body and "Inactive, but logged in during the month" in body
        assert all(column in body for column in ATTACHMENT_COLUMNS)
        assert "in Bangladesh time" in body and "Asia/Dhaka" not in body and "ISO 8601" in body
        words = " ".join(body.split())
        assert "MEGHNA/2023-05" in words and "8 June 2023" in words
        assert "a credit on your next invoice" in words
        assert "final" not in body  # no bill exists yet when the list is read
    assert "Total billable users:                                 4" in text
    assert "first month" not in text


def test_list_email_for_the_transition_month_names_16_april() -> None:
    billed = make_billed().assign(billing_month="2023-04")
    msg = list_email(ENVELOPE, "Meghna Foods Ltd", "MEGHNA", "2023-04", summary_of(billed, "2023-04"), billed,
                     terms=make_terms(billed, billing_month="2023-04"))
    text, html = bodies(parse(msg))
    assert "only logins from 16 April 2023 count" in text and "16 April 2023" in html


def test_list_email_escapes_names_in_html_and_encodes_them_in_the_subject() -> None:
    text, html = bodies(parse(the_list_email(client_name="মেঘনা <script>alert(1)</script>")))
    assert "<script>" not in html and "মেঘনা &lt;script&gt;" in html
    assert "মেঘনা <script>alert(1)</script>" in text  # plain text is not HTML: shown as is
    assert parse(the_list_email(client_name="মেঘনা ফুডস 😀"))["Subject"].startswith(
        "Sokrio DMS billable users, May 2023: মেঘনা ফুডস 😀 (MEGHNA)"
    )


def test_no_cc_header_without_cc() -> None:
    assert "Cc" not in parse(the_list_email(envelope=replace(ENVELOPE, cc=())))


def test_summary_that_does_not_match_the_list_is_refused() -> None:
    billed = make_billed()
    with pytest.raises(ValueError, match="4 rows"):
        list_email(ENVELOPE, "Meghna", "MEGHNA", "2023-05", summary_of(billed.iloc[:3]), billed, terms=make_terms(billed))
    with pytest.raises(ValueError, match="summary is for"):
        list_email(ENVELOPE, "Meghna", "PADMA", "2023-05", summary_of(billed), billed, terms=make_terms(billed, "PADMA"))


def test_client_name_cannot_add_a_header() -> None:
    with pytest.raises(ValueError, match="line break"):
        the_list_email(client_name=INJECTION)
    invoice = make_invoice(client_name=INJECTION)
    with pytest.raises(ValueError, match="line break"):
        invoice_email(ENVELOPE, invoice, "<p>x</p>", b"%PDF-1.7 x")


@pytest.mark.parametrize(
    "envelope",
    [
        replace(ENVELOPE, to=("a@x.example\r\nBcc: evil@x",)),
        replace(ENVELOPE, cc=("a@x.example\nBcc: evil@x",)),
        replace(ENVELOPE, sender="Billing <b@x.example>\u2028Bcc: evil@x"),
        replace(ENVELOPE, to=("a@x.example, evil@x",)),
        replace(ENVELOPE, to=()),
        replace(ENVELOPE, message_id="<a@b>\r\nBcc: evil@x"),
        replace(ENVELOPE, message_id="no-brackets@x"),
    ],
)
def test_bad_envelopes_are_refused(envelope: Envelope) -> None:
    with pytest.raises(ValueError):
        the_list_email(envelope=envelope)


def test_invoice_email() -> None:
    invoice = make_invoice()
    html = render_invoice_html(invoice)
    pdf = render_invoice_pdf(html)
    envelope = replace(ENVELOPE, message_id="<invoice.MEGHNA.2023-05.0@billing.sokrio.example>")
    msg = parse(invoice_email(envelope, invoice, html, pdf))
    assert msg["Subject"] == "Sokrio DMS invoice SKR-000001, May 2023: Meghna Foods Ltd, 96,255.00 BDT"
    assert msg["X-Sokrio-Billing"] == "invoice; client=MEGHNA; month=2023-05"
    assert structure(msg) == [*MIXED, "application/pdf"]
    text, body_html = bodies(msg)
    assert body_html == html
    for expected in (
        "Our tax invoice (Mushak-6.3) SKR-000001", "Billing period:  1 May 2023 to 31 May 2023 (Bangladesh time)",
        "1. DMS user subscriptions, May 2023: active users at month end\n     540 x 150.00 BDT = 81,000.00 BDT",
        "2. DMS user subscriptions, May 2023: inactive users who logged in during the month\n"
        "     18 x 150.00 BDT = 2,700.00 BDT",
        "Total:           96,255.00 BDT", "Due date:        16 June 2023 (Net 15)",
        "In words:        Bangladeshi taka ninety-six thousand, two hundred and fifty-five only",
        "Payment terms: Net 15, payment within 15 days of the invoice date.",
        "please pay 96,255.00 BDT by 16 June 2023", "Account number:  1501200000000001",
        "Routing number:  060260000", "bKash\n    Account:         01713-000001 (Merchant)",
        "Nagad\n    Account:         01894-000002 (Merchant)", "this invoice is final",
        "by 8 June 2023, naming the users", "MEGHNA/2023-05 and invoice number SKR-000001",
    ):
        assert expected in text, expected
    assert "Please find attached" not in text
    assert attachments(msg) == {"Sokrio_invoice_SKR-000001_MEGHNA_2023-05.pdf": ("application/pdf", pdf)}


def test_invoice_email_refuses_an_attachment_that_is_not_a_pdf() -> None:
    invoice = make_invoice()
    with pytest.raises(ValueError, match="not a PDF"):
        invoice_email(ENVELOPE, invoice, render_invoice_html(invoice), b"<html>")


def test_finance_email_totals_per_currency() -> None:
    invoices = [
        make_invoice(),
        make_invoice(number="SKR-000002", client_name="Padma <Trading>"),
        make_invoice(number="SKR-000003", currency="USD"),
    ]
    msg = parse(finance_email(ENVELOPE, "2023-05", invoices))
    assert msg["Subject"] == "Sokrio DMS finance summary, May 2023: 3 invoices, 192,510.00 BDT; 96,255.00 USD"
    assert msg["X-Sokrio-Billing"] == "finance; month=2023-05"
    assert structure(msg) == [*MIXED, "text/csv", XLSX]
    files = attachments(msg)
    assert files["finance_summary_2023-05.csv"] == ("text/csv", finance_csv_bytes(invoices))
    assert files["finance_summary_2023-05.xlsx"][0] == XLSX
    text, html = bodies(msg)
    assert all(f"SKR-00000{n}" in text and f"SKR-00000{n}" in html for n in (1, 2, 3))
    assert "Padma &lt;Trading&gt;" in html and "15%" in html  # the client's name and the VAT rate
    totals = re.findall(r'<tr class="totals".*?</tr>', html, re.DOTALL)
    assert [re.sub(r"<[^>]+>|\s+", " ", row).split()[:2] for row in totals] == [["Total", "BDT"], ["Total", "USD"]]
    assert "192,510.00" in totals[0] and "1,116" in totals[0] and "96,255.00" in totals[1]
    assert "Total BDT                      1,116       167,400.00 BDT        25,110.00 BDT       192,510.00 BDT" in text
    assert "Total USD" in text


def test_finance_email_table_fits_1000_px_without_wrapping_numbers() -> None:
    html = bodies(parse(finance_email(ENVELOPE, "2023-05", [make_invoice()])))[1]
    assert "max-width: 1000px" in html and "font-size: 12px" in html
    cells = re.findall(r'<td style="([^"]*)">([^<]*)</td>', html)
    numbers = [style for style, value in cells if re.fullmatch(r"[\d,.%-]+|\d{4}-\d\d-\d\d", value.strip())]
    assert len(numbers) >= 10 and all("white-space: nowrap" in style for style in numbers)


def test_finance_email_refuses_another_months_invoice() -> None:
    with pytest.raises(ValueError, match="SKR-000001"):
        finance_email(ENVELOPE, "2023-06", [make_invoice()])


def test_alert_email() -> None:
    msg = parse(alert_email(
        ENVELOPE, "dms_monthly_billing", "client.validate", "scheduled__2023-05-01", "MEGHNA", "2023-05",
        "2 expectations failed: <status> not mapped", REPORT,
        "http://airflow.example/log?x=1&y=2",
    ))
    assert msg["Subject"] == "[billing alert] dms_monthly_billing failed: client.validate MEGHNA 2023-05"
    assert msg["X-Sokrio-Billing"] == "alert; client=MEGHNA; month=2023-05"
    assert structure(msg) == ["multipart/alternative", "text/plain", "text/html"]
    text, html = bodies(msg)
    for body in (text, html):
        assert "scheduled__2023-05-01" in body and REPORT in body
    assert "<status> not mapped" in text and "&lt;status&gt; not mapped" in html


def test_alert_email_without_client_or_month() -> None:
    msg = parse(alert_email(
        ENVELOPE, "dms_monthly_billing", "plan", "manual__x", None, None, "boom", None, None
    ))
    assert msg["Subject"] == "[billing alert] dms_monthly_billing failed: plan"
    assert msg["X-Sokrio-Billing"] == "alert"
    assert "Validation report" not in bodies(msg)[0]


def _changes(compared: bool):
    from include.dms_billing.outputs.list_changes import ChangedUser, ListChanges

    if not compared:
        return ListChanges("2023-05", "2023-04", None, 4)
    return ListChanges(
        "2023-05", "2023-04", 5, 4,
        newly_billable=[ChangedUser(102, "-karim", "Karim Ahmed", "inactive_recent_login")],
        no_longer_billable=[ChangedUser(90, "gone", "<b>Gone</b>", "inactive since 2023-05-03T10:00:00+06:00; "
                                        "no login in the month", "active"),
                            ChangedUser(91, "left", "Left", "no longer in Sokrio DMS", "active")],
    )


def test_list_email_says_what_changed_since_last_month_in_body_and_changes_sheet() -> None:
    billed = make_billed()
    msg = parse(list_email(ENVELOPE, "Meghna Foods Ltd", "MEGHNA", "2023-05", summary_of(billed), billed,
                           _changes(True), terms=make_terms(billed)))
    text, html = bodies(msg)
    assert "Changes since April 2023:" in text
    assert "Billable users in April 2023:                         5" in text
    assert "Billable users in May 2023:                           4 (-1)" in text
    assert "102, -karim, Karim Ahmed: inactive_recent_login" in text
    assert "90, gone, <b>Gone</b>: inactive since 2023-05-03T10:00:00+06:00; no login in the month" in text
    assert "&lt;b&gt;Gone&lt;/b&gt;" in html and "<b>Gone</b>" not in html
    workbook = openpyxl.load_workbook(io.BytesIO(attachments(msg)["Sokrio_billable_users_MEGHNA_2023-05.xlsx"][1]))
    assert workbook.sheetnames == ["Summary", "MEGHNA 2023-05", "Changes"]
    rows = list(workbook["Changes"].iter_rows(values_only=True))
    assert rows[0] == ("change", "user_id", "username", "full_name", "why", "billable_reason_last_month")
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("newly billable", 102, "'-karim"), ("no longer billable", 90, "gone"), ("no longer billable", 91, "left")]
    assert rows[2][5] == "active"


def test_list_email_without_last_months_list_says_so() -> None:
    billed = make_billed()
    msg = parse(list_email(ENVELOPE, "Meghna Foods Ltd", "MEGHNA", "2023-05", summary_of(billed), billed,
                           _changes(False), terms=make_terms(billed)))
    text, html = bodies(msg)
    assert "There is no list for April 2023 to compare with." in text and "no list for April 2023" in html
    rows = list(openpyxl.load_workbook(io.BytesIO(attachments(msg)["Sokrio_billable_users_MEGHNA_2023-05.xlsx"][1]))[
        "Changes"].iter_rows(values_only=True))
    assert rows[1][0] == "no list for 2023-04 to compare with"


def test_changes_for_another_list_are_refused() -> None:
    billed = make_billed().iloc[:3]
    with pytest.raises(ValueError, match="changes are for 4 users"):
        list_email(ENVELOPE, "M", "MEGHNA", "2023-05", summary_of(billed), billed, _changes(False),
                   terms=make_terms(billed))
