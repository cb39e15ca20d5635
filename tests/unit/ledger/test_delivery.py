"""Exactly-once delivery against a real SMTP server on loopback and a real SQLite ledger."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from include.dms_billing.airflow.smtp import send_message
from include.dms_billing.ledger.deliveries import (
    FAILED,
    SENDING,
    SENT,
    DeliveryInProgress,
    DeliveryKey,
    deliver_once,
    delivery_log,
)
from include.dms_billing.ledger.schema import deliveries

KEY = DeliveryKey("MEGHNA", "2023-05", "list")
DOMAIN = "billing.sokrio.example"


def _build(message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "billing@sokrio.example"
    message["To"] = "billing@meghna-foods.example"
    message["Subject"] = "list"
    message["Message-ID"] = message_id
    message.set_content("the list")
    return message


def _deliver(engine: sa.Engine, run_id: str = "run-1", resend: bool = False, detail: str | None = None):
    return deliver_once(engine, KEY, run_id=run_id, resend=resend, recipients=["billing@meghna-foods.example"],
                        domain=DOMAIN, build=_build, send=send_message, detail=detail)


def test_a_second_delivery_sends_nothing(ledger_engine, outbox) -> None:
    first = _deliver(ledger_engine)
    again = _deliver(ledger_engine, run_id="run-2")

    assert first.sent and not again.sent
    assert [m["Message-ID"] for m in outbox.messages] == ["<list.MEGHNA.2023-05.0@billing.sokrio.example>"]
    [row] = delivery_log(ledger_engine, "2023-05")
    assert row["state"] == SENT and row["reason"] == "first" and row["sent_at"] is not None


def test_resend_sends_once_per_run_that_asks(ledger_engine, outbox) -> None:
    _deliver(ledger_engine)
    resent = _deliver(ledger_engine, run_id="run-2", resend=True)
    retried = _deliver(ledger_engine, run_id="run-2", resend=True)  # a retry of the same task
    later = _deliver(ledger_engine, run_id="run-3", resend=True)

    assert resent.sent and not retried.sent and later.sent
    assert [m["Message-ID"] for m in outbox.messages] == [
        "<list.MEGHNA.2023-05.0@billing.sokrio.example>",
        "<list.MEGHNA.2023-05.1@billing.sokrio.example>",
        "<list.MEGHNA.2023-05.2@billing.sokrio.example>",
    ]
    assert [(r["attempt"], r["reason"]) for r in delivery_log(ledger_engine, "2023-05")] == [
        (0, "first"), (1, "resend"), (2, "resend")]


def test_server_down_fails_visibly_and_the_retry_sends_once(ledger_engine, outbox) -> None:
    outbox.stop()
    with pytest.raises((ConnectionError, smtplib.SMTPException, OSError)):
        _deliver(ledger_engine)
    [row] = delivery_log(ledger_engine, "2023-05")
    assert row["state"] == FAILED and row["detail"]

    outbox.start()
    retried = _deliver(ledger_engine)
    again = _deliver(ledger_engine)

    assert retried.sent and not again.sent
    assert len(outbox.messages) == 1
    assert outbox.messages[0]["Message-ID"] == "<list.MEGHNA.2023-05.0@billing.sokrio.example>"
    assert [r["state"] for r in delivery_log(ledger_engine, "2023-05")] == [SENT]


def test_a_claim_by_another_live_run_is_not_sent_over(ledger_engine, outbox) -> None:
    _deliver(ledger_engine)
    with ledger_engine.begin() as conn:  # as if run-1 were still sending
        conn.execute(deliveries.update().values(state=SENDING))

    with pytest.raises(DeliveryInProgress, match="run-1"):
        _deliver(ledger_engine, run_id="run-2")
    assert len(outbox.messages) == 1


def test_changed_content_is_sent_as_an_update(ledger_engine, outbox) -> None:
    _deliver(ledger_engine, detail="SKR-000001")
    same = _deliver(ledger_engine, run_id="run-2", detail="SKR-000001")
    more = _deliver(ledger_engine, run_id="run-3", detail="SKR-000001,SKR-000002")

    assert not same.sent and more.sent and more.reason == "update"
    assert len(outbox.messages) == 2


def test_the_ledger_refuses_a_second_row_for_the_same_attempt(ledger_engine, outbox) -> None:
    _deliver(ledger_engine)
    row = {k: v for k, v in delivery_log(ledger_engine, "2023-05")[0].items() if k != "id"}
    with pytest.raises(sa.exc.IntegrityError), ledger_engine.begin() as conn:
        conn.execute(deliveries.insert().values(**{**row, "message_id": "<other@x>"}))
