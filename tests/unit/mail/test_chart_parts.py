"""The history chart in emails: a cid: image beside the HTML, never an attachment, the same bytes
each time; a history of another month is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dms_billing.core.history import AMOUNT_INVOICED, MonthPoint, client_history, list_history
from include.dms_billing.mail.messages import invoice_email, list_email
from include.dms_billing.outputs.charts import chart_data, client_chart_png, data_uri
from include.dms_billing.outputs.render import render_invoice_html
from tests.support.samples import make_billed, make_invoice, make_terms
from tests.unit.mail.test_messages import ENVELOPE, attachments, parse, structure, summary_of

HISTORY = list_history("MEGHNA", "2023-05", [MonthPoint("2023-04", {"active": 2}, Decimal("345.00"), "BDT",
                                                         AMOUNT_INVOICED)], {"active": 4}, Decimal("600.00"), "BDT")


def _list(history=HISTORY):
    billed = make_billed()
    return list_email(ENVELOPE, "Meghna Foods Ltd", "MEGHNA", "2023-05", summary_of(billed), billed,
                      terms=make_terms(billed), history=history)


def test_the_list_chart_is_inline_and_the_attachments_stay_the_list() -> None:
    msg = parse(_list())
    assert structure(msg)[:6] == ["multipart/mixed", "multipart/alternative", "text/plain", "multipart/related",
                                  "text/html", "image/png"]
    assert sorted(attachments(msg)) == ["Sokrio-DMS-billing-FAQ.pdf", "billable_users_MEGHNA_2023-05.csv",
                                        "billable_users_MEGHNA_2023-05.xlsx"]
    [image] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    data = chart_data(image.get_payload(decode=True))
    assert data["months"][-2]["amount"] == "345.00" and data["months"][-1]["amount_kind"] == "subscriptions_before_vat"
    again = [p for p in parse(_list()).walk() if p.get_content_type() == "image/png"][0]
    assert again.get_payload(decode=True) == image.get_payload(decode=True) and again["Content-ID"] == image["Content-ID"]


def test_a_history_of_another_month_is_refused() -> None:
    with pytest.raises(ValueError, match="history is of MEGHNA 2023-04"):
        _list(client_history("MEGHNA", "2023-04", []))


def test_the_invoice_emails_chart_is_a_cid_part_and_the_html_keeps_no_data_uri() -> None:
    invoice = make_invoice()
    png = client_chart_png(client_history("MEGHNA", "2023-05", []))
    html = render_invoice_html(invoice, chart=data_uri(png))
    msg = parse(invoice_email(ENVELOPE, invoice, html, b"%PDF-1.7"))
    [image] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    body = msg.get_body(("html",)).get_content()
    assert image.get_payload(decode=True) == png and f'cid:{image["Content-ID"].strip("<>")}' in body
    assert "data:image" not in body and list(attachments(msg)) == ["invoice_SKR-000001.pdf"]
    plain = parse(invoice_email(ENVELOPE, invoice, render_invoice_html(invoice), b"%PDF-1.7"))
    assert "image/png" not in structure(plain)
    with pytest.raises(ValueError, match="data: URI"):
        render_invoice_html(invoice, chart="http://evil.example/x.png")
