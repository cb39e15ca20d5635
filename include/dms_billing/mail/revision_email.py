"""The email that tells the data team and finance a billed month's list was recomputed
differently (contract section 8): the counts, the users, where the revision is kept, and that
no invoice changed. Sent once per revision through the delivery ledger (``delivery_steps``)."""

from __future__ import annotations

from email.message import EmailMessage

from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.mail.headers import Envelope, new_message
from include.dms_billing.mail.messages import CHANGES_SHOWN
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.outputs.render import render_template
from include.dms_billing.outputs.revisions import Recheck


def revision_email(
    envelope: Envelope, client_name: str, paths: ClientMonthPaths, found: Recheck, invoice_number: str | None,
    run_id: str,
) -> EmailMessage:
    """Internal: what a later run found, for people who decide whether it becomes an objection."""
    if found.revision is None:
        raise ValueError(f"{found.client_code} {found.billing_month}: no revision to tell anyone about")
    counts = found.difference.counts()
    diff = found.difference
    context = {
        "client_name": client_name, "client_code": found.client_code, "month": month_name(found.billing_month),
        "run_id": run_id, "recheck": found, "counts": counts, "invoice_number": invoice_number,
        "sealed_csv": paths.billable_csv, "revision_dir": paths.revision_dir(found.revision),
        "sections": [("Added", diff.added), ("Removed", diff.removed), ("Reason changed", diff.reason_changed)],
        "shown": CHANGES_SHOWN,
    }
    subject = (f"[billing] {found.client_code} {found.billing_month}: recomputed list differs from the billed one "
               f"({counts['added']} added, {counts['removed']} removed, {counts['reason_changed']} reason changed); "
               "invoice unchanged")
    return new_message(envelope, DeliveryKind.LIST_REVISION, subject,
                       render_template("revision_email.txt.j2", **context),
                       render_template("revision_email.html.j2", **context), found.client_code, found.billing_month)
