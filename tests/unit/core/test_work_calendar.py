"""Invoice dates: the first working day after the billing month (contract section 3)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import Calendar, parse_config
from include.dms_billing.core.work_calendar import CalendarError, invoice_date, run_deadline

BANGLADESH = Calendar()


@pytest.mark.parametrize(
    ("billing_month", "expected", "why"),
    [
        ("2023-04", date(2023, 5, 2), "1 May 2023 is May Day"),
        ("2023-05", date(2023, 6, 1), "1 June 2023 is a Thursday"),
        ("2023-06", date(2023, 7, 2), "1 July 2023 is a Saturday and Eid al-Adha"),
        ("2023-08", date(2023, 9, 3), "1 September 2023 is a Friday, the 2nd a Saturday"),
        ("2023-11", date(2023, 12, 3), "1 December 2023 is a Friday"),
        ("2024-05", date(2024, 6, 2), "1 June 2024 is a Saturday"),
        ("2023-09", date(2023, 10, 1), "1 October 2023 is a Sunday, a working day"),
    ],
)
def test_invoice_date_is_the_first_working_day(billing_month: str, expected: date, why: str) -> None:
    assert invoice_date(BillingMonth.parse(billing_month), BANGLADESH) == expected, why


def test_extra_closures_push_the_date() -> None:
    closed = Calendar(extra_closures=(date(2023, 6, 1), date(2023, 6, 4)))
    assert invoice_date(BillingMonth(2023, 5), closed) == date(2023, 6, 5)  # 2-3 June: weekend


def test_another_country_has_its_own_weekend_and_holidays() -> None:
    india = Calendar(country="IN")
    assert invoice_date(BillingMonth(2023, 9), india) == date(2023, 10, 3)  # Sunday 1st, Gandhi Jayanti 2nd


def test_an_unknown_country_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match="'XX'"):
        invoice_date(BillingMonth(2023, 5), Calendar(country="XX"))


# Eid al-Fitr 2025 is 31 March to 2 April in the holidays library: March's invoice day is 3 April.
EID_MONTH = BillingMonth(2025, 3)


def test_the_run_deadline_follows_the_latest_invoice_day_of_the_month() -> None:
    assert invoice_date(EID_MONTH, BANGLADESH) == date(2025, 4, 3)
    # 00:00 on 3 April at UTC-12 (12:00 UTC), then the default 12 hours.
    assert run_deadline(EID_MONTH, parse_config({})) == datetime(2025, 4, 4, tzinfo=timezone.utc)
    # A month without a holiday after it gets an earlier deadline: 1 June 2023 is a working day.
    assert run_deadline(BillingMonth(2023, 5), parse_config({})) == datetime(2023, 6, 2, tzinfo=timezone.utc)


def test_the_run_deadline_waits_for_the_latest_calendar_and_the_configured_hours() -> None:
    # One client's calendar keeps a longer Eid holiday than the library's, closing 3 April too;
    # the 4th and 5th are the weekend, so its invoice day is 6 April, and the run's deadline follows it.
    config = parse_config({
        "deadline": {"after_invoice_day_hours": 6},
        "clients": {"LONG_EID": {"calendar": {"extra_closures": ["2025-04-03"]}}},
    })
    assert invoice_date(EID_MONTH, config.calendar("LONG_EID")) == date(2025, 4, 6)
    assert run_deadline(EID_MONTH, config) == datetime(2025, 4, 6, 18, tzinfo=timezone.utc)
