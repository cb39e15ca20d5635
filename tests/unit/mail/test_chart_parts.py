"""The history chart in emails: a cid: image beside the HTML, never an attachment, the same bytes
each time; a history of another month is refused; its text alternative and the plain body name the
months with data and say "no data" once per run (issue 23), the invoice's image as well."""

from __future__ import annotations

import html as markup
import re
from decimal import Decimal

import pytest

from include.dms_billing.core.history import AMOUNT_INVOICED, MonthPoint, client_history, list_history
from include.dms_billing.mail.messages import invoice_email, list_email
from include.dms_billing.core.history import window
from include.dms_billing.core.invoice import month_name
from include.dms_billing.outputs.chart_text import client_chart_alt
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
    assert sorted(kind for kind, _ in attachments(msg).values()) == [  # the list's files (named elsewhere)
        "application/pdf", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv"]
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
    history = client_history("MEGHNA", "2023-05", [])
    png = client_chart_png(history)
    html = render_invoice_html(invoice, chart=data_uri(png), chart_alt=client_chart_alt(history))
    msg = parse(invoice_email(ENVELOPE, invoice, html, b"%PDF-1.7"))
    [image] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    body = msg.get_body(("html",)).get_content()
    assert image.get_payload(decode=True) == png and f'cid:{image["Content-ID"].strip("<>")}' in body
    assert "data:image" not in body and [kind for kind, _ in attachments(msg).values()] == ["application/pdf"]
    plain = parse(invoice_email(ENVELOPE, invoice, render_invoice_html(invoice), b"%PDF-1.7"))
    assert "image/png" not in structure(plain)
    with pytest.raises(ValueError, match="data: URI"):
        render_invoice_html(invoice, chart="http://evil.example/x.png", chart_alt="A chart")
    with pytest.raises(ValueError, match="text alternative"):
        render_invoice_html(invoice, chart=data_uri(png))


def _alts(html: str) -> list[str]:
    return [markup.unescape(alt) for alt in re.findall(r'<img [^>]*alt="([^"]*)"', html)]


FIRST_MONTH = list_history("MEGHNA", "2023-05", [], {"active": 4}, Decimal("600.00"), "BDT")  # its first bill


def test_a_first_months_list_email_names_that_month_once_briefly() -> None:
    msg = parse(_list(FIRST_MONTH))
    [alt] = _alts(msg.get_body(("html",)).get_content())
    assert len(alt) < 200 and alt.count("no data") == 1
    assert [m for m in window("2023-05") if month_name(m) in alt] == ["2023-05"] and "600.00 BDT" in alt
    text = msg.get_body(("plain",)).get_content()
    assert text.count("no data") == 1 and "June 2022 to April 2023: no data" in text


def test_the_invoice_image_says_what_the_chart_shows() -> None:
    invoice = make_invoice()
    history = client_history("MEGHNA", "2023-05", [MonthPoint("2023-05", {"active": 3}, Decimal("517.50"), "BDT",
                                                              AMOUNT_INVOICED)])
    [alt] = _alts(render_invoice_html(invoice, chart=data_uri(client_chart_png(history)),
                                      chart_alt=client_chart_alt(history)))
    assert alt == client_chart_alt(history) and len(alt) < 200
    assert [m for m in window("2023-05") if month_name(m) in alt] == ["2023-05"] and "517.50 BDT" in alt
