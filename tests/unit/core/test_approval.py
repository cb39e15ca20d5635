"""What finance is shown before approving a month's invoices, and what an answer decides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dms_billing.core.approval import APPROVE, HOLD_ALL, ApprovalRow, approval_body, decide, not_asked

CODES = ["DHAKA1", "KOLKATA1", "MEGHNA"]


def _decide(chosen, hold=None, by=None):
    return decide(chosen, {"hold": hold or []}, by, CODES, billing_month="2023-05", run_id="r1")


def test_approving_with_clients_to_hold_holds_exactly_those_and_names_who_decided() -> None:
    decision = _decide([APPROVE], [" MEGHNA", "DHAKA1"], {"id": "finance", "name": "finance"})
    assert decision.held == ("DHAKA1", "MEGHNA") and decision.decided_by == "finance" and decision.asked


def test_hold_all_holds_every_client_and_a_timeout_is_recorded_as_such() -> None:
    assert _decide([HOLD_ALL]).held == tuple(CODES)
    timed_out = _decide([APPROVE])
    assert timed_out.held == () and timed_out.decided_by == "timeout"


def test_a_client_not_in_the_run_or_an_unknown_option_is_refused() -> None:
    with pytest.raises(ValueError, match="NOPE"):
        _decide([APPROVE], ["NOPE"])
    with pytest.raises(ValueError, match="unexpected answer"):
        _decide(["Reject"])


def test_the_body_shows_counts_change_and_amount_and_keeps_names_from_becoming_markup() -> None:
    rows = [
        ApprovalRow("DHAKA1", "Dhaka | *Foods*", 120, {"active": 100, "inactive_recent_login": 20},
                    "120 billable users, 5 more than 2023-04 (115)", Decimal("20700.00"), "BDT"),
        ApprovalRow("BROKEN", "Broken Ltd", None),
    ]
    body = approval_body("2023-05", rows, "s3://bucket/billable/billing_month=2023-05")
    line = next(text for text in body.splitlines() if "DHAKA1" in text)
    assert "\\|" in line and "\\*Foods\\*" in line and line.count(" | ") == 5  # the name's pipe cannot split the row
    assert "| 120 | 100 | 20 |" in line and "5 more than 2023\\-04" in line and "20,700.00 BDT" in line
    assert "| BROKEN Broken Ltd | no list |" in body
    assert "s3://bucket/billable/billing_month=2023-05" in body


def test_a_run_that_is_not_asked_holds_nothing_and_says_why() -> None:
    decision = not_asked("2023-05", "r1", "the run does not deliver")
    assert decision.held == () and not decision.asked and decision.decided_by == "not asked: the run does not deliver"
