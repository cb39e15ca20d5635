"""A month billed by a run that does not deliver, then run again (README, "What was billed stays
billed", "Configuration" ``issuer``), through ``dag.test()`` with a real SMTP server:

- late source data makes the recomputed list differ: the data team and finance are told once per
  revision, whether or not the run delivers;
- the issuer's configuration changed meanwhile (name, address, bank account): the invoice kept
  and the invoice resent are the invoice as it was issued, with the issuer it was issued with.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pypdf
import pytest
import sqlalchemy as sa
import yaml

from include.dms_billing.core.billing_month import billing_window
from include.dms_billing.outputs.paths import client_month_paths
from tests.integration.conftest import MAY, run_dag
from tests.support.scenarios import Source, naive

pytestmark = pytest.mark.airflow

MONTH = {"billing_month": str(MAY), "clients": ["DHAKA1"]}  # deliver unset: a manual run keeps its emails
ISSUED_WITH = {"name": "Sokrio Technologies Ltd", "address": ["House 12, Road 7, Block C, Banani", "Dhaka 1213"],
               "payment": {"bank": {"bank": "BRAC Bank PLC", "branch": "Banani Branch",
                                    "account_name": "Sokrio Technologies Ltd", "account_number": "1501204578391001"}}}
CHANGED_TO = {"name": "Sokrio Digital PLC", "address": ["Level 9, 55 Gulshan Avenue", "Dhaka 1212"],
              "payment": {"bank": {"bank": "Eastern Bank PLC", "branch": "Gulshan Branch",
                                   "account_name": "Sokrio Digital PLC", "account_number": "1041060123456"}}}
NOT_BILLED = 3  # DHAKA1's user whose only login is a second before May: not on May's list


def _issuer(config_file: Path, issuer: dict) -> None:
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    config_file.write_text(yaml.safe_dump({**config, "issuer": issuer}), encoding="utf-8")


def _late_login(source: Source) -> None:
    """A May login of a user not billed for May, arriving after May was billed."""
    at = billing_window(MAY, "Asia/Dhaka").start + timedelta(days=10)
    with sa.create_engine(os.environ["AIRFLOW_CONN_DMS_SOURCE"]).begin() as conn:
        conn.execute(sa.text("INSERT INTO user_logins (id, user_id, logged_in_at, channel) "
                             "VALUES (:id, :uid, :at, 'app')"),
                     {"id": len(source.logins) + 1, "uid": NOT_BILLED, "at": naive(at)})


def _kinds(messages: list[EmailMessage]) -> list[str]:
    return sorted(m["X-Sokrio-Billing"].split(";")[0] for m in messages)


def _flat(text: str) -> str:
    return "".join(text.split())


def _shown_issuer(html: str, pdf: bytes) -> list[str]:
    """Which of the two issuers the invoice's HTML and PDF name: by name, address and account."""
    pdf_text = _flat("".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages))
    shown = []
    for label, issuer in (("issued with", ISSUED_WITH), ("changed to", CHANGED_TO)):
        facts = [issuer["name"], *issuer["address"], issuer["payment"]["bank"]["account_number"]]
        for document in (_flat(html), pdf_text):
            shown += [label] if all(_flat(fact) in document for fact in facts) else []
    return shown


def _invoice_parts(message: EmailMessage) -> tuple[str, bytes]:
    [pdf] = [part for part in message.iter_attachments() if part.get_filename().endswith(".pdf")]
    return message.get_body(("html",)).get_content(), pdf.get_payload(decode=True)


def test_a_rerun_that_does_not_deliver_tells_of_a_revision_once_and_invoices_keep_their_issuer(
    airflow_db, source: Source, outbox, data_root: Path, tmp_path: Path
) -> None:
    config_file = tmp_path / "billing.yaml"  # the fixture's configuration
    _issuer(config_file, ISSUED_WITH)
    assert run_dag(MONTH).state == "success"  # May billed, nothing sent
    assert outbox.messages == []
    paths = client_month_paths(str(MAY), "DHAKA1", data_root)
    kept = paths.archived_email("invoice")
    kept_at_issue = kept.read_bytes()
    folder = paths.invoice_file("SKR-000001", ".pdf").parent  # the invoice's HTML and PDF as issued
    files_at_issue = {f.name: f.read_bytes() for f in folder.iterdir() if f.suffix in (".html", ".pdf")}
    assert len(files_at_issue) == 2, sorted(files_at_issue)

    _issuer(config_file, CHANGED_TO)
    _late_login(source)
    assert run_dag(MONTH).state == "success"  # again, not delivering

    assert _kinds(outbox.messages) == ["list_revision"]  # the revision, and nothing for the client
    [told] = outbox.messages
    assert {"data-team@sokrio.example", "finance@sokrio.example"} <= {a.strip() for a in told["To"].split(",")}
    assert "1 added, 0 removed, 0 reason changed" in told["Subject"]
    assert kept.read_bytes() == kept_at_issue  # the kept invoice stays as issued,
    assert {f.name: f.read_bytes() for f in folder.iterdir() if f.name in files_at_issue} \
        == files_at_issue

    assert run_dag({**MONTH, "deliver": True, "resend": True}).state == "success"

    resent = outbox.messages[1:]
    assert _kinds(resent) == ["finance", "invoice", "list"]  # no second email about the same revision
    [invoice] = [m for m in resent if _kinds([m]) == ["invoice"]]
    assert _shown_issuer(*_invoice_parts(invoice)) == ["issued with", "issued with"]  # HTML and PDF
    assert "Sokrio Digital PLC" not in invoice.get_body(("html",)).get_content()
