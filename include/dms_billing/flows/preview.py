"""Before the month closes: each client's projected billable list, emailed to its administrator.

The policy makes the client's administrator responsible for deactivating unneeded subscriptions
before the month ends. A configurable number of days before the client's month closes (default
3, from local midnight in the client's timezone) the DAG ``dms_billing_preview`` sends the list
as it stands *now* (``as_of``): who would be billed and why, the users who are active but have
not logged in this month (the candidates to deactivate), and the exact local deadline.

The projection is the day-1 list's own extraction SQL and rule, with the window ending at
``as_of`` (logins counted from the month's start). It writes only under ``previews/`` and never
touches ``billable/``, ``invoices/`` or the invoice ledger; its email goes through the same
exactly-once delivery ledger as the others (kind ``preview``): one preview per client and month.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from include.dms_billing.outputs.atomic import write_bytes, write_text
from include.dms_billing.core.billing_month import POLICY_START, BillingMonth, BillingWindow, billing_window, zone
from include.dms_billing.core.columns import REASON_ACTIVE, REASON_RECENT_LOGIN
from include.dms_billing.core.config import BillingConfig
from include.dms_billing.ledger.deliveries import DeliveryKey, DeliveryOutcome, deliver_once
from include.dms_billing.ledger.schema import deliveries
from include.dms_billing.outputs.paths import ClientMonthPaths, PreviewPaths, data_root, delivery_receipts
from include.dms_billing.core.jobs import ClientJob, RunIntent, SourceClient, select_clients

log = logging.getLogger(__name__)

PREVIEW = "preview"  # the delivery ledger's kind
CANDIDATES_SHOWN = 50  # candidates listed in the body; all of them are attached


class PreviewRequestError(ValueError):
    """The run's params ask for something that cannot be previewed."""


# ---------------------------------------------------------------------------------------------
# When: the preview day and the deadline, in the client's timezone


def preview_opens_at(window: BillingWindow, days_before: int) -> datetime:
    """Local midnight ``days_before`` days before the month closes (UTC): from then on, the preview is due."""
    tz = zone(window.timezone)
    close_day = window.end.astimezone(tz).date()
    return datetime.combine(close_day - timedelta(days=days_before), time(0), tzinfo=tz).astimezone(timezone.utc)


def deadline_text(window: BillingWindow) -> str:
    """The last local second whose changes count, e.g. ``23:59:59 on 30 November 2023 (Asia/Dhaka)``."""
    last = (window.end - timedelta(seconds=1)).astimezone(zone(window.timezone))
    return f"{last:%H:%M:%S} on {last.day} {last:%B %Y} ({window.timezone})"


def close_text(window: BillingWindow) -> str:
    """When the month closes, locally: ``00:00 on 1 December 2023``."""
    end = window.end.astimezone(zone(window.timezone))
    return f"{end:%H:%M} on {end.day} {end:%B %Y}"


def parse_as_of(text: str | None, fallback: datetime | None) -> datetime:
    """The moment to project at: the ``as_of`` param (ISO 8601 with an offset), else the run's
    data interval end, else now. A time without an offset is refused: it would be read in some
    zone by guessing."""
    if text:
        try:
            moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            raise PreviewRequestError(f"as_of must be an ISO 8601 time, e.g. 2023-11-27T18:00:00+00:00: {text!r}")
        if moment.tzinfo is None:
            raise PreviewRequestError(f"as_of needs an offset from UTC (e.g. +06:00 or Z): {text!r}")
        return moment.astimezone(timezone.utc)
    return (fallback or datetime.now(timezone.utc)).astimezone(timezone.utc)


@dataclass(frozen=True)
class Due:
    """A client whose preview for ``month`` is due at ``as_of``, or why not (``skipped``)."""

    client: SourceClient
    month: BillingMonth | None
    skipped: str | None = None


def previews_due(
    clients: Iterable[SourceClient], as_of: datetime, config: BillingConfig, sent: set[tuple[str, str]],
) -> list[Due]:
    """For each client: is its preview due at ``as_of``? On or after its preview day (local),
    before its month closes, enabled, and not sent yet (``sent``: (client code, month) pairs)."""
    result = []
    for client in clients:
        try:
            zone(client.timezone)
            month = BillingMonth.containing(as_of, client.timezone)
        except ValueError as exc:
            result.append(Due(client, None, f"bad timezone: {exc}"))
            continue
        if month < POLICY_START:
            result.append(Due(client, month, f"{month} is before the billing policy"))
            continue
        settings = config.preview(client.client_code)
        window = billing_window(month, client.timezone)
        opens = preview_opens_at(window, settings.days_before)
        if not settings.enabled:
            skipped = "previews are turned off for this client"
        elif as_of < opens:
            skipped = f"not yet: due from {opens.astimezone(zone(client.timezone)).isoformat()}"
        elif (client.client_code, str(month)) in sent:
            skipped = "already sent"
        else:
            skipped = None
        result.append(Due(client, month, skipped))
    return result


def sent_previews(engine: sa.Engine, months: Iterable[str]) -> set[tuple[str, str]]:
    """(client code, month) of every preview the ledger records as sent in ``months``."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries.c.client_code, deliveries.c.billing_month).where(
            deliveries.c.kind == PREVIEW, deliveries.c.state == "sent",
            deliveries.c.billing_month.in_(sorted(set(months)))))
        return {(row.client_code, row.billing_month) for row in rows}


def plan_previews(
    clients: Sequence[SourceClient], codes: Sequence[str], as_of: datetime, config: BillingConfig,
    sent: set[tuple[str, str]], intent: RunIntent = RunIntent(),
) -> list[ClientJob]:
    """One job per client whose preview is due; each skip is logged with its reason."""
    jobs = []
    for due in previews_due(select_clients(clients, codes, PreviewRequestError), as_of, config, sent):
        if due.skipped:
            log.info("no preview for %s at %s: %s", due.client.client_code, as_of.isoformat(), due.skipped)
            continue
        jobs.append(ClientJob.of(due.client, due.month, intent))
    return jobs


# ---------------------------------------------------------------------------------------------
# What: the projected list, written under previews/


def preview_paths(job: ClientJob, root: Path | None = None) -> PreviewPaths:
    return PreviewPaths(root or data_root(), job.billing_month, job.client_code)


def preview_window(job: ClientJob, as_of: datetime) -> BillingWindow:
    """The month's window cut at ``as_of``: status as of now, logins from the month's start to now."""
    window = job.window()
    if not window.start <= as_of < window.end:
        raise PreviewRequestError(f"{as_of.isoformat()} is not within {job.client_code}'s {job.billing_month}")
    return replace(window, end=as_of)


def candidates(projected: pd.DataFrame) -> pd.DataFrame:
    """Active users without a login this month so far: billed only because they are active."""
    return projected[(projected["billable_reason"] == REASON_ACTIVE) & (projected["logins_in_month"] == 0)]


def project_step(engine: sa.Engine, job: ClientJob, as_of: datetime, config: BillingConfig,
                 root: Path | None = None) -> dict:
    """Extract and decide as of ``as_of``; write the projection and its summary under previews/."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.dms_billing.outputs.atomic import atomic_path
    from include.dms_billing.outputs.billable_list import to_csv_text
    from include.dms_billing.source.extraction import extract_user_facts
    from include.dms_billing.outputs.list_changes import compare_with_previous, read_previous_list
    from include.dms_billing.core.rule import decide

    paths = preview_paths(job, root)
    window = preview_window(job, as_of)
    extract_user_facts(engine, job.client_id, window, paths.snapshot)
    snapshot = pq.read_table(paths.snapshot)
    status_map = config.status_map(job.client_code)
    projected = decide(snapshot, window, status_map, job.client_code)
    previous = read_previous_list(ClientMonthPaths(paths.root, job.billing_month, job.client_code))
    projected, changes = compare_with_previous(projected, snapshot, window, status_map, previous)
    with atomic_path(paths.projected) as tmp:
        pq.write_table(pa.Table.from_pandas(projected, preserve_index=False), tmp)
    write_text(paths.projected_csv, to_csv_text(projected))
    counts = projected["billable_reason"].value_counts()
    summary = {
        "client_code": job.client_code, "billing_month": job.billing_month, "as_of": as_of.isoformat(),
        "deadline": deadline_text(job.window()), "projected": len(projected),
        REASON_ACTIVE: int(counts.get(REASON_ACTIVE, 0)), REASON_RECENT_LOGIN: int(counts.get(REASON_RECENT_LOGIN, 0)),
        "not_logged_in": len(candidates(projected)), "compared_with": changes.headline(),
    }
    write_text(paths.summary, json.dumps(summary, indent=2))
    return summary


# ---------------------------------------------------------------------------------------------
# Telling the administrator: the preview email, sent once


def preview_email(envelope, job: ClientJob, summary: dict, projected: pd.DataFrame) -> EmailMessage:
    """The projection, the candidates to deactivate and the deadline; the projected list and
    the candidates attached (CSV and a two-sheet XLSX)."""
    from include.dms_billing.outputs.billable_list import to_csv_text
    from include.dms_billing.core.invoice import month_name
    from include.dms_billing.mail.messages import XLSX_TYPE, _attach, _new_message, column_meanings
    from include.dms_billing.outputs.render import render_template
    from include.dms_billing.outputs.spreadsheets import Workbook, list_sheet

    if (summary["client_code"], summary["billing_month"], summary["projected"]) != (
            job.client_code, job.billing_month, len(projected)):
        raise ValueError(f"the preview summary does not match the projected list of {job.client_code}")
    window = job.window()
    tz = zone(job.timezone)
    as_of = datetime.fromisoformat(summary["as_of"]).astimezone(tz)
    idle = candidates(projected)
    stem = f"preview_{job.client_code}_{job.billing_month}"
    context = {
        "client_name": job.client_name, "client_code": job.client_code, "month": month_name(job.billing_month),
        "as_of": f"{as_of:%H:%M} on {as_of.day} {as_of:%B %Y} ({job.timezone})",
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
        "csv_name": f"{stem}.csv", "xlsx_name": f"{stem}.xlsx",
    }
    subject = (f"Sokrio DMS billing preview, {context['month']}: {job.client_name} ({job.client_code}), "
               f"{len(idle):,} active without a login; changes count until {context['deadline']}")
    msg = _new_message(envelope, PREVIEW, subject, render_template("preview_email.txt.j2", **context),
                       render_template("preview_email.html.j2", **context), job.client_code, job.billing_month)
    workbook = Workbook()
    list_sheet(workbook, "Projected list", projected)
    list_sheet(workbook, "Active, not logged in", idle)
    _attach(msg, to_csv_text(projected).encode("utf-8"), ("text", "csv"), f"{stem}.csv", charset="utf-8")
    _attach(msg, workbook.to_bytes(), XLSX_TYPE, f"{stem}.xlsx")
    return msg


def _outgoing(job: ClientJob, config: BillingConfig, paths: PreviewPaths):
    from include.dms_billing.mail.messages import Envelope

    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    projected = pd.read_parquet(paths.projected)
    for column in ("last_login_at", "status_set_at"):
        projected[column] = projected[column].dt.tz_convert(job.timezone)
    manager = (job.account_manager_email,) if job.account_manager_email else ()
    to, cc = (job.correspondence_email,), (*manager, *config.client_cc(job.client_code))
    d = config.delivery

    def build(message_id: str) -> EmailMessage:
        envelope = Envelope(sender=d.sender, reply_to=d.reply_to, to=to, cc=cc, message_id=message_id)
        return preview_email(envelope, job, summary, projected)

    return (*to, *cc), build


def send_preview_step(ledger: sa.Engine, job: ClientJob, config: BillingConfig, run_id: str, resend: bool,
                      send, root: Path | None = None) -> DeliveryOutcome:
    """Send the client's preview of the month unless the ledger says it went already."""
    recipients, build = _outgoing(job, config, preview_paths(job, root))
    return deliver_once(ledger, DeliveryKey(job.client_code, job.billing_month, PREVIEW), run_id=run_id,
                        resend=resend, recipients=recipients, domain=config.delivery.message_id_domain(),
                        build=build, send=send, receipts=delivery_receipts(root))


def archive_preview_step(job: ClientJob, config: BillingConfig, root: Path | None = None) -> str:
    """Keep the preview a delivering run would send, unsent, for review; returns its path."""
    paths = preview_paths(job, root)
    _, build = _outgoing(job, config, paths)
    return str(write_bytes(paths.archived_email, build("<archived@local>").as_bytes()))
