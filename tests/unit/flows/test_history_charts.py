"""History at a glance (issue 18) through the real steps: a client billed three months running
(November 2023 to January 2024, across a year end) on a SQLite DMS and ledger; the charts of the
third month's list email, invoice PDF, invoice email and finance summary are decoded and checked
against the ledger, the nine earlier months as no data, said once (issue 23).
"""

from __future__ import annotations

import base64
import email
import email.policy
import io
import re
from datetime import datetime, timezone
from decimal import Decimal
from email.message import EmailMessage

import pypdf
import pytest
import sqlalchemy as sa
from PIL import Image, ImageChops

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.history import AMOUNT_EXPECTED, AMOUNT_INVOICED, window
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.jobs import plan_clients
from include.dms_billing.flows import delivery_steps
from include.dms_billing.ledger.db import ledger_engine, migrate
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.billable_list import read_summary
from include.dms_billing.outputs.charts import HEIGHT, SCALE, WIDTH, chart_data, png_size
from include.dms_billing.source.clients import fetch_clients
from tests.support.faults import write_list
from tests.support.scenarios import Source

MONTHS = ("2023-11", "2023-12", "2024-01")
PIXELS = (WIDTH * SCALE, HEIGHT * SCALE)
MAX_BYTES = 60_000
OLD = datetime(2022, 6, 1, tzinfo=timezone.utc)


def _at(month: str, day: int) -> datetime:
    first = BillingMonth.parse(month).first_day
    return datetime(first.year, first.month, day, 6, tzinfo=timezone.utc)


def _source() -> Source:
    src = Source()
    src.client(1, "HIST", "Asia/Dhaka")
    for _ in range(3):
        src.user(1, "active", OLD, history=[("active", OLD)])
    src.user(1, "inactive", OLD, history=[("inactive", OLD)], logins=[_at("2023-12", 10)])
    src.user(1, "active", _at("2023-12", 15))
    src.user(1, "inactive", OLD, history=[("inactive", OLD)], logins=[_at("2023-11", 3), _at("2024-01", 20)])
    return src


def _received(message: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def _kind(messages: list[EmailMessage], kind: str, month: str) -> EmailMessage:
    [found] = [m for m in messages if m["X-Sokrio-Billing"].startswith(kind) and f"month={month}" in m["X-Sokrio-Billing"]]
    return _received(found)


def _inline_png(message: EmailMessage) -> bytes:
    """The one image beside the HTML body, found as a mail client does: by the cid the HTML shows."""
    [image] = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert image.get_content_disposition() == "inline"
    html = message.get_body(("html",)).get_content()
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html and "data:image" not in html
    assert [p.get_content_type() for p in message.walk()][:5] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html"]
    return image.get_payload(decode=True)


def _checked(png: bytes) -> dict:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png_size(png) == PIXELS and len(png) < MAX_BYTES
    assert Image.open(io.BytesIO(png)).format == "PNG"
    return chart_data(png)


@pytest.fixture(scope="module")
def billed(tmp_path_factory):
    """The three months billed in order, each: list sent, invoice issued and sent, finance summary."""
    folder = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DMS_BILLING_DATA", str(folder / "data"))
        ledger = ledger_engine(f"sqlite:///{folder / 'ledger.sqlite'}")
        migrate(ledger)
        yield _bill(folder, ledger)
        ledger.dispose()


def _bill(folder, ledger_engine) -> dict:
    dms = sa.create_engine(f"sqlite:///{folder / 'dms.sqlite'}")
    _source().load(dms)
    config = parse_config({"clients": {"HIST": {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}}})
    sent: list[EmailMessage] = []
    issued = {}
    for n, month in enumerate(MONTHS):
        [job] = plan_clients(fetch_clients(dms), [], BillingMonth.parse(month), config)
        paths = write_list(dms, job, config)
        run = f"run-{n}"
        delivery_steps.send_list_step(ledger_engine, job, paths, config, run, False, sent.append)
        issued[month] = delivery_steps.issue_invoice_step(ledger_engine, job, paths, config, run)
        delivery_steps.send_invoice_step(ledger_engine, job, paths, config, run, False, sent.append)
        delivery_steps.finance_summary_step(ledger_engine, month, config, deliver=True, run_id=run, resend=False,
                                            send=sent.append)
    dms.dispose()
    invoices = {month: month_invoices(ledger_engine, month) for month in MONTHS}
    return {"sent": sent, "issued": issued, "invoices": {m: i for m, [i] in invoices.items()}, "paths": paths}


def _no_data_before(data: dict, months: int) -> None:
    assert [m["billing_month"] for m in data["months"]] == list(window(MONTHS[-1], len(data["months"])))
    for month in data["months"][:months]:
        assert (month["by_reason"], month["billable"], month["amount"]) == (None, None, None), month


def _as_invoiced(point: dict, invoice) -> None:
    assert point["by_reason"] == invoice.by_reason and point["billable"] == invoice.billable_count
    assert (point["amount"], point["currency"], point["amount_kind"]) == (str(invoice.total), "BDT", AMOUNT_INVOICED)


def test_the_list_emails_chart_is_the_ledgers_months_and_the_list_not_yet_invoiced(billed) -> None:
    invoices = billed["invoices"]
    assert [invoices[m].by_reason for m in MONTHS] == [{"active": 3, "inactive_recent_login": 1},
                                                       {"active": 4, "inactive_recent_login": 1},
                                                       {"active": 4, "inactive_recent_login": 1}]
    listed = _kind(billed["sent"], "list", MONTHS[-1])
    assert sorted(p.get_content_type() for p in listed.iter_attachments()) == [  # the chart is no attachment
        "application/pdf", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv"]
    data = _checked(_inline_png(listed))
    assert (data["client_code"], data["billing_month"], data["currency"]) == ("HIST", "2024-01", "BDT")
    _no_data_before(data, 9)
    _as_invoiced(data["months"][9], invoices["2023-11"])
    _as_invoiced(data["months"][10], invoices["2023-12"])
    january = data["months"][11]  # sent before its invoice: the list's counts, the terms' amount before VAT
    assert january["by_reason"] == read_summary(billed["paths"]).by_reason == invoices["2024-01"].by_reason
    assert (january["amount"], january["amount_kind"]) == (str(invoices["2024-01"].subscriptions_amount),
                                                           AMOUNT_EXPECTED)
    assert invoices["2024-01"].subscriptions_amount == Decimal("750.00")
    text = listed.get_body(("plain",)).get_content()
    assert text.count("no data") == 1 and "February 2023 to October 2023: no data" in text
    assert f"November 2023   4 users (active 3; inactive but logged in 1); {invoices['2023-11'].total:,} BDT" in text
    assert "750.00 BDT (not invoiced yet, before VAT)" in text
    html = listed.get_body(("html",)).get_content()
    assert re.search(r'alt="Billable users and amount per month: November 2023: 4 users [^"]*; January 2024: '
                     r'5 users [^"]*750\.00 BDT \(not invoiced yet, before VAT\); '
                     r'no data for the 9 months before November 2023"', html)


def test_the_invoice_pdf_and_email_show_the_same_chart_with_the_invoice_total(billed) -> None:
    issued, invoices = billed["issued"]["2024-01"], billed["invoices"]
    data_uri = re.search(r'src="(data:image/png;base64,[^"]+)"', issued.html).group(1)
    message = _kind(billed["sent"], "invoice", "2024-01")
    png = _inline_png(message)
    assert data_uri == "data:image/png;base64," + base64.b64encode(png).decode()
    data = _checked(png)
    _no_data_before(data, 9)
    for index, month in enumerate(MONTHS, start=9):
        _as_invoiced(data["months"][index], invoices[month])
    [alt] = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', issued.html)
    assert [m for m in window("2024-01") if month_name(m) in alt] == list(MONTHS)  # the months with data
    assert f"January 2024: 5 users (active 4; inactive but logged in 1), {invoices['2024-01'].total:,} BDT" in alt
    assert alt.count("no data") == 1 and alt.endswith("no data for the 9 months before November 2023")
    assert [p.get_content_type() for p in message.iter_attachments()] == ["application/pdf"]

    reader = pypdf.PdfReader(io.BytesIO(issued.pdf))
    assert len(reader.pages) == 1
    [embedded] = reader.pages[0].images
    picture = embedded.image
    assert picture.size == PIXELS  # the same picture, re-encoded by the PDF
    assert ImageChops.difference(picture.convert("RGB"), Image.open(io.BytesIO(png)).convert("RGB")).getbbox() is None


def test_the_finance_summary_shows_the_months_total_against_the_twelve_before(billed) -> None:
    invoices = billed["invoices"]
    message = _kind(billed["sent"], "finance", "2024-01")
    assert [p.get_filename() for p in message.iter_attachments()] == [
        "finance_summary_2024-01.csv", "finance_summary_2024-01.xlsx"]
    data = _checked(_inline_png(message))
    assert data["months"] == list(window("2024-01", 13)) and data["invoice_counts"] == [0] * 10 + [1, 1, 1]
    assert data["totals"] == {"BDT": [None] * 10 + [str(invoices[m].total) for m in MONTHS]}
    text = message.get_body(("plain",)).get_content()
    assert text.count("no data") == 1 and "January 2023 to October 2023: no data" in text
    assert f"January 2024    1 invoice: {invoices['2024-01'].total:,} BDT" in text

