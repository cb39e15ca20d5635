"""A client without a plan (README, "Configuration", ``clients.CODE.plan``): its list goes out on
day 1 without a price, and the data team is told at once, days before the invoice needs the plan."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

from include.dms_billing.core.config import BillingConfig, config_path
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.core.work_calendar import invoice_date
from include.dms_billing.mail.envelope import alert_envelope
from include.dms_billing.mail.missing_plan_email import missing_plan_email


def missing_plan_alert_step(
    job: ClientJob, config: BillingConfig, run_id: str, send: Callable[[EmailMessage], None]
) -> EmailMessage | None:
    """Email the data team when the client has no plan (the message sent); None when it has one.

    Outside the delivery ledger, like a failed task's alert: every run that decides the list of
    a client without a plan tells, whether or not it delivers.
    """
    if config.client(job.client_code).plan is not None:
        return None
    addressed = alert_envelope(config)
    day = invoice_date(job.month, config.calendar(job.client_code))
    message = missing_plan_email(addressed, job.client_name, job.client_code, job.billing_month, day,
                                 str(config_path()), run_id)
    send(message)
    return message
