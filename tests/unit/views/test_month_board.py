"""The billing page's rows: what the ledger recorded joined with what the outputs hold, per client."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from include.dms_billing.ledger.month_records import (
    ApprovalRecord,
    DeliveryRecord,
    InvoiceRecord,
    MonthRecords,
    ObjectionRecord,
    SealRecord,
)
from include.dms_billing.outputs.billable_list import ListSummary
from include.dms_billing.views.month_board import StoredClient, board_rows, select_rows

MONTH = "2023-05"
AT = datetime(2023, 6, 1, 0, 5, tzinfo=timezone.utc)


def _summary(code: str, active: int, inactive: int) -> ListSummary:
    return ListSummary(code, MONTH, active + inactive + 3, active + inactive,
                       {"active": active, "inactive_recent_login": inactive}, 0, "p", "c", "r", f"{code} Ltd", "Asia/Dhaka")


def _stored(code: str, active: int = 5, inactive: int = 1, previous: int | None = 4, **changes) -> StoredClient:
    values = {"summary": _summary(code, active, inactive), "previous_billable": previous,
              "validation": {"success": True}, "kept_unsent": frozenset(), "revisions": ()}
    return StoredClient(**{**values, **changes})


def _invoice(number: str, total: str, currency: str = "BDT") -> InvoiceRecord:
    return InvoiceRecord(number, currency, Decimal(total), date(2023, 6, 4), date(2023, 6, 19), AT)


def _records() -> MonthRecords:
    return MonthRecords(
        MONTH,
        invoices={"MEGHNA": _invoice("SOK-2023-0001", "1725.00"), "LIMA": _invoice("SOK-2023-0002", "90.50", "USD")},
        deliveries={("MEGHNA", "list"): DeliveryRecord("sent", "a@meghna.example", AT, 2, None),
                    ("MEGHNA", "invoice"): DeliveryRecord("sent", "a@meghna.example", AT, 1, None),
                    ("PADMA", "list"): DeliveryRecord("sent", "b@padma.example", AT, 1, None),
                    ("LIMA", "list"): DeliveryRecord("sent", "c@lima.example", AT, 1, None),
                    ("LIMA", "invoice"): DeliveryRecord("failed", "c@lima.example", None, 1, "relay refused"),
                    ("*", "finance_summary"): DeliveryRecord("sent", "f@x.example", AT, 1, None)},
        seals={"MEGHNA": SealRecord(AT, "invoice", "SOK-2023-0001"), "PADMA": SealRecord(AT, "list_sent", None)},
        approval=ApprovalRecord("finance", True, ("PADMA",), AT, "run-1"),
        objections={"MEGHNA": [ObjectionRecord("credit", 2, "SOK-2023-0001")]},
        waiting={"MEGHNA": Decimal("-300.00")},
    )


def _board():
    stored = {"MEGHNA": _stored("MEGHNA", previous=1, revisions=("r1",)), "PADMA": _stored("PADMA", previous=None),
              "LIMA": _stored("LIMA"),
              "BROKEN": StoredClient(None, None, {"success": False, "failures": [
                  {"expectation": "expect_column_values_to_be_in_set", "column": "status", "unexpected_count": 1}]},
                  frozenset(), ()),
              "ARCHIVED": _stored("ARCHIVED", kept_unsent=frozenset({"list"}))}
    return board_rows(_records(), stored)


def test_each_client_reads_what_the_ledger_and_the_outputs_say() -> None:
    rows = {row.client_code: row for row in _board().rows}
    assert list(rows) == ["ARCHIVED", "BROKEN", "LIMA", "MEGHNA", "PADMA"]  # the finance summary's '*' is no client
    meghna = rows["MEGHNA"]
    assert (meghna.billable, meghna.change, meghna.by_reason) == (6, 5, {"active": 5, "inactive_recent_login": 1})
    assert (meghna.list_state, meghna.list_emails, meghna.sealed, meghna.revisions) == ("sent", 2, True, ["r1"])
    assert (meghna.invoice_number, meghna.total, meghna.invoice_state) == ("SOK-2023-0001", "1725.00", "sent")
    assert (meghna.approval, meghna.approved_by) == ("approved", "finance")
    assert (meghna.objections, meghna.objected_users, meghna.credit_waiting) == (1, 2, "-300.00")
    assert meghna.states == ["invoiced", "objected", "revised"] and meghna.failure is None
    padma = rows["PADMA"]
    assert (padma.approval, padma.invoice_number, padma.change) == ("held", None, None)
    assert padma.states == ["held"]  # its list went out; no invoice, because finance held it
    lima = rows["LIMA"]
    assert lima.states == ["failed", "not sent", "invoiced"] and "relay refused" in lima.failure
    broken = rows["BROKEN"]
    assert broken.billable is None and broken.report
    assert broken.failure == "validation failed: status: expect_column_values_to_be_in_set (1 row)"
    assert broken.states == ["failed"]
    assert rows["ARCHIVED"].list_state == "kept unsent" and "not sent" in rows["ARCHIVED"].states


def test_totals_are_per_currency_and_the_approval_is_the_months() -> None:
    board = _board()
    assert board.totals == {"BDT": "1725.00", "USD": "90.50"}
    assert board.approval["held"] == ["PADMA"] and board.approval["decided_by"] == "finance"
    data = board.to_data()
    assert data["billing_month"] == MONTH and len(data["clients"]) == 5


@pytest.mark.parametrize(("state", "codes"), [
    ("failed", ["BROKEN", "LIMA"]), ("held", ["PADMA"]), ("not sent", ["ARCHIVED", "LIMA"]),
    ("invoiced", ["LIMA", "MEGHNA"]), ("objected", ["MEGHNA"]), ("revised", ["MEGHNA"]),
])
def test_a_state_filters_the_rows(state: str, codes: list[str]) -> None:
    assert [row.client_code for row in select_rows(_board().rows, state)] == codes


def test_sorting_puts_rows_without_the_value_last_either_way() -> None:
    rows = _board().rows
    assert [r.client_code for r in select_rows(rows, sort="total")] == ["LIMA", "MEGHNA", "ARCHIVED", "BROKEN", "PADMA"]
    assert [r.client_code for r in select_rows(rows, sort="total", descending=True)][:2] == ["MEGHNA", "LIMA"]
    assert [r.client_code for r in select_rows(rows, sort="change", descending=True)][:1] == ["MEGHNA"]
    assert [r.client_code for r in select_rows(rows, codes=frozenset({"PADMA"}))] == ["PADMA"]
