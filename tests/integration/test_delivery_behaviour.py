"""Who gets what in a delivering run, through ``dag.test()`` and a real SMTP server on loopback.

One run of May 2023 for two clients: DHAKA1, with extra copies configured (``clients.DHAKA1.cc``),
and KOLKATA1, whose correspondence address the server refuses (550 at RCPT TO: no such mailbox)
while it takes the copy for its account manager, so its list does not reach the client. The tests
read that run: KOLKATA1 gets no invoice (contract section 3: the invoice is built from the list
the client received on day 1), DHAKA1 is billed, and every email
reaches exactly its recipients (contract section 6, README "Configuration"), read from the
server's SMTP envelopes, not from the headers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
import sqlalchemy as sa
import yaml

from include.dms_billing.core.billing_month import billing_window
from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
from include.dms_billing.ledger.deliveries import delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from tests.integration.conftest import MAY, run_dag
from tests.support.faults import faulty_outbox
from tests.support.scenarios import Source, section2_cases

pytestmark = pytest.mark.airflow

PLAN = {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}
MANAGER = "am@sokrio.example"  # every client's account manager in the DMS (tests.support.scenarios)
FINANCE = "finance@sokrio.example"
EXTRA_CC = ("accounts.head@dhaka1.example", "cfo@dhaka1.example")  # clients.DHAKA1.cc
REFUSED = "billing@kolkata1.example"  # KOLKATA1's correspondence address: no such mailbox


@dataclass(frozen=True)
class Delivered:
    state: str
    states: dict[tuple[str, str], str]  # (task id, client code) -> state
    received: list[tuple[EmailMessage, list[str]]]  # each message with its envelope's RCPT TO
    invoiced: list[str]  # client codes with an invoice in the ledger
    deliveries: list[tuple[str, str, str]]  # client, kind, state


@pytest.fixture(scope="module")
def delivered(airflow_db, tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    folder = tmp_path_factory.mktemp("delivery")
    src = Source()
    for client_id, code in ((1, "DHAKA1"), (2, "KOLKATA1")):
        src.client(client_id, code, "Asia/Dhaka")
        section2_cases(src, client_id, billing_window(MAY, "Asia/Dhaka"))
    src.load(sa.create_engine(f"sqlite:///{folder / 'dms.sqlite'}"))
    config = {"delivery": {"finance": [FINANCE]},
              "clients": {"DHAKA1": {"plan": PLAN, "cc": list(EXTRA_CC)}, "KOLKATA1": {"plan": PLAN}}}
    (folder / "billing.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    outbox, server = faulty_outbox(folder / "outbox", unknown=frozenset({REFUSED}))
    with outbox, pytest.MonkeyPatch.context() as env:
        env.setenv("DMS_BILLING_DATA", str(folder / "data"))
        env.setenv("DMS_BILLING_CONFIG", str(folder / "billing.yaml"))
        env.setenv("AIRFLOW_CONN_DMS_SOURCE", f"sqlite:///{folder / 'dms.sqlite'}")
        env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", outbox.connection_uri())
        run = run_dag({"billing_month": str(MAY), "clients": ["DHAKA1", "KOLKATA1"], "deliver": True})
        instances = run.get_task_instances()
        client_of = {ti.map_index: ti.rendered_map_index
                     for ti in instances if ti.task_id == "bill_batch.decide_lists"}  # labelled: it ran
        engine = ledger_engine(default_ledger_url())
        return Delivered(
            state=run.state,
            states={(ti.task_id.removeprefix("bill_batch."), client_of.get(ti.map_index, "")): ti.state
                    for ti in instances},
            received=[(message, [address.lower() for address in rcpt_tos])
                      for message, (_, rcpt_tos) in zip(server.messages, server.envelopes, strict=True)],
            invoiced=[invoice.bill_to.client_code for invoice in month_invoices(engine, str(MAY))],
            deliveries=[(r["client_code"], r["kind"], r["state"]) for r in delivery_log(engine, str(MAY))],
        )


def _sent(delivered: Delivered, kind: str, code: str | None = None) -> list[tuple[EmailMessage, list[str]]]:
    def tags(message: EmailMessage) -> list[str]:
        return [tag.strip() for tag in message["X-Sokrio-Billing"].split(";")]

    return [(m, rcpt) for m, rcpt in delivered.received
            if tags(m)[0] == kind and (code is None or f"client={code}" in tags(m))]


def _addresses(message: EmailMessage, header: str) -> list[str]:
    return [address.lower() for _, address in getaddresses(message.get_all(header, []))]


def test_a_client_whose_list_could_not_go_out_gets_no_invoice(delivered: Delivered) -> None:
    assert delivered.invoiced == ["DHAKA1"]  # nothing issued, numbered or sealed for KOLKATA1
    assert delivered.states[("deliver_lists", "KOLKATA1")] == "failed"
    for task in ("wait_for_invoice_day", "issue_and_deliver_invoices"):
        assert delivered.states[(task, "KOLKATA1")] == "upstream_failed", task  # never ran
        assert delivered.states[(task, "DHAKA1")] == "success", task
    assert delivered.state == "failed"  # a delivery failed: the run is red
    assert ("KOLKATA1", "list", "failed") in delivered.deliveries
    assert [d for d in delivered.deliveries if d[0] == "KOLKATA1" and d[1] != "list"] == []
    # the server took the list for the manager's copy only: the client never got it
    assert [rcpt for _, rcpt in _sent(delivered, "list", "KOLKATA1")] == [[MANAGER]]
    assert _sent(delivered, "invoice", "KOLKATA1") == []
    assert all(REFUSED not in rcpt for _, rcpt in delivered.received)
    [(finance, _)] = _sent(delivered, "finance")
    [attachment] = [p for p in finance.iter_attachments() if p.get_filename().endswith(".csv")]
    rows = list(csv.DictReader(io.StringIO(attachment.get_payload(decode=True).decode("utf-8-sig"))))
    assert [row["client_code"] for row in rows] == ["DHAKA1"]


def test_the_invoice_goes_to_the_client_cc_its_manager_its_copies_and_finance(delivered: Delivered) -> None:
    """Contract section 6 and README: To the correspondence address; Cc the account manager,
    finance and ``clients.CODE.cc``. The server received it for exactly those, no one else."""
    [(invoice, rcpt_to)] = _sent(delivered, "invoice", "DHAKA1")
    assert _addresses(invoice, "To") == ["billing@dhaka1.example"]
    assert sorted(_addresses(invoice, "Cc")) == sorted([MANAGER, *EXTRA_CC, FINANCE])
    assert sorted(rcpt_to) == sorted(["billing@dhaka1.example", MANAGER, *EXTRA_CC, FINANCE])
    assert invoice.get_all("Bcc") is None


def test_the_list_goes_to_the_client_cc_its_manager_and_its_copies_not_finance(delivered: Delivered) -> None:
    [(listed, rcpt_to)] = _sent(delivered, "list", "DHAKA1")
    assert _addresses(listed, "To") == ["billing@dhaka1.example"]
    assert sorted(_addresses(listed, "Cc")) == sorted([MANAGER, *EXTRA_CC])
    assert sorted(rcpt_to) == sorted(["billing@dhaka1.example", MANAGER, *EXTRA_CC])
    assert listed.get_all("Bcc") is None
