from datetime import datetime, timezone

import pytest

from include.dms_billing.core.billing_month import (
    BillingMonth,
    ClientTimezoneError,
    PolicyError,
    billing_window,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("tz", "start", "end"),
    [
        ("Asia/Dhaka", utc(2023, 4, 30, 18), utc(2023, 5, 31, 18)),
        ("Asia/Kolkata", utc(2023, 4, 30, 18, 30), utc(2023, 5, 31, 18, 30)),
        ("America/New_York", utc(2023, 5, 1, 4), utc(2023, 6, 1, 4)),
        ("UTC", utc(2023, 5, 1), utc(2023, 6, 1)),
    ],
)
def test_window_is_local_midnights_in_utc(tz: str, start: datetime, end: datetime) -> None:
    window = billing_window(BillingMonth(2023, 5), tz)
    assert (window.start, window.end, window.login_start) == (start, end, start)


def test_window_across_a_dst_change_uses_each_midnights_own_offset() -> None:
    # New York leaves DST on 5 November 2023: the month starts at -04:00 and ends at -05:00.
    window = billing_window(BillingMonth(2023, 11), "America/New_York")
    assert window.start == utc(2023, 11, 1, 4)
    assert window.end == utc(2023, 12, 1, 5)


def test_transition_month_counts_logins_from_16_april_local() -> None:
    window = billing_window(BillingMonth(2023, 4), "Asia/Dhaka")
    assert window.start == utc(2023, 3, 31, 18)
    assert window.login_start == utc(2023, 4, 15, 18)
    assert window.end == utc(2023, 4, 30, 18)


def test_months_before_the_policy_are_refused() -> None:
    with pytest.raises(PolicyError, match="before the billing policy started"):
        billing_window(BillingMonth(2023, 3), "Asia/Dhaka")


def test_unknown_timezone_is_named() -> None:
    with pytest.raises(ClientTimezoneError, match="Mars/Olympus"):
        billing_window(BillingMonth(2023, 5), "Mars/Olympus")


@pytest.mark.parametrize("text", ["2023-5", "2023-13", "23-05", "2023-05-01", "", "2023-05; DROP TABLE users"])
def test_billing_month_parse_refuses_anything_but_yyyy_mm(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        BillingMonth.parse(text)


def test_month_arithmetic_and_data_interval_month() -> None:
    assert str(BillingMonth(2023, 12).next()) == "2024-01"
    assert str(BillingMonth(2024, 1).previous()) == "2023-12"
    # The scheduled run for May starts 2023-05-01 00:00 Dhaka = 2023-04-30 18:00 UTC.
    assert BillingMonth.containing(utc(2023, 4, 30, 18)) == BillingMonth(2023, 5)
