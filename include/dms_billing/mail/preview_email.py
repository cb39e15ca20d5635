"""The preview email: the client's administrator sees who would be billed if the month closed
now, who is active without a login (the candidates to deactivate) and the exact local deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

import pandas as pd

from include.dms_billing.core.billing_month import BillingWindow, zone
from include.dms_billing.core.columns import REASON_ACTIVE, REASON_RECENT_LOGIN
from include.dms_billing.core.invoice import month_name
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.mail.headers import XLSX_TYPE, Envelope, attach, attachment_name, new_message
from include.dms_billing.mail.messages import column_meanings
from include.dms_billing.outputs.billable_list import to_csv_bytes
from include.dms_billing.outputs.render import render_template, zone_name
from include.dms_billing.outputs.spreadsheets import Workbook, list_sheet

CANDIDATES_SHOWN = 50  # candidates listed in the body; all of them are attached


def deadline_text(window: BillingWindow) -> str:
    """The last local second whose changes count, e.g. ``23:59:59 on 30 November 2023 (Bangladesh time)``."""
    last = (window.end - timedelta(seconds=1)).astimezone(zone(window.timezone))
    return f"{last:%H:%M:%S} on {last.day} {last:%B %Y} ({zone_name(window.timezone)})"


def close_text(window: BillingWindow) -> str:
    """When the month closes, locally: ``00:00 on 1 December 2023``."""
    end = window.end.astimezone(zone(window.timezone))
    return f"{end:%H:%M} on {end.day} {end:%B %Y}"


def candidates(projected: pd.DataFrame) -> pd.DataFrame:
    """Active users without a login this month so far: billed only because they are active."""
    return projected[(projected["billable_reason"] == REASON_ACTIVE) & (projected["logins_in_month"] == 0)]


def preview_email(envelope: Envelope, job: ClientJob, summary: dict, projected: pd.DataFrame) -> EmailMessage:
    """The projection, the candidates to deactivate and the deadline; the projected list and
    the candidates attached (CSV and a two-sheet XLSX)."""
    if (summary["client_code"], summary["billing_month"], summary["projected"]) != (
            job.client_code, job.billing_month, len(projected)):
        raise ValueError(f"the preview summary does not match the projected list of {job.client_code}")
    window = job.window()
    tz = zone(job.timezone)
    as_of = datetime.fromisoformat(summary["as_of"]).astimezone(tz)
    idle = candidates(projected)
    csv_name, xlsx_name = (attachment_name("preview", job.client_code, job.billing_month, s) for s in (".csv", ".xlsx"))
    context = {
        "client_name": job.client_name, "client_code": job.client_code, "month": month_name(job.billing_month),
        "as_of": f"{as_of:%H:%M} on {as_of.day} {as_of:%B %Y} ({zone_name(job.timezone)})",
        "deadline": deadline_text(window), "closes": close_text(window),
        "projected": summary["projected"], "active": summary[REASON_ACTIVE],
        "recent_login": summary[REASON_RECENT_LOGIN], "compared_with": summary["compared_with"],
        "candidates": [
            {"user_id": u.user_id, "username": u.username, "full_name": u.full_name, "role": u.role,
             "last_login": "never" if pd.isna(u.last_login_at) else u.last_login_at.isoformat()}
            for u in idle.itertuples(index=False)
        ],
        "candidates_shown": CANDIDATES_SHOWN,
        "columns": column_meanings(job.timezone, None),
        "csv_name": csv_name, "xlsx_name": xlsx_name,
    }
    subject = (f"Sokrio DMS billing preview, {context['month']}: {job.client_name} ({job.client_code}), "
               f"{len(idle):,} active without a login; changes count until {context['deadline']}")
    msg = new_message(envelope, DeliveryKind.PREVIEW, subject, render_template("preview_email.txt.j2", **context),
                      render_template("preview_email.html.j2", **context), job.client_code, job.billing_month)
    workbook = Workbook(f"Sokrio DMS billing preview, {context['month']}: {job.client_name} ({job.client_code})")
    list_sheet(workbook, "Projected list", projected)
    list_sheet(workbook, "Active, not logged in", idle)
    attach(msg, to_csv_bytes(projected), ("text", "csv"), csv_name, charset="utf-8")
    attach(msg, workbook.to_bytes(), XLSX_TYPE, xlsx_name)
    return msg
