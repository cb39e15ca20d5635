"""Finance's approval around the ledger: how long finance has, and which invoices a decision holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from include.dms_billing.core.approval import ApprovalDecision, ListsLocation, approval_body, not_asked
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.flows.approval_steps import approval_rows, held_by, record_step, response_timeout
from include.dms_billing.mail.approval_email import approval_request_html
from include.dms_billing.outputs.billable_list import write_billable_list
from include.dms_billing.outputs.paths import client_month_paths
from tests.support.samples import make_billed

DHAKA = ClientJob(1, "DHAKA1", "Dhaka Ltd", "Asia/Dhaka", BillingMonth(2023, 5), "billing@dhaka.example", None)
LIMA = ClientJob(2, "LIMA1", "Lima SAC", "America/Lima", BillingMonth(2023, 5), "billing@lima.example", None)


def test_finance_has_until_the_first_clients_invoice_moment_after_its_closures() -> None:
    # 1 June 2023 is a Thursday; a closure on the 1st and the weekend push Dhaka's invoice to Sunday the 4th.
    config = parse_config({"defaults": {"calendar": {"extra_closures": ["2023-06-01"]}}})
    now = datetime(2023, 6, 1, 0, 0, tzinfo=timezone.utc)
    first = datetime(2023, 6, 3, 18, 0, tzinfo=timezone.utc)  # 4 June 00:00 in Dhaka (Lima's comes later)
    assert response_timeout([LIMA, DHAKA], config, now) == first - now


def test_a_late_run_still_gives_finance_the_minimum_wait() -> None:
    config = parse_config({"approval": {"min_wait_minutes": 90}})
    assert response_timeout([DHAKA], config, datetime(2023, 7, 20, tzinfo=timezone.utc)) == timedelta(minutes=90)


def test_no_wait_configured_still_waits_long_enough_for_airflow_to_park_the_task() -> None:
    config = parse_config({"approval": {"min_wait_minutes": 0}})
    assert response_timeout([DHAKA], config, datetime(2023, 7, 20, tzinfo=timezone.utc)) == timedelta(seconds=20)


def test_only_the_held_clients_invoices_are_held_by_the_runs_latest_decision(ledger_engine) -> None:
    assert held_by(ledger_engine, DHAKA, "r1") is None  # no decision: a run from before approvals
    record_step(ledger_engine, ApprovalDecision("2023-05", "r1", ("DHAKA1",), "finance", True))
    assert held_by(ledger_engine, DHAKA, "r1").decided_by == "finance"
    assert held_by(ledger_engine, LIMA, "r1") is None
    assert held_by(ledger_engine, DHAKA, "r2") is None  # another run of the month asks again
    record_step(ledger_engine, not_asked("2023-05", "r1", "the run does not deliver"))  # the task cleared, re-run
    assert held_by(ledger_engine, DHAKA, "r1") is None


def test_a_client_without_a_plan_shows_its_list_and_no_invoice_and_the_others_are_drafted(
    ledger_engine, data_root
) -> None:
    """Its list goes out without a price (README, ``clients.CODE.plan``): finance sees its counts
    and that it gets no invoice, and the request is still made for the clients with a plan."""
    billed = make_billed()
    for job in (DHAKA, LIMA):
        write_billable_list(billed.assign(client_code=job.client_code), len(billed), 0,
                            client_month_paths("2023-05", job.client_code), data_root / "report.json")
    config = parse_config({"clients": {"DHAKA1": {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}}})

    rows = {row.client_code: row for row in approval_rows(ledger_engine, [DHAKA, LIMA], config)}

    assert (rows["LIMA1"].billable, rows["LIMA1"].amount) == (4, None)
    assert rows["DHAKA1"].amount == Decimal("690.00")  # 4 users at 150.00, VAT 15%
    lists = ListsLocation("billable/billing_month=2023-05/", "DMS_BILLING_DATA")
    html = approval_request_html("2023-05", list(rows.values()), lists=lists, link=None,
                                 timeout_at="2023-06-01T00:00+00:00", on_timeout="approve")
    for shown in (approval_body("2023-05", list(rows.values()), lists), html):
        assert "no plan: no invoice" in shown and "690.00 BDT" in shown
