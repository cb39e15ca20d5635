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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from email.message import EmailMessage

import pandas as pd
import sqlalchemy as sa

from include.dms_billing.core.billing_month import (
    POLICY_START,
    BillingMonth,
    BillingWindow,
    billing_window,
    zone,
)
from include.dms_billing.core.columns import REASON_ACTIVE, REASON_RECENT_LOGIN
from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.jobs import ClientJob, RunIntent, SourceClient, select_clients
from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.ledger.deliveries import DeliveryKey, DeliveryOutcome, deliver_once
from include.dms_billing.ledger.schema import deliveries
from include.dms_billing.outputs.atomic import write_bytes, write_text
from include.dms_billing.outputs.paths import ClientMonthPaths, PreviewPaths, data_root, delivery_receipts
from include.dms_billing.outputs.storage import StoragePath, read_frame, read_table

log = logging.getLogger(__name__)



class PreviewRequestError(ValueError):
    """The run's params ask for something that cannot be previewed."""


# ---------------------------------------------------------------------------------------------
# When: the preview day and the deadline, in the client's timezone


def preview_opens_at(window: BillingWindow, days_before: int) -> datetime:
    """Local midnight ``days_before`` days before the month closes (UTC): from then on, the preview is due."""
    tz = zone(window.timezone)
    close_day = window.end.astimezone(tz).date()
    return datetime.combine(close_day - timedelta(days=days_before), time(0), tzinfo=tz).astimezone(timezone.utc)


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
            deliveries.c.kind == DeliveryKind.PREVIEW, deliveries.c.state == "sent",
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
        jobs.append(ClientJob.of(due.client, due.month, intent, config))
    return jobs


# ---------------------------------------------------------------------------------------------
# What: the projected list, written under previews/


def preview_paths(job: ClientJob, root: StoragePath | None = None) -> PreviewPaths:
    return PreviewPaths(root or data_root(), job.billing_month, job.client_code)


def preview_window(job: ClientJob, as_of: datetime) -> BillingWindow:
    """The month's window cut at ``as_of``: status as of now, logins from the month's start to now."""
    window = job.window()
    if not window.start <= as_of < window.end:
        raise PreviewRequestError(f"{as_of.isoformat()} is not within {job.client_code}'s {job.billing_month}")
    return replace(window, end=as_of)


def project_step(engine: sa.Engine, job: ClientJob, as_of: datetime, config: BillingConfig,
                 root: StoragePath | None = None) -> dict:
    """Extract, check and validate as the month's list is, then decide as of ``as_of``; write the
    projection and its summary under previews/. A snapshot that fails (an unreadable timestamp, a
    user left out, a failed expectation) stops the preview, naming what failed: no list is
    projected from data the month's run would refuse."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.dms_billing.core.rule import decide
    from include.dms_billing.mail.preview_email import candidates, deadline_text
    from include.dms_billing.outputs.atomic import atomic_path
    from include.dms_billing.outputs.billable_list import to_csv_bytes
    from include.dms_billing.outputs.list_changes import compare_with_previous, read_previous_list
    from include.dms_billing.flows.list_steps import ValidationFailed, validate_batch_step
    from include.dms_billing.source.extraction import extract_batch
    from include.dms_billing.source.source_checks import check_sources, save_source_checks

    paths = preview_paths(job, root)
    window = preview_window(job, as_of)
    for stale in (paths.projected, paths.projected_csv, paths.summary):
        stale.unlink(missing_ok=True)  # no earlier preview's projection beside a failed one
    rows = extract_batch(engine, window, {job.client_id: paths.snapshot})
    save_source_checks(check_sources(engine, window, rows)[job.client_id], paths.source_checks)
    outcome = validate_batch_step([(job, paths)], config, window=window)[job.client_code]
    if not outcome.success:
        raise ValidationFailed(outcome)
    snapshot = read_table(paths.snapshot)
    status_map = config.status_map(job.client_code)
    projected = decide(snapshot, window, status_map, job.client_code)
    previous = read_previous_list(ClientMonthPaths(paths.root, job.billing_month, job.client_code))
    projected, changes = compare_with_previous(projected, snapshot, window, status_map, previous)
    with atomic_path(paths.projected) as tmp:
        pq.write_table(pa.Table.from_pandas(projected, preserve_index=False), tmp)
    write_bytes(paths.projected_csv, to_csv_bytes(projected))
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


def _outgoing(
    job: ClientJob, config: BillingConfig, paths: PreviewPaths
) -> tuple[tuple[str, ...], Callable[[str], EmailMessage]]:
    """Who the preview goes to, and how to build it once its Message-ID is known."""
    from include.dms_billing.mail.envelope import envelope
    from include.dms_billing.mail.preview_email import preview_email

    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    projected = read_frame(paths.projected)
    for column in ("last_login_at", "status_set_at"):
        projected[column] = projected[column].dt.tz_convert(job.timezone)

    def build(message_id: str) -> EmailMessage:
        return preview_email(envelope(config, DeliveryKind.PREVIEW, job, message_id), job, summary, projected)

    return envelope(config, DeliveryKind.PREVIEW, job).recipients, build


def send_preview_step(ledger: sa.Engine, job: ClientJob, config: BillingConfig, run_id: str, resend: bool,
                      send, root: StoragePath | None = None) -> DeliveryOutcome:
    """Send the client's preview of the month unless the ledger says it went already."""
    recipients, build = _outgoing(job, config, preview_paths(job, root))
    key = DeliveryKey(job.client_code, job.billing_month, DeliveryKind.PREVIEW)
    return deliver_once(ledger, key, run_id=run_id, resend=resend, recipients=recipients,
                        domain=config.delivery.message_id_domain(), build=build, send=send,
                        receipts=delivery_receipts(root))


def archive_preview_step(job: ClientJob, config: BillingConfig, root: StoragePath | None = None) -> str:
    """Keep the preview a delivering run would send, unsent, for review; returns its path."""
    from include.dms_billing.mail.envelope import ARCHIVED

    paths = preview_paths(job, root)
    _, build = _outgoing(job, config, paths)
    return str(write_bytes(paths.archived_email, build(ARCHIVED).as_bytes()))
