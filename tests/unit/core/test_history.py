"""The history model: 12 months ending at the billing month, no data never a zero, currencies apart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.dms_billing.core.history import (
    AMOUNT_EXPECTED,
    AMOUNT_INVOICED,
    NOT_SPLIT,
    MonthPoint,
    client_history,
    finance_history,
    window,
)


def test_the_window_is_twelve_months_ending_at_the_month_across_a_year_end() -> None:
    assert window("2024-02") == ("2023-03", "2023-04", "2023-05", "2023-06", "2023-07", "2023-08", "2023-09",
                                 "2023-10", "2023-11", "2023-12", "2024-01", "2024-02")
    assert window("2024-01", 13)[:2] == ("2023-01", "2023-02") and window("2023-12")[0] == "2023-01"


def test_months_not_known_are_no_data_and_known_ones_are_kept_as_given() -> None:
    december = MonthPoint("2023-12", {"active": 3, "inactive_recent_login": 1}, Decimal("517.50"), "BDT",
                          AMOUNT_INVOICED)
    january = MonthPoint("2024-01", {"active": 5}, Decimal("750.00"), "BDT", AMOUNT_EXPECTED)
    outside = MonthPoint("2024-02", {"active": 9}, Decimal("1"), "BDT", AMOUNT_INVOICED)
    history = client_history("ACME", "2024-01", [january, december, outside])
    assert [p.billing_month for p in history.months] == list(window("2024-01"))
    assert history.months[-2:] == (december, january) and history.currency == "BDT"
    assert history.no_data_months == window("2024-01")[:10]
    empty = history.months[0]
    assert not empty.has_data and (empty.by_reason, empty.billable, empty.amount) == (None, None, None)
    data = history.to_data()
    assert data["months"][0] == {"billing_month": "2023-02", "by_reason": None, "billable": None, "amount": None,
                                 "currency": None, "amount_kind": None}
    assert data["months"][-2]["by_reason"] == {"active": 3, "inactive_recent_login": 1}
    assert data["months"][-2]["amount"] == "517.50" and data["months"][-1]["amount_kind"] == AMOUNT_EXPECTED


def test_a_point_refuses_an_amount_without_currency_and_unknown_reasons() -> None:
    with pytest.raises(ValueError, match="currency"):
        MonthPoint("2023-05", {"active": 1}, Decimal("1"))
    with pytest.raises(ValueError, match="not reasons"):
        MonthPoint("2023-05", {"gone": 1})
    assert MonthPoint("2023-05", {NOT_SPLIT: 4}).billable == 4  # counts without an amount: a list, no invoice


def test_the_client_currency_is_the_latest_amounts() -> None:
    points = [MonthPoint("2023-04", {"active": 1}, Decimal("10"), "USD", AMOUNT_INVOICED),
              MonthPoint("2023-05", {"active": 1}, Decimal("150"), "BDT", AMOUNT_INVOICED)]
    assert client_history("X", "2023-05", points).currency == "BDT"
    assert client_history("X", "2023-05", []).currency is None


def test_finance_totals_per_currency_against_the_twelve_months_before() -> None:
    invoiced = [("2024-01", "BDT", Decimal("100.00")), ("2024-01", "BDT", Decimal("50.50")),
                ("2024-01", "USD", Decimal("20.00")), ("2023-03", "BDT", Decimal("70.00")),
                ("2023-12", "BDT", Decimal("0.00")), ("2022-12", "BDT", Decimal("999")),  # before the window
                ("2024-02", "BDT", Decimal("999"))]
    history = finance_history("2024-01", invoiced)
    assert history.months == window("2024-01", 13) and history.months[0] == "2023-01"
    assert history.currencies == ("BDT", "USD")
    bdt, usd = history.totals["BDT"], history.totals["USD"]
    assert bdt[-1] == Decimal("150.50") and usd[-1] == Decimal("20.00")
    assert bdt[2] == Decimal("70.00") and bdt[-2] == Decimal("0.00")  # invoiced at zero: a zero, not no data
    assert bdt[0] is None and usd[:-1] == (None,) * 12  # no invoice in USD before: no data, never 0
    assert history.invoice_counts[-1] == 3 and history.invoice_counts[0] == 0
    assert history.to_data()["totals"]["USD"][-1] == "20.00"
