"""Exactly-once delivery of emails, recorded in the ledger's ``deliveries`` table.

Each (client, month, kind) is delivered once. Before sending, a row is claimed in state
``sending`` with a stable Message-ID; after the server accepts the message the row becomes
``sent``; if sending fails it becomes ``failed`` and the next try reuses the same row and
Message-ID. So re-runs and retries send what is missing and nothing twice. A resend
(``resend: true``) is a new attempt, once per run that asks for it.

The one gap no ledger can close: the server accepted the message but the ledger could not
record it (crash, ledger down). The row stays ``sending``; the next try sends again with the
same Message-ID, which mail systems use to recognise a duplicate. That is logged loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import sqlalchemy as sa

from include.dms_billing.ledger_schema import deliveries

log = logging.getLogger(__name__)

SENDING, SENT, FAILED = "sending", "sent", "failed"
FIRST, RESEND, UPDATE = "first", "resend", "update"
CLAIM_LEASE = timedelta(minutes=15)  # a 'sending' row of another run younger than this is in progress
FINANCE = "*"  # client_code of the finance summary, which covers every client


class DeliveryInProgress(RuntimeError):
    """Another run is sending this message right now; retry later."""


@dataclass(frozen=True)
class DeliveryKey:
    client_code: str
    billing_month: str
    kind: str  # list, invoice, finance_summary

    def message_id(self, attempt: int, domain: str) -> str:
        client = "all" if self.client_code == FINANCE else self.client_code
        return f"<{self.kind}.{client}.{self.billing_month}.{attempt}@{domain}>"


@dataclass(frozen=True)
class DeliveryOutcome:
    key: DeliveryKey
    sent: bool  # False: nothing to send (already delivered)
    attempt: int | None
    reason: str | None
    message_id: str | None


def _rows(conn: sa.Connection, key: DeliveryKey) -> list[sa.Row]:
    return list(
        conn.execute(
            sa.select(deliveries).where(
                deliveries.c.client_code == key.client_code,
                deliveries.c.billing_month == key.billing_month,
                deliveries.c.kind == key.kind,
            ).order_by(deliveries.c.attempt)
        )
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


def plan_attempt(
    rows: Sequence[sa.Row], *, run_id: str, resend: bool, detail: str | None, now: datetime
) -> tuple[int, str, sa.Row | None] | None:
    """Which attempt to send, why, and the unfinished row to reuse; None: nothing to send.

    ``detail`` describes the content when it can change (the finance summary's invoices): a
    delivery whose content differs from everything sent so far is an update, not a duplicate.
    """
    unfinished = rows[-1] if rows and rows[-1].state != SENT else None
    if unfinished is not None and unfinished.state == SENDING and unfinished.run_id != run_id:
        if now - _aware(unfinished.claimed_at) < CLAIM_LEASE:
            raise DeliveryInProgress(f"{unfinished.message_id} is being sent by run {unfinished.run_id}")
    sent = [row for row in rows if row.state == SENT]
    if resend:
        if any(row.run_id == run_id for row in sent):
            return None  # this run's resend went out already
    elif sent and (detail is None or detail in {row.detail for row in sent}):
        return None
    if unfinished is not None:
        return unfinished.attempt, unfinished.reason, unfinished
    if not sent:
        return 0, FIRST, None
    return rows[-1].attempt + 1, RESEND if resend else UPDATE, None


def deliver_once(
    engine: sa.Engine,
    key: DeliveryKey,
    *,
    run_id: str,
    resend: bool,
    recipients: Sequence[str],
    domain: str,
    build: Callable[[str], EmailMessage],
    send: Callable[[EmailMessage], None],
    detail: str | None = None,
) -> DeliveryOutcome:
    """Send the message ``build(message_id)`` unless it was delivered already; record it."""
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        plan = plan_attempt(_rows(conn, key), run_id=run_id, resend=resend, detail=detail, now=now)
        if plan is None:
            log.info("%s %s %s already delivered; nothing sent", key.kind, key.client_code, key.billing_month)
            return DeliveryOutcome(key, False, None, None, None)
        attempt, reason, unfinished = plan
        message_id = key.message_id(attempt, domain)
        claim = {"state": SENDING, "run_id": run_id, "claimed_at": now, "recipients": ", ".join(recipients),
                 "detail": detail}
        if unfinished is None:
            conn.execute(deliveries.insert().values(
                client_code=key.client_code, billing_month=key.billing_month, kind=key.kind,
                attempt=attempt, reason=reason, message_id=message_id, **claim))
        else:
            if unfinished.state == SENDING:
                log.warning("%s was claimed by run %s and never recorded as sent: it may have reached the "
                            "server; sending again with the same Message-ID", message_id, unfinished.run_id)
            conn.execute(deliveries.update().where(deliveries.c.id == unfinished.id).values(**claim))
    try:
        send(build(message_id))
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.message_id == message_id)
                         .values(state=FAILED, detail=f"{type(exc).__name__}: {exc}"[:2000]))
        raise
    with engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.message_id == message_id)
                     .values(state=SENT, sent_at=datetime.now(timezone.utc), detail=detail))
    return DeliveryOutcome(key, True, attempt, reason, message_id)


def delivery_log(engine: sa.Engine, billing_month: str) -> list[dict]:
    """Every delivery row of the month, for reports and tests."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries).where(deliveries.c.billing_month == billing_month)
                            .order_by(deliveries.c.client_code, deliveries.c.kind, deliveries.c.attempt))
        return [dict(row._mapping) for row in rows]
