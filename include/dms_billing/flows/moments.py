"""The moments of a client's month the waits wait for: its month close and its invoice day.

A wait whose moment has passed should cost next to nothing, so this module imports only the
core at the top, never pandas or the list and delivery steps; what a moment needs beyond that
(the mail header checks, the working-day calendar) is imported where it is used.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING

from include.dms_billing.core.billing_month import zone
from include.dms_billing.core.jobs import CLIENT_CODE_RE, ClientJob

if TYPE_CHECKING:
    from include.dms_billing.core.batches import BatchKey
    from include.dms_billing.core.config import BillingConfig


class ClientDataError(ValueError):
    """This client's data or settings cannot be billed; other clients are unaffected."""


def month_closes_at(job: ClientJob) -> str:
    """When the client's month ends (ISO, UTC); checks the client's code, timezone and the
    fields its emails carry first, so a client that would be refused later fails here."""
    if not CLIENT_CODE_RE.fullmatch(job.client_code):
        raise ClientDataError(f"client code {job.client_code!r} is not a plain code; refusing to bill it")
    try:
        zone(job.timezone)
    except ValueError as exc:
        raise ClientDataError(f"client {job.client_code}: {exc}") from None
    check_mail_fields(job)
    return job.window().end.isoformat()


def check_mail_fields(job: ClientJob) -> None:
    """What the client's emails take from the DMS must be usable as it is: the name (in the
    subject) without a line break, the correspondence address (required) and the account
    manager's (optional) each one plain email address. Checked before any work, so a client
    whose list email would be refused never reaches its invoice."""
    from include.dms_billing.mail.headers import address_header, header_value

    addresses = {"correspondence_email": job.correspondence_email, "account_manager_email": job.account_manager_email}
    try:
        header_value("client name", job.client_name)
        for field, address in addresses.items():
            if address is None and field == "account_manager_email":
                continue
            if not (address or "").strip():
                raise ValueError(f"{field} is missing")
            address_header(field, [address])
    except ValueError as exc:
        raise ClientDataError(f"client {job.client_code}: {exc}") from None


def invoice_day(job: ClientJob, config: BillingConfig) -> str:
    """When the invoice may go (ISO, UTC): 00:00 local on the first working day after the month."""
    from include.dms_billing.core.work_calendar import invoice_date

    day = invoice_date(job.month, config.calendar(job.client_code))
    return datetime.combine(day, time(0), tzinfo=zone(job.timezone)).isoformat()


def batch_key(job: ClientJob, config: BillingConfig) -> BatchKey:
    """What the client's batch must share with it (``core/batches.py``): its month close, its
    window's start and its invoice day; nothing for a client these checks refuse (it is batched
    alone, and its wait fails naming why)."""
    from include.dms_billing.core.batches import BatchKey

    try:
        closes = month_closes_at(job)
        return BatchKey(closes, invoice_day(job, config), job.window().login_start.isoformat())
    except ValueError:
        return BatchKey(None, None)
