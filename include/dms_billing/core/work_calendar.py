"""Working days: when a month's invoice is dated (contract section 3).

The ``holidays`` library decides what a working day is, for the client's country (Bangladesh:
Friday and Saturday off, plus its public holidays), moved work-days included (a Saturday a
country declares a working day is one); closures of our own from the configuration are added to
its calendar as holidays. Dates follow the calendar, never "today": a late run dates its invoice
as an on-time run would have.
"""

from __future__ import annotations

from calendar import day_name
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import holidays
from holidays.registry import COUNTRIES

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import BillingConfig, Calendar

MAX_CLOSED_DAYS = 31  # a calendar closed for a whole month is a configuration error
CLOSURE = "Sokrio closure"  # the holiday name our configured closures carry in the library's calendar
# UTC-12, the westmost offset of any timezone: no client's local midnight comes later. Client
# timezones live in the DMS, which the scheduler (where the deadline is worked out) does not read.
WESTMOST = timezone(timedelta(hours=-12))


class CalendarError(ValueError):
    """The calendar cannot give a working day (unknown country, or closed for weeks)."""


@lru_cache(maxsize=64)
def _working_days(country: str, closures: tuple[date, ...]) -> holidays.HolidayBase:
    """The library's calendar of ``country`` with ``closures`` added as holidays: cached, since a
    month of many clients asks it thousands of times; it adds each year's holidays when first
    asked about that year (``expand``), so a search crossing into January sees the new year's."""
    # A moved work-day can be declared in the year next to it (a Sunday in December worked for
    # a day off in January): fill the years around each closure first, so no later year declares
    # a closed day a work-day again.
    around = {day.year + step for day in closures for step in (-1, 0, 1)}
    try:
        calendar = holidays.country_holidays(country, years=around)
    except NotImplementedError:
        raise CalendarError(f"the holidays library has no calendar for country {country!r}") from None
    calendar.update({day: CLOSURE for day in closures})
    calendar.weekend_workdays.difference_update(closures)  # the library asks these before holidays
    return calendar


def _library(calendar: Calendar) -> holidays.HolidayBase:
    return _working_days(calendar.country, tuple(sorted(set(calendar.extra_closures))))


def is_working_day(day: date, calendar: Calendar) -> bool:
    return _library(calendar).is_working_day(day)


def first_working_day_of(month: BillingMonth, calendar: Calendar) -> date:
    """The first working day on or after the 1st of ``month``."""
    return next_working_day(month.first_day, calendar)


def invoice_date(billing_month: BillingMonth, calendar: Calendar) -> date:
    """The invoice date for ``billing_month``: the first working day of the next month."""
    return first_working_day_of(billing_month.next(), calendar)


def run_deadline(billing_month: BillingMonth, config: BillingConfig) -> datetime:
    """When a run of ``billing_month`` should be done (UTC): ``deadline.after_invoice_day_hours``
    after the latest invoice day of any calendar begins, in the westmost timezone."""
    latest = max(invoice_date(billing_month, calendar) for calendar in config.calendars())
    start = datetime.combine(latest, time(0), tzinfo=WESTMOST)
    return (start + timedelta(hours=config.deadline.after_invoice_day_hours)).astimezone(timezone.utc)


def next_working_day(day: date, calendar: Calendar) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    found = _library(calendar).get_nth_working_day(day, 0)
    if (found - day).days >= MAX_CLOSED_DAYS:
        raise CalendarError(f"no working day in the {MAX_CLOSED_DAYS} days from {day}: check the closures")
    return found


def due_date(invoiced: date, payment_terms_days: int, calendar: Calendar) -> date:
    """When an invoice dated ``invoiced`` is due: the payment terms in calendar days, moved to the
    next working day when they end on a day off (nobody can pay a bank on Eid)."""
    return next_working_day(invoiced + timedelta(days=payment_terms_days), calendar)


def objection_deadline(invoiced: date, days_after_invoice: int, calendar: Calendar) -> date:
    """The last day a client can object to the bill of an invoice dated ``invoiced``: the
    configured days after it, moved to the next working day like a due date."""
    return next_working_day(invoiced + timedelta(days=days_after_invoice), calendar)


def days_off(calendar: Calendar) -> str:
    """The calendar's days off as a client reads them (the FAQ): ``the weekend (Friday and
    Saturday) and the public holidays of Bangladesh``, plus our own closures if any."""
    weekend = " and ".join(day_name[day] for day in sorted(_library(calendar).weekend))
    country = next((module.replace("_", " ").title() for module, (_, code, *_) in COUNTRIES.items()
                    if code == calendar.country), calendar.country)
    closures = ", plus Sokrio's own closures" if calendar.extra_closures else ""
    return f"the weekend ({weekend}) and the public holidays of {country}{closures}"
