"""The emails people receive (contract section 6), built as ``EmailMessage`` objects; sending
them is the delivery step's job. The headers and parts they share are in ``headers``.

Every message has a plain-text body and an HTML alternative, and, when something is attached,
the alternative sits inside multipart/mixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

import pandas as pd

from include.dms_billing.core.billing_month import TRANSITION_LOGINS_FROM, TRANSITION_MONTH, BillingMonth
from include.dms_billing.core.columns import ATTACHMENT_COLUMNS, REASON_ACTIVE, REASON_RECENT_LOGIN
from include.dms_billing.core.history import ClientHistory, FinanceHistory
from include.dms_billing.core.invoice import Invoice, month_name
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.core.list_terms import ListTerms
from include.dms_billing.core.money import format_money
from include.dms_billing.mail.charts import client_chart, finance_chart, inline_data_images, with_chart
from include.dms_billing.mail.faq import faq_pdf
from include.dms_billing.mail.headers import XLSX_TYPE, Envelope, attach, attachment_name, inline_image, new_message
from include.dms_billing.outputs.billable_list import ListSummary, to_csv_bytes
from include.dms_billing.outputs.finance_sheet import currency_totals, finance_csv_bytes, finance_xlsx_bytes
from include.dms_billing.outputs.list_changes import ListChanges
from include.dms_billing.outputs.render import invoice_context, long_date, render_template, zone_name
from include.dms_billing.outputs.spreadsheets import list_xlsx_bytes


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _list_timezone(billed: pd.DataFrame) -> str | None:
    """The zone the list's times are in, to name it in the email; None if the column is not aware."""
    dtype = billed["last_login_at"].dtype
    return str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else None


def column_meanings(timezone: str | None, logins_from: str | None) -> list[tuple[str, str]]:
    """What each list column means, in the list's column order, for the list email."""
    local = zone_name(timezone) if timezone else "your local time"
    window = f"from {logins_from} to the end of the month" if logins_from else "during the month"
    meanings = {
        "user_id": "the user's id in Sokrio DMS",
        "username": "the user's login name",
        "full_name": "the user's name as entered in Sokrio DMS",
        "role": "the user's role in Sokrio DMS",
        "status_at_month_end": "active or inactive at the end of the month (deleted users count as inactive)",
        "billable_reason": f"{REASON_ACTIVE} or {REASON_RECENT_LOGIN}, as explained above",
        "last_login_at": f"the latest login up to the end of the month, in {local}, written as ISO 8601 "
        "with the offset from UTC (e.g. 2023-05-31T17:45:00+06:00); empty if the user never logged in",
        "logins_in_month": f"how many times the user logged in {window}",
        "status_source": "where the status at month end comes from: history (the latest status change before "
        "the end of the month), deleted (the user was deleted before the end of the month) or current "
        "(no status change recorded: the user's current status)",
        "status_set_at": f"when that status was set, in {local}: the status change or the deletion; empty "
        "when the status is the current one (no status change recorded)",
        "change_since_last_month": "new (not on last month's list) or unchanged (on it too); empty when "
        "there is no list for last month to compare with",
    }
    return [(column, meanings[column]) for column in ATTACHMENT_COLUMNS]


def _check_list(summary: ListSummary, client_code: str, billing_month: str, billed: pd.DataFrame) -> None:
    """The counts in the body and the attached rows must be the same list."""
    if (summary.client_code, summary.billing_month) != (client_code, billing_month):
        raise ValueError(
            f"summary is for {summary.client_code} {summary.billing_month}, not {client_code} {billing_month}"
        )
    if not summary.billable == len(billed) == sum(summary.by_reason.values()):
        raise ValueError(
            f"summary counts {summary.billable} billable ({summary.by_reason}) "
            f"but the list has {len(billed)} rows"
        )


CHANGES_SHOWN = 25  # users listed per kind of change in the body; all of them are in the XLSX


def list_email(
    envelope: Envelope,
    client_name: str,
    client_code: str,
    billing_month: str,
    summary: ListSummary,
    billed: pd.DataFrame,
    changes: ListChanges | None = None,
    *,
    terms: ListTerms,
    history: ClientHistory | None = None,
) -> EmailMessage:
    """Day 1: the month's billable users, counts by reason, what changed since last month, how
    to read the list, the invoice that follows and how to object (``terms``); the list attached
    as CSV and XLSX, and the billing FAQ as PDF (``faq``). With ``history``, its 12 months as a
    chart inline in the HTML (beside it in multipart/related, not attached) and as text lines in
    the plain body."""
    _check_list(summary, client_code, billing_month, billed)
    if (terms.client_code, terms.billing_month, terms.billable) != (client_code, billing_month, len(billed)):
        raise ValueError(f"the terms are for {terms.billable} users of {terms.client_code} {terms.billing_month}, "
                         f"not the {len(billed)} of {client_code} {billing_month}")
    if changes is not None and (changes.billing_month, changes.current_count) != (billing_month, len(billed)):
        raise ValueError(f"the changes are for {changes.current_count} users of {changes.billing_month}, "
                         f"not the {len(billed)} of {billing_month}")
    if history is not None and (history.client_code, history.billing_month) != (client_code, billing_month):
        raise ValueError(f"the history is of {history.client_code} {history.billing_month}, "
                         f"not {client_code} {billing_month}")
    month = BillingMonth.parse(billing_month)
    logins_from = long_date(TRANSITION_LOGINS_FROM) if month == TRANSITION_MONTH else None
    csv_name, xlsx_name = (attachment_name("billable_users", client_code, billing_month, s) for s in (".csv", ".xlsx"))
    faq_name = attachment_name("billing_FAQ", client_code, billing_month, ".pdf")
    history_lines, chart = client_chart(envelope, history)
    context = {
        "client_name": client_name,
        "client_code": client_code,
        "month": month_name(billing_month),
        "next_month": month_name(str(month.next())),
        "active": summary.by_reason.get(REASON_ACTIVE, 0),
        "recent_login": summary.by_reason.get(REASON_RECENT_LOGIN, 0),
        "total": summary.billable,
        "logins_from": logins_from,
        "columns": column_meanings(_list_timezone(billed), logins_from),
        "csv_name": csv_name,
        "xlsx_name": xlsx_name,
        "changes": changes,
        "previous_month": month_name(str(month.previous())),
        "changes_shown": CHANGES_SHOWN,
        "terms": terms,
        "faq_name": faq_name,
        "history_lines": history_lines,
        "chart": chart,
    }
    subject = (
        f"Sokrio DMS billable users, {context['month']}: {client_name} ({client_code}), "
        f"{_count(summary.billable, 'user')}"
    )
    msg = new_message(
        envelope,
        DeliveryKind.LIST,
        subject,
        render_template("list_email.txt.j2", **context),
        render_template("list_email.html.j2", **context),
        client_code,
        billing_month,
    )
    with_chart(msg, chart)
    attach(msg, to_csv_bytes(billed), ("text", "csv"), csv_name, charset="utf-8")
    workbook = list_xlsx_bytes(billed, f"{client_code} {billing_month}", changes, terms=terms, client_name=client_name)
    attach(msg, workbook, XLSX_TYPE, xlsx_name)
    faq = faq_pdf(terms, client_name, _list_timezone(billed), logins_from, context["columns"])
    attach(msg, faq, ("application", "pdf"), faq_name)
    return msg


def invoice_email(envelope: Envelope, invoice: Invoice, invoice_html: str, pdf: bytes) -> EmailMessage:
    """First working day: a short text summary, the invoice itself as the HTML body (its chart
    inline beside it), the PDF."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError(f"invoice {invoice.invoice_number}: the attachment is not a PDF")
    client, month = invoice.bill_to, invoice.billing_month
    subject = (
        f"Sokrio DMS invoice {invoice.invoice_number}, {month_name(month)}: "
        f"{client.client_name}, {format_money(invoice.total, invoice.currency)}"
    )
    text = render_template("invoice_email.txt.j2", **invoice_context(invoice))
    html, images = inline_data_images(envelope, invoice_html)
    msg = new_message(envelope, DeliveryKind.INVOICE, subject, text, html, client.client_code, month)
    for png, cid in dict(images).items():  # one part per picture, shown as often as the HTML shows it
        inline_image(msg, png, cid)
    attach(msg, pdf, ("application", "pdf"), attachment_name(f"invoice_{invoice.invoice_number}", client.client_code,
                                                            month, ".pdf"))
    return msg


def finance_email(
    envelope: Envelope, billing_month: str, invoices: Sequence[Invoice], history: FinanceHistory | None = None,
) -> EmailMessage:
    """After the month's invoices: a table of them for finance with a totals row per currency,
    the same rows attached as CSV (the contract's columns) and as XLSX; with ``history``, the
    month's total per currency against the 12 before, as a chart and as text."""
    strays = [i.invoice_number for i in invoices if i.billing_month != billing_month]
    if strays:
        raise ValueError(f"invoices not for {billing_month} in its finance summary: {strays}")
    if history is not None and history.billing_month != billing_month:
        raise ValueError(f"the history ends at {history.billing_month}, not {billing_month}")
    by_currency = currency_totals(invoices)
    totals = [format_money(total.sums["total"], total.currency) for total in by_currency]
    history_lines, chart = finance_chart(envelope, history)
    context = {
        "month": month_name(billing_month),
        "invoices": list(invoices),
        "currency_totals": by_currency,
        "totals": totals,
        "csv_name": f"finance_summary_{billing_month}.csv",
        "xlsx_name": f"finance_summary_{billing_month}.xlsx",
        "history_lines": history_lines,
        "chart": chart,
    }
    subject = (
        f"Sokrio DMS finance summary, {context['month']}: {_count(len(invoices), 'invoice')}, "
        f"{'; '.join(totals) or 'nothing invoiced'}"
    )
    msg = new_message(
        envelope,
        DeliveryKind.FINANCE_SUMMARY,
        subject,
        render_template("finance_email.txt.j2", **context),
        render_template("finance_email.html.j2", **context),
        billing_month=billing_month,
    )
    with_chart(msg, chart)
    attach(msg, finance_csv_bytes(invoices), ("text", "csv"), context["csv_name"], charset="utf-8")
    attach(msg, finance_xlsx_bytes(billing_month, invoices), XLSX_TYPE, context["xlsx_name"])
    return msg


def alert_email(
    envelope: Envelope,
    dag_id: str,
    task_id: str,
    run_id: str,
    client_code: str | None,
    billing_month: str | None,
    error: str,
    report_path: str | None,
    log_url: str | None,
) -> EmailMessage:
    """For the data team: what failed, the error, where the validation report is.

    ``billing_month`` is shown as given, never parsed: a bad month param is itself worth an alert.
    """
    context = {
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "client_code": client_code,
        "billing_month": billing_month,
        "error": error,
        "report_path": report_path,
        "log_url": log_url,
    }
    subject = " ".join(
        part for part in (f"[billing alert] {dag_id} failed: {task_id}", client_code, billing_month) if part
    )
    return new_message(
        envelope,
        DeliveryKind.ALERT,
        subject,
        render_template("alert_email.txt.j2", **context),
        render_template("alert_email.html.j2", **context),
        client_code,
        billing_month,
    )
