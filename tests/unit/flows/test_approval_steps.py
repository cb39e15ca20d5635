"""Finance's approval around the ledger: how long finance has, and which invoices a decision holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from include.dms_billing.core.approval import ApprovalDecision, not_asked
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.flows.approval_steps import held_by, record_step, response_timeout

DHAKA = ClientJob(1, "DHAKA1", "Dhaka Ltd", "Asia/Dhaka", "2023-05", "billing@dhaka.example", None)
LIMA = ClientJob(2, "LIMA1", "Lima SAC", "America/Lima", "2023-05", "billing@lima.example", None)


def test_finance_has_until_the_first_clients_invoice_moment_after_its_closures() -> None:
    # 1 June 2023 is a Thursday; a closure on the 1st and the weekend push Dhaka's invoice to Sunday the 4th.
    config = parse_config({"defaults": {"calendar": {"extra_closures": ["2023-06-01"]}}})
    now = datetime(2023, 6, 1, 0, 0, tzinfo=timezone.utc)
    first = datetime(2023, 6, 3, 18, 0, tzinfo=timezone.utc)  # 4 June 00:00 in Dhaka (Lima's comes later)
    assert response_timeout([LIMA, DHAKA], config, now) == first - now


def test_a_late_run_still_gives_finance_the_minimum_wait() -> None:
    config = parse_config({"approval": {"min_wait_minutes": 90}})
    assert response_timeout([DHAKA], config, datetime(2023, 7, 20, tzinfo=timezone.utc)) == timedelta(minutes=90)


def test_only_the_held_clients_invoices_are_held_by_the_runs_latest_decision(ledger_engine) -> None:
    assert held_by(ledger_engine, DHAKA, "r1") is None  # no decision: a run from before approvals
    record_step(ledger_engine, ApprovalDecision("2023-05", "r1", ("DHAKA1",), "finance", True))
    assert held_by(ledger_engine, DHAKA, "r1").decided_by == "finance"
    assert held_by(ledger_engine, LIMA, "r1") is None
    assert held_by(ledger_engine, DHAKA, "r2") is None  # another run of the month asks again
    record_step(ledger_engine, not_asked("2023-05", "r1", "the run does not deliver"))  # the task cleared, re-run
    assert held_by(ledger_engine, DHAKA, "r1") is None
