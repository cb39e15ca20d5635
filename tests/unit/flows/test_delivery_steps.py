"""The delivery steps: sending an invoice sends the invoice the ledger holds (it never issues one),
and a drafted invoice is due on a working day."""

from __future__ import annotations

from datetime import date

import pytest

from include.dms_billing.core.config import parse_config
from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.flows import delivery_steps
from include.dms_billing.outputs.paths import client_month_paths


def test_an_invoice_not_issued_is_neither_sent_nor_kept_nor_issued_on_the_way(ledger_engine, data_root) -> None:
    job = ClientJob(1, "ACME", "Acme Ltd", "Asia/Dhaka", BillingMonth(2023, 5), "accounts@acme.example", None)
    config = parse_config({"clients": {"ACME": {"plan": {"prices": [{"from": "2023-04", "unit_price": "10"}]}}}})
    paths = client_month_paths(job.billing_month, job.client_code)
    sent = []
    with pytest.raises(delivery_steps.InvoiceNotIssued, match="no invoice issued for ACME 2023-05"):
        delivery_steps.send_invoice_step(ledger_engine, job, paths, config, "run-1", False, sent.append)
    with pytest.raises(delivery_steps.InvoiceNotIssued):
        delivery_steps.archive_step(ledger_engine, job, paths, config, "invoice", "run-1")
    assert sent == [] and not paths.archived_email("invoice").exists()
    assert delivery_steps.month_invoices(ledger_engine, "2023-05") == []


@pytest.mark.parametrize(
    ("terms_days", "due"),
    [
        (14, date(2023, 6, 15)),  # Thursday: a working day, kept
        (15, date(2023, 6, 18)),  # Friday 16 June: the weekend (Friday and Saturday) moves it to Sunday
        (28, date(2023, 7, 2)),  # Thursday 29 June is Eid al-Adha (to Saturday 1 July): Sunday 2 July
    ],
)
def test_a_due_date_on_a_day_off_moves_to_the_next_working_day(terms_days: int, due: date) -> None:
    """May 2023 is invoiced on Thursday 1 June; its due date and objection deadline follow the calendar
    of Bangladesh (the ``holidays`` library's), and finance's CSV row carries the moved date."""
    config = parse_config({"objections": {"days_after_invoice": terms_days}, "clients": {"ACME": {"plan": {
        "payment_terms_days": terms_days, "prices": [{"from": "2023-04", "unit_price": "10"}]}}}})
    job = ClientJob(1, "ACME", "Acme Ltd", "Asia/Dhaka", BillingMonth(2023, 5), "accounts@acme.example", None)
    invoice = delivery_steps.draft_invoice(job, {"active": 3}, config)("SKR-000001", [])
    assert invoice.invoice_date == date(2023, 6, 1)
    assert invoice.due_date == invoice.objection_deadline == due
    assert invoice.finance_row()["due_date"] == due.isoformat()
