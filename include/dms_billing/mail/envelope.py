"""Who each kind of email is from and to: one rule, so the list, the invoice, the preview and
the internal emails cannot drift apart."""

from __future__ import annotations

import uuid

from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.mail.headers import Envelope

ARCHIVED = "<archived@local>"  # the Message-ID of an email kept unsent, for review


def envelope(
    config: BillingConfig, kind: DeliveryKind, job: ClientJob | None = None, message_id: str = ARCHIVED
) -> Envelope:
    """From and Reply-To from the configuration; a client's email (``job``) goes to its
    correspondence address, CC its account manager and its configured CCs, and an invoice also
    CC finance; the internal emails go to their team."""
    d = config.delivery
    if kind.to_client:
        if job is None:
            raise ValueError(f"a {kind.tag} email is for a client: its job is needed")
        manager = (job.account_manager_email,) if job.account_manager_email else ()
        finance = d.finance if kind is DeliveryKind.INVOICE else ()
        to, cc = (job.correspondence_email,), (*manager, *config.client_cc(job.client_code), *finance)
    elif kind is DeliveryKind.FINANCE_SUMMARY:
        to, cc = tuple(d.finance), ()
    elif kind is DeliveryKind.LIST_REVISION:
        to, cc = tuple(dict.fromkeys((*d.data_team, *d.finance))), ()
    else:  # the alert
        to, cc = tuple(d.data_team), ()
    return Envelope(sender=d.sender, reply_to=d.reply_to, to=to, cc=cc, message_id=message_id)


def alert_envelope(config: BillingConfig) -> Envelope:
    """An alert's envelope: alerts are outside the delivery ledger, each with a Message-ID of its own."""
    kind = DeliveryKind.ALERT
    domain = config.delivery.message_id_domain()
    return envelope(config, kind, message_id=f"<{kind}.{uuid.uuid4().hex}@{domain}>")
