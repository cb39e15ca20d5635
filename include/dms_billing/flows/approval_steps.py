"""Finance's approval of a run's invoices: what the request shows, when it times out, what it decided.

The Airflow operator (``airflow/approval.py``) asks and waits; the steps here read the lists and
the ledger, record the decision and tell people about held clients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import sqlalchemy as sa

from include.dms_billing.core.approval import ApprovalDecision, ApprovalRow
from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.flows.moments import invoice_day
from include.dms_billing.ledger.approvals import record_decision, run_decision
from include.dms_billing.outputs.billable_list import read_summary
from include.dms_billing.outputs.list_changes import read_changes
from include.dms_billing.outputs.paths import client_month_paths

# Never shorter, whatever ``approval.min_wait_minutes`` says: Airflow reads a zero timeout as none
# at all, and a timeout that resumes the task before the scheduler has seen its parked process
# end makes the scheduler fail it as "killed externally" (Airflow 3.3); its retry asks finance again.
SHORTEST_WAIT = timedelta(seconds=20)


def approval_rows(ledger: sa.Engine, jobs: Sequence[ClientJob], config: BillingConfig) -> list[ApprovalRow]:
    """Per client: the decided list's counts, the change against last month, the invoice it would get."""
    from include.dms_billing.flows.delivery_steps import draft_invoice
    from include.dms_billing.ledger.invoices import find_invoice, pending_lines

    rows = []
    for job in jobs:
        paths = client_month_paths(job.billing_month, job.client_code)
        if not paths.summary.exists():
            rows.append(ApprovalRow(job.client_code, job.client_name, None))
            continue
        summary = read_summary(paths)
        changes = read_changes(paths.changes)
        headline = changes.headline() if changes else ""
        if config.client(job.client_code).plan is None:  # no invoice to draft: its issue_invoice will fail
            rows.append(ApprovalRow(job.client_code, job.client_name, summary.billable, summary.by_reason, headline))
            continue
        with ledger.connect() as conn:
            issued = find_invoice(conn, job.client_code, job.billing_month)
        invoice = issued.invoice if issued else draft_invoice(job, summary.by_reason, config)(
            "draft", pending_lines(ledger, job.client_code, job.billing_month))
        rows.append(ApprovalRow(
            job.client_code, job.client_name, summary.billable, summary.by_reason, headline, invoice.total,
            invoice.currency, invoice.invoice_number if issued else None,
        ))
    return rows


def response_timeout(jobs: Sequence[ClientJob], config: BillingConfig, now: datetime | None = None) -> timedelta:
    """Until the first client's invoice moment, and never less than ``approval.min_wait_minutes``
    (a run started late, or re-run to release held clients, still gives finance time to answer)."""
    now = now or datetime.now(timezone.utc)
    first = min(datetime.fromisoformat(invoice_day(job, config)) for job in jobs)
    return max(first - now, timedelta(minutes=config.approval.min_wait_minutes), SHORTEST_WAIT)


def record_step(ledger: sa.Engine, decision: ApprovalDecision) -> ApprovalDecision:
    record_decision(ledger, decision)
    return decision


def held_by(ledger: sa.Engine, job: ClientJob, run_id: str) -> ApprovalDecision | None:
    """The run's decision when it holds this client's invoice; None when the invoice may be issued.

    A run that reached no decision (its approval failed) has no upstream success either, so
    its invoice tasks never start; no decision here means the run predates approvals.
    """
    decision = run_decision(ledger, run_id)
    return decision if decision is not None and job.client_code in decision.held else None


def held_alert_step(decision: ApprovalDecision, config: BillingConfig, dag_id: str,
                    send: Callable[[EmailMessage], None]) -> None:
    """Tell the data team and finance which clients got no invoice, and how to release them."""
    from dataclasses import replace

    from include.dms_billing.mail.approval_email import held_email
    from include.dms_billing.mail.envelope import alert_envelope

    if not decision.held:
        return
    addressed = alert_envelope(config)
    send(held_email(replace(addressed, cc=tuple(config.delivery.finance)), decision, dag_id))
