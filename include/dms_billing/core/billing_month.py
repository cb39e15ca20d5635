"""Billing months and their windows in a client's timezone (contract section 2).

A billing month is a calendar month label; each client's window is that month's local
midnights in its own timezone, converted to UTC because the DMS stores UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SCHEDULE_TIMEZONE = "Asia/Dhaka"  # the DAG's schedule, and the zone its data interval is read in


class PolicyError(ValueError):
    """A run the billing policy does not allow (a month before the policy started)."""


class ClientTimezoneError(ValueError):
    """A client's timezone is not a known IANA name."""


_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class BillingMonth:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> BillingMonth:
        """Parse ``YYYY-MM``; anything else is refused with the value it got."""
        match = _MONTH_RE.match(str(text).strip())
        if not match:
            raise ValueError(f"billing_month must look like YYYY-MM (e.g. 2023-05), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, moment: datetime, tz: str = SCHEDULE_TIMEZONE) -> BillingMonth:
        """The month that ``moment`` (aware) falls in, read in ``tz``."""
        local = moment.astimezone(ZoneInfo(tz))
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> BillingMonth:
        return BillingMonth(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> BillingMonth:
        return BillingMonth(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


POLICY_START = BillingMonth(2023, 4)
# April 2023 is the transition month: clients could clean their lists until 15 April, so only
# logins from 16 April 2023 00:00 local count that month (contract section 2).
TRANSITION_MONTH = POLICY_START
TRANSITION_LOGINS_FROM = date(2023, 4, 16)


@dataclass(frozen=True)
class BillingWindow:
    """The UTC instants that bound one client's billing month: ``[start, end)``.

    ``login_start`` is where logins start to count: ``start``, except in the transition month.
    """

    month: BillingMonth
    timezone: str
    start: datetime
    end: datetime
    login_start: datetime


def zone(tz_name: str) -> ZoneInfo:
    """The IANA zone, or a ClientTimezoneError naming the bad value."""
    try:
        return ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ClientTimezoneError(f"unknown timezone {tz_name!r} (expected an IANA name such as Asia/Dhaka)") from exc


def check_policy_applies(month: BillingMonth) -> None:
    if month < POLICY_START:
        raise PolicyError(
            f"billing month {month} is before the billing policy started: the policy bills "
            f"from {POLICY_START} (billed 1 May 2023) on; earlier months are not billed by this pipeline"
        )


def _local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)


def billing_window(month: BillingMonth, tz_name: str) -> BillingWindow:
    """The window of ``month`` for a client in ``tz_name``; refuses months before the policy."""
    check_policy_applies(month)
    tz = zone(tz_name)
    start = _local_midnight_utc(month.first_day, tz)
    end = _local_midnight_utc(month.next().first_day, tz)
    login_start = _local_midnight_utc(TRANSITION_LOGINS_FROM, tz) if month == TRANSITION_MONTH else start
    return BillingWindow(month=month, timezone=tz_name, start=start, end=end, login_start=login_start)
