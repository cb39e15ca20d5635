"""Exactly-once delivery of emails, recorded in the ledger's ``deliveries`` table.

Each (client, month, kind) is delivered once. Before sending, a row is claimed in state
``sending`` with a stable Message-ID; after the server accepts the message the row becomes
``sent``; if sending fails it becomes ``failed`` and the next try reuses the same row and
Message-ID. So re-runs and retries send what is missing and nothing twice. A resend
(``resend: true``) is a new attempt, once per run that asks for it.

When the server accepted the message but the ledger cannot record it (the ledger is down for
a moment), a receipt is written to a file under the data root (``receipts``) before the task
fails; the next try finds the receipt, records the delivery as sent and sends nothing.

The one gap that remains: the process dies between the server's acceptance and the ledger's
record (or the receipt). The row stays ``sending``; once its claim is older than the lease the
next try sends again with the same Message-ID, which mail systems use to recognise a
duplicate. That is logged loudly.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import sqlalchemy as sa

from include.dms_billing.core.kinds import DeliveryKind
from include.dms_billing.ledger.schema import deliveries
from include.dms_billing.outputs.atomic import write_text
from include.dms_billing.outputs.storage import StoragePath

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
    kind: DeliveryKind

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


def receipt_path(receipts: StoragePath, message_id: str) -> StoragePath:
    """Where the receipt of ``message_id`` is kept while the ledger cannot record it."""
    return receipts / (re.sub(r"[^A-Za-z0-9@._-]+", "_", message_id.strip("<>")) + ".json")


def _reconcile_receipt(conn: sa.Connection, row: sa.Row, receipts: StoragePath | None) -> bool:
    """A ``sending`` row whose message the server accepted (a receipt says so): record it as sent."""
    path = receipt_path(receipts, row.message_id) if receipts is not None else None
    if path is None or not path.exists():
        return False
    receipt = json.loads(path.read_text(encoding="utf-8"))
    conn.execute(deliveries.update().where(deliveries.c.id == row.id).values(
        state=SENT, sent_at=datetime.fromisoformat(receipt["sent_at"]), detail=receipt["detail"]))
    log.warning("%s was accepted by the mail server at %s but not recorded (ledger unavailable); recorded "
                "now from its receipt, not sent again", row.message_id, receipt["sent_at"])
    return True


def _record_sent(engine: sa.Engine, message_id: str, detail: str | None, receipts: StoragePath | None) -> None:
    """Mark the delivery sent; if the ledger cannot, keep a receipt so the next try does not resend."""
    sent_at = datetime.now(timezone.utc)
    try:
        with engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.message_id == message_id)
                         .values(state=SENT, sent_at=sent_at, detail=detail))
    except sa.exc.DBAPIError:
        if receipts is None:
            raise
        path = write_text(receipt_path(receipts, message_id), json.dumps(
            {"message_id": message_id, "sent_at": sent_at.isoformat(), "detail": detail}))
        log.error("%s was accepted by the mail server but the ledger could not record it; receipt kept in %s "
                  "so that the next try records it instead of sending again", message_id, path)
        raise


def _claim(
    conn: sa.Connection, key: DeliveryKey, plan: tuple[int, str, sa.Row | None], run_id: str, now: datetime,
    recipients: Sequence[str], detail: str | None, domain: str,
) -> tuple[int, str, str]:
    """Claim the planned attempt for this run (state ``sending``); its attempt, reason and Message-ID."""
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
    return attempt, reason, message_id


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
    receipts: StoragePath | None = None,
) -> DeliveryOutcome:
    """Send the message ``build(message_id)`` unless it was delivered already; record it.

    ``receipts``: a folder for the receipts of messages the server accepted while the ledger
    could not record them (see the module's documentation); None: no receipts.
    """
    now = datetime.now(timezone.utc)
    try:
        with engine.begin() as conn:
            rows = _rows(conn, key)
            if rows and rows[-1].state == SENDING and _reconcile_receipt(conn, rows[-1], receipts):
                recorded = rows[-1]
            else:
                recorded = None
                plan = plan_attempt(rows, run_id=run_id, resend=resend, detail=detail, now=now)
                if plan is None:
                    log.info("%s %s %s already delivered; nothing sent", key.kind, key.client_code,
                             key.billing_month)
                    return DeliveryOutcome(key, False, None, None, None)
                attempt, reason, message_id = _claim(conn, key, plan, run_id, now, recipients, detail, domain)
    except sa.exc.IntegrityError as exc:  # two runs claimed the same attempt at the same moment
        raise DeliveryInProgress(
            f"{key.kind} {key.client_code} {key.billing_month} was claimed by another run at the same moment"
        ) from exc
    if recorded is not None:
        receipt_path(receipts, recorded.message_id).unlink(missing_ok=True)
        return DeliveryOutcome(key, False, recorded.attempt, recorded.reason, recorded.message_id)
    try:
        send(build(message_id))
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.message_id == message_id)
                         .values(state=FAILED, detail=f"{type(exc).__name__}: {exc}"[:2000]))
        raise
    _record_sent(engine, message_id, detail, receipts)
    return DeliveryOutcome(key, True, attempt, reason, message_id)


def delivery_log(engine: sa.Engine, billing_month: str) -> list[dict]:
    """Every delivery row of the month, for reports and tests."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries).where(deliveries.c.billing_month == billing_month)
                            .order_by(deliveries.c.client_code, deliveries.c.kind, deliveries.c.attempt))
        return [dict(row._mapping) for row in rows]
