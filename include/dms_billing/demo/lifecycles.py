"""The demo users' lifecycles: the planted cases of contract section 2 and random ones.

A lifecycle is what happens to one account, in naive UTC as the DMS stores it: creation, status
history, deletion, and either scripted logins (the planted cases, at the client's own local
boundaries) or a login habit for the generated traffic (``demo/traffic.py``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from include.dms_billing.core.billing_month import TRANSITION_LOGINS_FROM, BillingMonth, zone

ACTIVE, INACTIVE = "active", "inactive"
SECOND, DAY = timedelta(seconds=1), timedelta(days=1)
USERS_FROM, YEAR_2023, DATA_END = datetime(2022, 1, 1), datetime(2023, 1, 1), datetime(2024, 1, 1)  # UTC
FOREVER = datetime.max

History = tuple[tuple[str, datetime], ...]  # (status, changed_at), in id order
Span = tuple[datetime, datetime]  # [from, to), naive UTC

CREATED_IN_2022_SHARE = 0.7
DELETED_SHARE = 0.07
NO_HISTORY_SHARE = 0.04  # of users created before 2023: migrated without status history
CURRENT_ACTIVE_SHARE = 0.85  # users.status of the users without history
TOGGLE_WEIGHTS = (70, 15, 10, 5)  # 0, 1, 2 or 3 status changes in 2023
TIE_SHARE = 0.03  # a change written twice in the same second, the later row deciding
# Login habits: (share of users, chance of using the app in a month, how much they use it then):
# heavy, light, occasional and dormant users.
LOGIN_HABITS = ((0.55, 1.0, 1.3), (0.15, 1.0, 0.5), (0.20, 0.5, 1.0), (0.10, 0.0, 0.0))


@dataclass(frozen=True)
class Lifecycle:
    """What happens to one account: creation, status history, deletion, logins. Naive UTC."""

    created_at: datetime
    history: History = ()
    deleted_at: datetime | None = None
    status_without_history: str = ACTIVE  # users.status when there is no history
    logins: tuple[datetime, ...] = ()  # scripted logins (planted cases)
    login_chance: float = 0.0  # chance of using the app in a month (generated traffic)
    login_factor: float = 0.0  # how much the user uses the app in such a month, relative to others

    @property
    def status(self) -> str:
        """``users.status``: inactive once deleted, else the latest status in the history."""
        if self.deleted_at is not None:
            return INACTIVE
        return self.history[-1][0] if self.history else self.status_without_history


def local_time(tz: str, day: date, hour: int = 0) -> datetime:
    """A wall time in ``tz`` as the DMS stores it: naive UTC."""
    local = datetime(day.year, day.month, day.day, hour, tzinfo=zone(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def local_month(month: BillingMonth, tz: str) -> Span:
    """The month's local midnights ``[start, end)`` in ``tz``, as naive UTC."""
    return local_time(tz, month.first_day), local_time(tz, month.next().first_day)


def planted_lifecycles(tz: str) -> dict[str, Lifecycle]:
    """The edge cases of contract section 2, at a client's local boundaries (all 2023 unless said)."""

    def at(month: int, day: int, hour: int = 10) -> datetime:
        return local_time(tz, date(2023, month, day), hour)

    june, july, october = at(6, 1, 0), at(7, 1, 0), at(10, 1, 0)
    transition = local_time(tz, TRANSITION_LOGINS_FROM)
    old, switched_off, tie = datetime(2022, 6, 1, 4, 30), datetime(2022, 12, 1, 5), at(8, 10, 12)
    active = ((ACTIVE, old),)
    inactive = (*active, (INACTIVE, switched_off))
    return {
        "active_never_logs_in": Lifecycle(old, active),
        "inactive_no_logins": Lifecycle(old, inactive),
        # Inactive users logging in exactly at / one second before local midnight of 1 June.
        "login_at_june_start": Lifecycle(old, inactive, logins=(june,)),
        "login_before_june_start": Lifecycle(old, inactive, logins=(june - SECOND,)),
        # April 2023: only logins from 16 April 00:00 local count.
        "login_at_transition_start": Lifecycle(old, inactive, logins=(transition,)),
        "login_before_transition_start": Lifecycle(old, inactive, logins=(transition - SECOND,)),
        "transition_early_logins_only": Lifecycle(old, inactive, logins=(at(4, 3), at(4, 8), at(4, 15))),
        "transition_late_logins_only": Lifecycle(old, inactive, logins=(at(4, 17), at(4, 22), at(4, 29))),
        "active_early_april_logins_only": Lifecycle(old, active, logins=(at(4, 2), at(4, 9), at(4, 14))),
        # Logged in during July, then deactivated on 15 July.
        "deactivated_after_login": Lifecycle(
            old, (*active, (INACTIVE, at(7, 15, 12))), logins=(at(7, 3), at(7, 10))),
        # Two changes in the same second on 10 August: the higher id wins.
        "tie_active_wins": Lifecycle(old, (*active, (INACTIVE, tie), (ACTIVE, tie))),
        "tie_inactive_wins": Lifecycle(old, (*active, (ACTIVE, tie), (INACTIVE, tie))),
        # No status history at all: users.status is all there is.
        "no_history_active": Lifecycle(old),
        "no_history_inactive_with_login": Lifecycle(
            old, status_without_history=INACTIVE, logins=(at(5, 15),)),
        # Deleted on 20 September after logging in; history still says active.
        "deleted_mid_month": Lifecycle(old, active, deleted_at=at(9, 20), logins=(at(9, 5), at(9, 18))),
        "deleted_at_october_start": Lifecycle(old, active, deleted_at=october),
        "deactivated_at_july_start": Lifecycle(old, (*active, (INACTIVE, july))),
        "created_in_may": Lifecycle(at(5, 20), ((ACTIVE, at(5, 20)),), logins=(at(5, 21), at(6, 2))),
        "created_at_june_start": Lifecycle(june, ((ACTIVE, june),), logins=(june,)),
        "created_in_december": Lifecycle(at(12, 10), ((ACTIVE, at(12, 10)),)),
        "reactivated_in_august": Lifecycle(old, (*active, (INACTIVE, at(3, 10)), (ACTIVE, at(8, 20)))),
    }


PLANTED_CASES: tuple[str, ...] = tuple(planted_lifecycles("Asia/Dhaka"))


def random_instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole second in ``[start, end)``."""
    return start + timedelta(seconds=int(rng.random() * (end - start).total_seconds()))


def _other(status: str) -> str:
    return INACTIVE if status == ACTIVE else ACTIVE


def random_history(rng: random.Random, created: datetime, until: datetime) -> History:
    """Active from creation, then a few toggles in 2023 before ``until``; sometimes a same-second tie."""
    history = [(ACTIVE, created)]
    start = max(created, YEAR_2023)
    toggles = rng.choices(range(len(TOGGLE_WEIGHTS)), TOGGLE_WEIGHTS)[0] if start < until else 0
    status = ACTIVE
    for changed_at in sorted(random_instant(rng, start, until) for _ in range(toggles)):
        status = _other(status)
        if rng.random() < TIE_SHARE:
            history.append((_other(status), changed_at))  # same second, lower id: overridden
        history.append((status, changed_at))
    return tuple(history)


def random_lifecycle(rng: random.Random) -> Lifecycle:
    in_2022 = rng.random() < CREATED_IN_2022_SHARE
    created = (random_instant(rng, USERS_FROM, YEAR_2023) if in_2022
               else random_instant(rng, YEAR_2023, DATA_END))
    deleted = None
    if rng.random() < DELETED_SHARE and created + DAY < DATA_END:
        deleted = random_instant(rng, created + DAY, DATA_END)
    migrated = created < YEAR_2023 and rng.random() < NO_HISTORY_SHARE
    history = () if migrated else random_history(rng, created, deleted or DATA_END)
    _, chance, factor = rng.choices(LOGIN_HABITS, [habit[0] for habit in LOGIN_HABITS])[0]
    current = ACTIVE if rng.random() < CURRENT_ACTIVE_SHARE else INACTIVE
    return Lifecycle(created, history, deleted, current, login_chance=chance, login_factor=factor)
