"""The data team's alert that a client has no plan: its list goes out without a price, and its
invoice cannot be issued until ``clients.CODE.plan`` is configured (README, "Configuration")."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.mail.headers import Envelope, new_message
from include.dms_billing.outputs.render import render_template


def plan_key(client_code: str) -> str:
    """The configuration key a client's plan lives at."""
    return f"clients.{client_code}.plan"


def missing_plan_email(
    envelope: Envelope, client_name: str, client_code: str, billing_month: str, invoice_date: date,
    config_path: str, run_id: str,
) -> EmailMessage:
    """Sent when the list is decided, days before the invoice: time to add the plan."""
    context = {
        "client_name": client_name, "client_code": client_code, "month": month_name(billing_month),
        "key": plan_key(client_code), "invoice_date": invoice_date, "config_path": config_path, "run_id": run_id,
    }
    subject = (f"[billing alert] {client_code} {billing_month}: no plan ({plan_key(client_code)}); "
               f"its invoice of {invoice_date.isoformat()} cannot be issued without one")
    return new_message(envelope, DeliveryKind.ALERT, subject,
                       render_template("missing_plan_email.txt.j2", **context),
                       render_template("missing_plan_email.html.j2", **context), client_code, billing_month)
