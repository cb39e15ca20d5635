"""The demo DMS's generated logins: in local working hours, only while a user is active and
not deleted, scaled so that a client gets about the asked number of logins per user a month."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.demo.lifecycles import ACTIVE, DAY, FOREVER, Lifecycle, Span, local_month
from include.dms_billing.demo.people import DemoUser

WORKDAY_START, WORKDAY_SECONDS = 7 * 3600, 16 * 3600  # logins between 07:00 and 23:00 local
APP_SHARE = 0.8  # logins from the app; the rest from the web


def active_spans(life: Lifecycle) -> list[Span]:
    """The periods ``[from, to)`` in which the user is active and not deleted, so may log in."""
    end = life.deleted_at or FOREVER
    changes = life.history or ((life.status_without_history, life.created_at),)
    stops = [changed_at for _, changed_at in changes[1:]] + [end]
    return [(start, min(stop, end)) for (status, start), stop in zip(changes, stops, strict=True)
            if status == ACTIVE and start < min(stop, end)]


def clip(spans: list[Span], window: Span) -> list[Span]:
    """The parts of ``spans`` inside ``window``."""
    start, end = window
    return [(max(s, start), min(e, end)) for s, e in spans if s < end and e > start]


def login_weight(life: Lifecycle, spans_in_month: list[Span], window: Span) -> float:
    """The user's expected share of the month's logins: habit times the part of the month active."""
    active = sum((e - s for s, e in spans_in_month), timedelta())
    return life.login_chance * life.login_factor * (active / (window[1] - window[0]))


def month_traffic(
    rng: random.Random, life: Lifecycle, spans_in_month: list[Span], window: Span, logins_per_month: float
) -> list[datetime]:
    """One user's generated logins in one local month: working hours, only while active."""
    if rng.random() >= life.login_chance or not spans_in_month:
        return []
    start, end = window
    expected = logins_per_month * life.login_factor
    days = round((end - start) / DAY)
    logins = max(0, round(rng.gauss(expected, math.sqrt(expected))))
    times = (start + timedelta(days=int(rng.random() * days), seconds=_working_second(rng))
             for _ in range(logins))
    return sorted(t for t in times if any(s <= t < e for s, e in spans_in_month))


def _working_second(rng: random.Random) -> int:
    """A second of the local day in working hours."""
    return WORKDAY_START + int(rng.random() * WORKDAY_SECONDS)


def login_rows(
    rng: random.Random, users: Sequence[DemoUser], means: Mapping[BillingMonth, float]
) -> Iterator[tuple]:
    """``user_logins`` rows without id: the scripted logins, then the traffic month by month.

    Each month's traffic is scaled so that the client gets about ``means[month]`` logins per
    user, the users who can log in that month (created, active, not deleted) making up for the
    others.
    """
    spans = {user.id: active_spans(user.life) for user in users}
    for user in users:
        for logged_in_at in user.life.logins:
            yield (user.id, logged_in_at, _channel(rng))
    for month, mean in means.items():
        window = local_month(month, users[0].client.timezone)
        in_month = {user.id: clip(spans[user.id], window) for user in users}
        weight = sum(login_weight(user.life, in_month[user.id], window) for user in users)
        logins_per_month = mean * len(users) / weight if weight else 0.0
        for user in users:
            for logged_in_at in month_traffic(rng, user.life, in_month[user.id], window, logins_per_month):
                yield (user.id, logged_in_at, _channel(rng))


def _channel(rng: random.Random) -> str:
    return "app" if rng.random() < APP_SHARE else "web"
