"""Sending an invoice sends the invoice the ledger holds: it never issues one."""

from __future__ import annotations

import pytest

from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.flows import delivery_steps
from include.dms_billing.outputs.paths import client_month_paths


def test_an_invoice_not_issued_is_neither_sent_nor_kept_nor_issued_on_the_way(ledger_engine, data_root) -> None:
    job = ClientJob(1, "ACME", "Acme Ltd", "Asia/Dhaka", "2023-05", "accounts@acme.example", None)
    config = parse_config({"clients": {"ACME": {"plan": {"prices": [{"from": "2023-04", "unit_price": "10"}]}}}})
    paths = client_month_paths(job.billing_month, job.client_code)
    sent = []
    with pytest.raises(delivery_steps.InvoiceNotIssued, match="no invoice issued for ACME 2023-05"):
        delivery_steps.send_invoice_step(ledger_engine, job, paths, config, "run-1", False, sent.append)
    with pytest.raises(delivery_steps.InvoiceNotIssued):
        delivery_steps.archive_step(ledger_engine, job, paths, config, "invoice", "run-1")
    assert sent == [] and not paths.archived_email("invoice").exists()
    assert delivery_steps.month_invoices(ledger_engine, "2023-05") == []
