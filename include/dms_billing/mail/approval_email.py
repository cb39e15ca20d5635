"""The emails of finance's approval: the request (sent by Airflow's SMTP notifier when the
approval starts waiting) and the alert naming the clients finance held."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from include.dms_billing.core.approval import NO_PLAN, ApprovalDecision, ApprovalRow, ListsLocation
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.mail.headers import Envelope, new_message
from include.dms_billing.outputs.render import render_template


def approval_request_html(billing_month: str, rows: Sequence[ApprovalRow], *, lists: ListsLocation,
                          link: str | None, timeout_at: str, on_timeout: str) -> str:
    return render_template("approval_request.html.j2", month=month_name(billing_month), rows=rows,
                           lists=lists, link=link, timeout_at=timeout_at, on_timeout=on_timeout, no_plan=NO_PLAN)


def held_email(envelope: Envelope, decision: ApprovalDecision, dag_id: str) -> EmailMessage:
    """For the data team and finance: which clients got no invoice this run, and how to release them."""
    context = {"month": decision.billing_month, "decided_by": decision.decided_by, "run_id": decision.run_id,
               "held": list(decision.held), "dag_id": dag_id}
    subject = f"[billing] {decision.billing_month}: invoices held for {', '.join(decision.held)}"
    return new_message(envelope, DeliveryKind.ALERT, subject, render_template("approval_held.txt.j2", **context),
                       render_template("approval_held.html.j2", **context), None, decision.billing_month)
