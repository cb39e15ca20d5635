"""Invoice dates: the first working day after the billing month (contract section 3), working days
as the ``holidays`` library publishes them, moved work-days included, with our closures on top."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import holidays
import pytest

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import Calendar, parse_config
from include.dms_billing.core.work_calendar import (
    CalendarError,
    invoice_date,
    is_working_day,
    next_working_day,
    run_deadline,
)

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


# Moved work-days: Russia's government moves days off next to holidays and declares a Saturday
# worked in exchange. In 2025 Saturday 1 November was a working day and Monday 3 November a day
# off (before Unity Day on the 4th); the holidays library publishes it as such.
RUSSIA = Calendar(country="RU")


def test_a_saturday_declared_a_working_day_is_one() -> None:
    assert is_working_day(date(2025, 11, 1), RUSSIA)  # a Saturday
    assert not is_working_day(date(2025, 11, 3), RUSSIA)  # the Monday given off for it
    assert invoice_date(BillingMonth(2025, 10), RUSSIA) == date(2025, 11, 1)
    assert next_working_day(date(2025, 11, 2), RUSSIA) == date(2025, 11, 5)  # Sunday, the 3rd off, Unity Day


def test_a_moved_work_day_across_new_year_is_found_in_the_next_years_calendar() -> None:
    """Kazakhstan, 2025: 1-2 January New Year, Friday the 3rd off for Sunday the 5th worked. A
    calendar first asked about December 2024 must look in 2025's for December's invoice day."""
    kazakhstan = Calendar(country="KZ")
    assert is_working_day(date(2024, 12, 31), kazakhstan)
    assert invoice_date(BillingMonth(2024, 12), kazakhstan) == date(2025, 1, 5)


def test_a_closure_on_a_moved_work_day_closes_it() -> None:
    """Azerbaijan worked Sunday 29 December 2024 for a day off on 3 January 2025: the moved day
    is declared in 2025's calendar. Closed by us, it stays closed whichever year is asked first."""
    closed = Calendar(country="AZ", extra_closures=(date(2024, 12, 29),))
    assert is_working_day(date(2024, 12, 29), Calendar(country="AZ"))
    assert is_working_day(date(2026, 1, 5), closed) and not is_working_day(date(2025, 1, 3), closed)
    assert not is_working_day(date(2024, 12, 29), closed)
    # 30 December to 5 January are days off: holidays, the weekend and the day moved from the 29th.
    assert next_working_day(date(2024, 12, 29), closed) == date(2025, 1, 6)


def _library_working_days(calendar: Calendar, year: int) -> dict[date, bool]:
    """The oracle: the holidays library's own answer for each day of ``year`` and the next
    January, a working day unless one of our closures closes it."""
    library = holidays.country_holidays(calendar.country, years=range(year - 1, year + 2))
    first, end = date(year, 1, 1), date(year + 1, 2, 1)
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    return {day: library.is_working_day(day) and day not in calendar.extra_closures for day in days}


@pytest.mark.parametrize(
    ("calendar", "year", "weekend_worked"),
    [
        (RUSSIA, 2025, [date(2025, 11, 1)]),
        # Closed by us: a weekday and the moved work-day of 2 November; the other two still work.
        (Calendar(country="RU", extra_closures=(date(2024, 6, 10), date(2024, 11, 2))), 2024,
         [date(2024, 4, 27), date(2024, 12, 28)]),
        (Calendar(country="KZ"), 2024, [date(2024, 5, 4), date(2025, 1, 5)]),
        (Calendar(extra_closures=(date(2025, 4, 3), date(2025, 12, 14))), 2025, []),
        (BANGLADESH, 2023, []),
    ],
    ids=["RU-2025", "RU-2024-closures", "KZ-2024", "BD-2025-closures", "BD-2023"],
)
def test_every_day_of_a_year_agrees_with_the_library(
    calendar: Calendar, year: int, weekend_worked: list[date]
) -> None:
    working = _library_working_days(calendar, year)
    days = sorted(working)
    weekend = holidays.country_holidays(calendar.country).weekend
    assert [day for day in days if working[day] and day.weekday() in weekend] == weekend_worked  # the data
    assert [day for day in days if is_working_day(day, calendar) != working[day]] == []
    # The next working day of each day of the year: the first day on or after it the oracle works.
    expected: dict[date, date] = {}
    for day in reversed(days):
        expected[day] = day if working[day] else expected.get(day + timedelta(days=1), day)
    wrong = [day for day in days if day.year == year and next_working_day(day, calendar) != expected[day]]
    assert wrong == []
    months = [BillingMonth(year - 1, 12)] + [BillingMonth(year, m) for m in range(1, 12)]
    assert {str(m): invoice_date(m, calendar) for m in months} == {
        str(m): expected[m.next().first_day] for m in months
    }
