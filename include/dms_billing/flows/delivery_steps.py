"""The delivery half of a client's month: the invoice, the emails, the finance summary.

Plain functions the DAG's tasks call, like ``client_steps``. The ledger (``billing_db``)
decides what was already issued or sent, so each step can be re-run or retried freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import sqlalchemy as sa

from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.history import MonthPoint, client_history, finance_history, invoice_point, list_history
from include.dms_billing.core.invoice import BillTo, Invoice, InvoiceLine, build_invoice, invoice_issuer
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.core.list_terms import list_terms
from include.dms_billing.core.work_calendar import due_date, invoice_date, objection_deadline
from include.dms_billing.ledger.deliveries import FINANCE, DeliveryKey, DeliveryOutcome, deliver_once
from include.dms_billing.ledger.history import client_months, invoiced_totals
from include.dms_billing.ledger.invoices import IssuedInvoice, find_invoice, issue_invoice, month_invoices
from include.dms_billing.ledger.seals import recorded_seal, seal_list, seal_with_invoice
from include.dms_billing.mail.envelope import ARCHIVED, envelope
from include.dms_billing.mail.headers import Envelope
from include.dms_billing.outputs.atomic import write_bytes, write_text
from include.dms_billing.outputs.billable_list import read_local_list, read_summary
from include.dms_billing.outputs.fingerprints import fingerprint, read_marker, verify
from include.dms_billing.outputs.paths import ClientMonthPaths, delivery_receipts, finance_summary_csv
from include.dms_billing.outputs.revisions import Recheck
from include.dms_billing.outputs.storage import read_frame

Sender = Callable[[EmailMessage], None]


def draft_invoice(
    job: ClientJob, by_reason: Mapping[str, int], config: BillingConfig
) -> Callable[[str, list[InvoiceLine]], Invoice]:
    """The invoice for ``job``, given its number: plan, parties and calendar from the config,
    the billable users by reason from the list."""
    month = job.month
    plan = config.plan(job.client_code)
    calendar = config.calendar(job.client_code)
    dated = invoice_date(month, calendar)
    client = config.client(job.client_code)
    bill_to = BillTo(job.client_code, job.client_name, job.correspondence_email,
                     client.address, client.bin or "")

    def build(number: str, adjustments: list[InvoiceLine]) -> Invoice:
        return build_invoice(
            invoice_number=number,
            issuer=invoice_issuer(config.issuer),
            bill_to=bill_to,
            billing_month=job.billing_month,
            invoice_date=dated,
            due_date=due_date(dated, plan.payment_terms_days, calendar),
            currency=plan.currency,
            billable_count=sum(by_reason.values()),
            unit_price=plan.unit_price(month),
            vat_rate=plan.vat_rate,
            adjustments=adjustments,
            by_reason=by_reason,
            timezone=job.timezone,
            objection_deadline=objection_deadline(dated, config.objections.days_after_invoice, calendar),
            payment_terms_days=plan.payment_terms_days,
            vat_basis=plan.vat_basis_text(),
        )

    return build


def _render(invoice: Invoice, earlier: Sequence[MonthPoint] = ()) -> tuple[str, bytes]:
    """The invoice's HTML (with its client's 12 months as a chart and its text alternative:
    ``earlier`` from the ledger, its own month from the invoice) and its PDF."""
    from include.dms_billing.outputs.chart_text import client_chart_alt
    from include.dms_billing.outputs.charts import client_chart_png, data_uri
    from include.dms_billing.outputs.render import render_invoice_html, render_invoice_pdf

    history = client_history(invoice.bill_to.client_code, invoice.billing_month, [*earlier, invoice_point(invoice)])
    html = render_invoice_html(invoice, chart=data_uri(client_chart_png(history)),
                               chart_alt=client_chart_alt(history))
    return html, render_invoice_pdf(html)


def _by_reason(paths: ClientMonthPaths, row_count: int) -> dict[str, int]:
    """Billable users by reason in the list on disk (verified against its seal when sealed)."""
    reasons = read_frame(paths.billable_parquet, ["billable_reason"])["billable_reason"].value_counts()
    by_reason = {str(reason): int(count) for reason, count in reasons.items()}
    if sum(by_reason.values()) != row_count:
        raise ValueError(f"the list of {paths.client_code} {paths.billing_month} has {sum(by_reason.values())} "
                         f"rows, its fingerprint {row_count}")
    return by_reason


def issue_invoice_step(
    ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, run_id: str
) -> IssuedInvoice:
    """Issue (or find) the month's invoice and keep its HTML and PDF beside the list.

    The invoice is built from the sealed list when the list is sealed already (it was sent),
    and issuing it seals the list it was built from, in the same transaction.
    """
    seal = recorded_seal(ledger, paths, run_id)
    built_from = seal.fingerprint if seal else fingerprint(paths)
    if seal:
        verify(paths, built_from)
    earlier = client_months(ledger, job.client_code, job.billing_month, paths.root)  # read before it is issued
    issued = issue_invoice(
        ledger,
        client_code=job.client_code,
        billing_month=job.billing_month,
        prefix=config.issuer.invoice_prefix,
        build=draft_invoice(job, _by_reason(paths, built_from.row_count), config),
        render=lambda invoice: _render(invoice, earlier),
        run_id=run_id,
        on_issue=lambda conn, invoice: seal_with_invoice(conn, paths, built_from, invoice.invoice_number, run_id),
    )
    number = issued.invoice.invoice_number
    write_text(paths.invoice_file(number, ".html"), issued.html)
    write_bytes(paths.invoice_file(number, ".pdf"), issued.pdf)
    return issued


@dataclass(frozen=True)
class Outgoing:
    """An email to deliver: who gets it, and how to build it once its Message-ID is known."""

    recipients: tuple[str, ...]
    build: Callable[[str], EmailMessage]


def _outgoing(
    config: BillingConfig, kind: DeliveryKind, write: Callable[[Envelope], EmailMessage],
    job: ClientJob | None = None,
) -> Outgoing:
    """The email ``write`` builds, addressed as every email of ``kind`` is."""
    return Outgoing(envelope(config, kind, job).recipients,
                    lambda message_id: write(envelope(config, kind, job, message_id)))


def _list_message(ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig) -> Outgoing:
    from include.dms_billing.mail.messages import list_email
    from include.dms_billing.outputs.list_changes import read_changes

    summary = read_summary(paths)
    billed = read_local_list(paths, job.timezone)
    changes = read_changes(paths.changes)
    terms = list_terms(job.client_code, job.billing_month, summary.by_reason, config)
    history = list_history(job.client_code, job.billing_month, client_months(ledger, job.client_code,
                           job.billing_month, paths.root), summary.by_reason, terms.subscriptions_amount, terms.currency)
    return _outgoing(config, DeliveryKind.LIST, lambda addressed: list_email(
        addressed, job.client_name, job.client_code, job.billing_month, summary, billed, changes, terms=terms,
        history=history,
    ), job)


def _invoice_message(issued: IssuedInvoice, job: ClientJob, config: BillingConfig) -> Outgoing:
    from include.dms_billing.mail.messages import invoice_email

    return _outgoing(config, DeliveryKind.INVOICE, lambda addressed: invoice_email(
        addressed, issued.invoice, issued.html, issued.pdf), job)


def _deliver(
    ledger: sa.Engine, key: DeliveryKey, outgoing: Outgoing, config: BillingConfig,
    run_id: str, resend: bool, send: Sender, detail: str | None = None,
) -> DeliveryOutcome:
    return deliver_once(ledger, key, run_id=run_id, resend=resend, recipients=outgoing.recipients,
                        domain=config.delivery.message_id_domain(), build=outgoing.build, send=send, detail=detail,
                        receipts=delivery_receipts())


def send_list_step(
    ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig,
    run_id: str, resend: bool, send: Sender,
) -> DeliveryOutcome:
    seal_list(ledger, paths, run_id)  # the client receives it: sealed now, or checked against its seal
    key = DeliveryKey(job.client_code, job.billing_month, DeliveryKind.LIST)
    return _deliver(ledger, key, _list_message(ledger, job, paths, config), config, run_id, resend, send)


class InvoiceNotIssued(RuntimeError):
    """Sending or keeping an invoice found none in the ledger: ``issue_invoice_step`` runs first."""


def issued_invoice(ledger: sa.Engine, job: ClientJob) -> IssuedInvoice:
    """The month's invoice as the ledger holds it: what is sent is what was issued, never a new one."""
    with ledger.connect() as conn:
        issued = find_invoice(conn, job.client_code, job.billing_month)
    if issued is None:
        raise InvoiceNotIssued(f"no invoice issued for {job.client_code} {job.billing_month}: issue it first")
    return issued


def send_invoice_step(
    ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig,
    run_id: str, resend: bool, send: Sender,
) -> DeliveryOutcome:
    issued = issued_invoice(ledger, job)
    key = DeliveryKey(job.client_code, job.billing_month, DeliveryKind.INVOICE)
    return _deliver(ledger, key, _invoice_message(issued, job, config), config, run_id, resend, send)


def archive_step(
    ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, kind: str, run_id: str
) -> str:
    """Keep the email a delivering run would send, unsent, for review; returns its path.

    Once the month is billed (its list sealed, its invoice issued) the kept email is kept as is.
    """
    kept = paths.archived_email(kind)
    if kind == DeliveryKind.LIST:
        sealed = read_marker(paths)
        if sealed is not None:
            verify(paths, sealed)
            if kept.exists():
                return str(kept)
        message = _list_message(ledger, job, paths, config).build(ARCHIVED)
    else:
        if kept.exists():  # the invoice never changes once issued, nor does its kept email
            return str(kept)
        message = _invoice_message(issued_invoice(ledger, job), job, config).build(ARCHIVED)
    return str(write_bytes(kept, message.as_bytes()))


def revision_alert_step(
    ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig,
    run_id: str, found: Recheck, send: Sender,
) -> DeliveryOutcome | None:
    """Tell the data team and finance that a billed month recomputes differently: once per
    revision (the delivery ledger's ``detail``), whether or not the run delivers client emails."""
    from include.dms_billing.mail.revision_email import revision_email

    if found.revision is None:
        return None
    seal = recorded_seal(ledger, paths, run_id)
    invoice_number = seal.invoice_number if seal else None

    key = DeliveryKey(job.client_code, job.billing_month, DeliveryKind.LIST_REVISION)
    outgoing = _outgoing(config, key.kind, lambda addressed: revision_email(
        addressed, job.client_name, paths, found, invoice_number, run_id))
    return _deliver(ledger, key, outgoing, config, run_id, False, send, detail=found.revision)


def finance_summary_step(
    ledger: sa.Engine, billing_month: str, config: BillingConfig, *,
    deliver: bool, run_id: str, resend: bool, send: Sender,
) -> tuple[str, DeliveryOutcome | None]:
    """Write the month's finance CSV (every invoice issued so far) and, when delivering, send it.

    Sent once per month; a later run that has issued more invoices sends an update.
    """
    from include.dms_billing.mail.messages import finance_email
    from include.dms_billing.outputs.finance_sheet import finance_csv_bytes

    invoices = month_invoices(ledger, billing_month)
    path = write_bytes(finance_summary_csv(billing_month), finance_csv_bytes(invoices))
    if not deliver or not invoices:
        return str(path), None
    numbers = ",".join(invoice.invoice_number for invoice in invoices)
    key = DeliveryKey(FINANCE, billing_month, DeliveryKind.FINANCE_SUMMARY)
    earlier = [total for total in invoiced_totals(ledger, billing_month) if total[0] != billing_month]
    history = finance_history(billing_month, [*earlier, *((i.billing_month, i.currency, i.total) for i in invoices)])
    outgoing = _outgoing(config, key.kind, lambda addressed: finance_email(
        addressed, billing_month, invoices, history))
    return str(path), _deliver(ledger, key, outgoing, config, run_id, resend, send, detail=numbers)
