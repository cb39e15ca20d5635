"""What finance is shown before approving a month's invoices, and what an answer decides."""

from __future__ import annotations

from decimal import Decimal

import pytest
from jsonschema import FormatChecker, validate

from include.dms_billing.core.approval import (
    APPROVE, HOLD_ALL, ApprovalRow, ListsLocation, approval_body, decide, hold_schema, not_asked,
)
from include.dms_billing.mail.approval_email import approval_request_html

CODES = ["DHAKA1", "KOLKATA1", "MEGHNA"]
DATA = "DMS_BILLING_DATA"


def _decide(chosen, hold=None, by=None):
    return decide(chosen, {"hold": hold}, by, CODES, billing_month="2023-05", run_id="r1")


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
    body = approval_body("2023-05", rows, ListsLocation("billable/billing_month=2023-05/", DATA))
    line = next(text for text in body.splitlines() if "DHAKA1" in text)
    assert "\\|" in line and "\\*Foods\\*" in line and line.count(" | ") == 5  # the name's pipe cannot split the row
    assert "| 120 | 100 | 20 |" in line and "5 more than 2023\\-04" in line and "20,700.00 BDT" in line
    assert "| BROKEN Broken Ltd | no list |" in body


ROWS = [ApprovalRow("DHAKA1", "Dhaka Ltd", 120, {"active": 120}, "", Decimal("20700.00"), "BDT"),
        ApprovalRow("MEGHNA", "Meghna Foods Ltd", 80, {"active": 80}, "", Decimal("13800.00"), "BDT"),
        ApprovalRow("KOLKATA1", "Kolkata Ltd", None)]


def _shown(root: str) -> tuple[str, str]:
    """What finance reads of where the lists are: the approval's body and its email."""
    lists = ListsLocation.under("billable/billing_month=2023-05/", root, DATA)
    return approval_body("2023-05", ROWS, lists), approval_request_html(
        "2023-05", ROWS, lists=lists, link=None, timeout_at="2023-06-01T00:00+00:00", on_timeout="approve")


@pytest.mark.parametrize("root", ["/opt/airflow/data", "/tmp/pytest-of-ci/test_x0/data"])
def test_finance_reads_where_the_lists_are_without_a_machine_path(root: str) -> None:
    """A local data root is a path on the workers' disk: the body and the email name the month's
    folder in the billing data folder, by its setting, never the host's path."""
    for shown in _shown(root):
        assert "billable/billing_month=2023-05/" in shown and "DMS_BILLING_DATA" in shown
        assert "billing data folder" in shown and root not in shown, shown


def test_lists_on_an_object_store_name_the_bucket_but_not_the_airflow_connection() -> None:
    for shown in _shown("s3://dms_billing_store@dms-billing/data"):  # the Airflow connection's id, then the bucket
        assert "s3://dms-billing/data" in shown and "billable/billing_month=2023-05/" in shown
        assert "dms_billing_store" not in shown


@pytest.mark.parametrize("empty", [[], None])
def test_an_empty_hold_answer_is_valid_and_approves_every_client(empty: list | None) -> None:
    """What Airflow's form sends when finance holds nobody: the untouched list, or null once cleared."""
    validate(empty, hold_schema(ROWS), format_checker=FormatChecker())  # as Airflow checks the answer
    decision = _decide([APPROVE], empty, {"id": "finance", "name": "finance"})
    assert decision.held == () and decision.decided_by == "finance"


def test_finance_chooses_whom_to_hold_among_the_clients_with_a_list() -> None:
    schema = hold_schema(ROWS)
    assert schema["examples"] == ["DHAKA1", "MEGHNA"]  # KOLKATA1 has no list, so no invoice to hold
    assert schema["values_display"]["MEGHNA"] == "MEGHNA Meghna Foods Ltd"
    validate(["MEGHNA"], schema, format_checker=FormatChecker())
    assert _decide([APPROVE], ["MEGHNA"]).held == ("MEGHNA",)


def test_a_run_that_is_not_asked_holds_nothing_and_says_why() -> None:
    decision = not_asked("2023-05", "r1", "the run does not deliver")
    assert decision.held == () and not decision.asked and decision.decided_by == "not asked: the run does not deliver"
