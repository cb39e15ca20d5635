"""The data team's alert about a client without a plan: it names the missing key, the invoice day
that needs it and what happens without it, in both parts, the client's name kept as text."""

from __future__ import annotations

from datetime import date

from include.dms_billing.core.config import parse_config
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.mail.envelope import envelope
from include.dms_billing.mail.missing_plan_email import missing_plan_email


def test_the_alert_names_the_key_the_invoice_day_and_goes_to_the_data_team() -> None:
    addressed = envelope(parse_config({}), DeliveryKind.ALERT, message_id="<alert.x@sokrio.example>")
    message = missing_plan_email(addressed, "Kolkata <b>Foods</b>", "KOLKATA1", "2023-05", date(2023, 6, 1),
                                 "/etc/billing.yaml", "manual__1")

    assert message["To"] == "data-team@sokrio.example" and message["Cc"] is None
    assert message["X-Sokrio-Billing"] == "alert; client=KOLKATA1; month=2023-05"
    assert "clients.KOLKATA1.plan" in message["Subject"] and "2023-06-01" in message["Subject"]
    text = " ".join(message.get_body(("plain",)).get_content().split())
    html = " ".join(message.get_body(("html",)).get_content().split())
    for body in (text, html):
        assert "clients.KOLKATA1.plan" in body and "1 June 2023" in body and "May 2023" in body
        assert "/etc/billing.yaml" in body and "issue_invoice" in body
    assert "without a price" in text and "Kolkata <b>Foods</b>" in text
    assert "Kolkata &lt;b&gt;Foods&lt;/b&gt;" in html
