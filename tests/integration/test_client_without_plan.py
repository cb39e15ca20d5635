"""A client without a plan (README, "Configuration", ``clients.CODE.plan``), in a whole delivering
run through ``dag.test()`` with a real SMTP server: its list goes out on day 1 without a price,
the data team is told at once, naming the missing key and the invoice day that needs it, and
its invoice task fails naming the key; the client with a plan is billed as usual."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
import yaml

from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
from include.dms_billing.ledger.invoices import month_invoices
from tests.integration.conftest import MAY, run_dag
from tests.support.scenarios import Source

pytestmark = pytest.mark.airflow

KEY = "clients.KOLKATA1.plan"
DATA_TEAM = "data-team@sokrio.example"  # delivery.data_team's default
INVOICE_DAY = "2023-06-01"  # contract section 3: May 2023's invoice, the first working day of June


def _kind(message: EmailMessage) -> str:
    return message["X-Sokrio-Billing"].split(";")[0]


def _client(message: EmailMessage) -> str | None:
    tags = dict(tag.strip().split("=", 1) for tag in message["X-Sokrio-Billing"].split(";")[1:])
    return tags.get("client")


def _one(sent: list[EmailMessage], kind: str, client: str, subject: str = "") -> EmailMessage:
    """The one email of ``kind`` for ``client`` whose subject holds ``subject``."""
    found = [m for m in sent if _kind(m) == kind and _client(m) == client and subject in m["Subject"]]
    assert len(found) == 1, (kind, client, subject, [m["Subject"] for m in sent])
    return found[0]


def _summary_sheet(message: EmailMessage) -> list:
    """The values of the list's XLSX Summary sheet, where the invoice it becomes is stated."""
    [xlsx] = [p for p in message.iter_attachments() if p.get_filename().endswith(".xlsx")]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_payload(decode=True)))["Summary"]
    return [value for row in sheet.iter_rows(values_only=True) for value in row if value is not None]


def _text(message: EmailMessage) -> str:
    return " ".join(message.get_body(("plain",)).get_content().split())


def test_a_client_without_a_plan_gets_its_list_the_data_team_is_told_and_its_invoice_fails(
    airflow_db, source: Source, outbox, data_root: Path, tmp_path: Path
) -> None:
    config_file = tmp_path / "billing.yaml"  # the fixture's configuration, KOLKATA1's plan left out
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    del config["clients"]["KOLKATA1"]
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")

    run = run_dag({"billing_month": str(MAY), "clients": ["DHAKA1", "KOLKATA1"], "deliver": True})

    sent = outbox.messages
    listed = _one(sent, "list", "KOLKATA1")
    assert listed["To"] == "billing@kolkata1.example"
    priced = _one(sent, "list", "DHAKA1")
    assert 150 in _summary_sheet(priced) and 150 not in _summary_sheet(listed)  # its invoice-to-be, unpriced

    told = _one(sent, "alert", "KOLKATA1", KEY)
    assert told["To"] == DATA_TEAM and INVOICE_DAY in told["Subject"] and KEY in _text(told)
    first_invoice = next(n for n, m in enumerate(sent) if _kind(m) == "invoice")
    assert sent.index(told) < first_invoice  # told with the lists, before any invoice

    states = {(ti.task_id, ti.rendered_map_index): ti.state for ti in run.get_task_instances()}
    assert states[("bill_batch.deliver_lists", "KOLKATA1")] == "success"
    assert states[("bill_batch.issue_and_deliver_invoices", "KOLKATA1")] == "failed"
    assert states[("bill_batch.issue_and_deliver_invoices", "DHAKA1")] == "success"
    assert run.state == "failed"
    failure = _one(sent, "alert", "KOLKATA1", "issue and deliver the invoice")
    assert KEY in _text(failure)  # the failed task names the key

    invoices = month_invoices(ledger_engine(default_ledger_url()), str(MAY))
    assert [invoice.bill_to.client_code for invoice in invoices] == ["DHAKA1"]
    assert [_client(m) for m in sent if _kind(m) == "invoice"] == ["DHAKA1"]
