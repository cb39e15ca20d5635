"""The billing FAQ the policy promised, attached to every list email as a one-page PDF.

Written from the contract and the policy, rendered per client and month with the real dates:
this month's list and invoice dates, the objection deadline and reference (``ListTerms``), the
preview's days before month end, the calendar's days off, and the list's column meanings (the
list email's own, passed in, so the two never disagree).
"""

from __future__ import annotations

from datetime import date, timedelta

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.list_terms import ListTerms
from include.dms_billing.outputs.render import list_date, render_pdf, render_template



def _last_day(month: BillingMonth) -> date:
    return month.next().first_day - timedelta(days=1)


def faq_html(
    terms: ListTerms, client_name: str, timezone: str | None, logins_from: str | None,
    columns: list[tuple[str, str]],
) -> str:
    """The FAQ for ``terms``' client and month; ``columns`` as the list email explains them."""
    month = BillingMonth.parse(terms.billing_month)
    running = month.next()  # the month under way when the list arrives: what the client can still change
    preview_from = None
    if terms.preview_days_before:
        preview_from = running.next().first_day - timedelta(days=terms.preview_days_before)
    return render_template(
        "faq.html.j2",
        terms=terms,
        client_name=client_name,
        month=month_name(terms.billing_month),
        month_last_day=_last_day(month),
        next_month=month_name(str(running)),
        next_month_last_day=_last_day(running),
        list_date=list_date(terms.billing_month),
        preview_from=preview_from,
        timezone=timezone,
        logins_from=logins_from,
        columns=columns,
    )


def faq_pdf(
    terms: ListTerms, client_name: str, timezone: str | None, logins_from: str | None,
    columns: list[tuple[str, str]],
) -> bytes:
    return render_pdf(faq_html(terms, client_name, timezone, logins_from, columns))
