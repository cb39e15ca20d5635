"""The demo DMS database: deterministic, seeded, and conforming to the contract's schema.

``python -m include.dms_billing.demo.demo_dms --url sqlite:///data/demo_dms.sqlite [--seed 42]``
(``--help`` for the scale options). The same seed and options give identical rows.

Five named distributors (MEGHNA, PADMA, JAMUNA, TEESTA in Asia/Kolkata, KARNAPHULI), then
C006 (Europe/London), C007 (Asia/Kathmandu) and further Asia/Dhaka clients. Users are created
from January 2022 to December 2023; some are deleted, some toggle between active and inactive
in 2023, some (migrated) have no status history. Logins run over the given months, in local
working hours, only while a user is active and not deleted.

Every client's first users are the planted cases of contract section 2 (``PLANTED_CASES``,
in that order; ``planted_user_id`` gives their ids), placed at the client's own local
midnights. Client ``n`` owns user ids ``(n - 1) * users_per_client + 1`` onwards.

Rows are generated client by client and streamed into the database, so memory depends on the
users of one client, never on the number of logins.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import sqlalchemy as sa
from faker import Faker
from tqdm import tqdm

from include.dms_billing.core.billing_month import TRANSITION_LOGINS_FROM, BillingMonth, zone
from include.dms_billing.demo.source_db import SOURCE_COLUMNS, bulk_load, create_source_indexes, create_source_schema

DEFAULT_URL = "sqlite:///data/demo_dms.sqlite"
DEFAULT_MONTHS = tuple(BillingMonth(2023, month) for month in range(3, 13))
DEFAULT_USERS_PER_CLIENT = 800

ACTIVE, INACTIVE = "active", "inactive"
SECOND, DAY = timedelta(seconds=1), timedelta(days=1)
USERS_FROM, YEAR_2023, DATA_END = datetime(2022, 1, 1), datetime(2023, 1, 1), datetime(2024, 1, 1)  # UTC
FOREVER = datetime.max

History = tuple[tuple[str, datetime], ...]  # (status, changed_at), in id order
Span = tuple[datetime, datetime]  # [from, to), naive UTC

# code, name, domain (billing@domain is the correspondence address), timezone
NAMED_CLIENTS = (
    ("MEGHNA", "Meghna Foods Ltd", "meghna-foods.example", "Asia/Dhaka"),
    ("PADMA", "Padma Distribution Ltd", "padma-distribution.example", "Asia/Dhaka"),
    ("JAMUNA", "Jamuna Consumer Products Ltd", "jamuna-consumer.example", "Asia/Dhaka"),
    ("TEESTA", "Teesta Agro Traders Pvt Ltd", "teesta-agro.example", "Asia/Kolkata"),
    ("KARNAPHULI", "Karnaphuli Trading Co", "karnaphuli-trading.example", "Asia/Dhaka"),
)
EXTRA_CLIENT_TIMEZONES = {6: "Europe/London", 7: "Asia/Kathmandu"}  # by client id; the rest Asia/Dhaka
EXTRA_CLIENT_PLACES = ("Surma", "Rupsha", "Buriganga", "Titas", "Madhumati", "Kushiyara", "Dhaleshwari")
EXTRA_CLIENT_KINDS = ("Traders", "Distribution Ltd", "Enterprise", "Foods Ltd", "Agro Industries")
ACCOUNT_MANAGERS = ("farhana.akter@sokrio.example", "tanvir.hasan@sokrio.example", "nusrat.j@sokrio.example")
# Mobile numbers: prefix, one of the operator digits, then 8 digits.
PHONE_FORMATS = {
    "Asia/Kolkata": ("+919", "6789"), "Europe/London": ("+447", "456789"), "Asia/Kathmandu": ("+9779", "78"),
}
BANGLADESH_PHONE = ("+8801", "3456789")

ROLE_WEIGHTS = {"SR": 55, "DSR": 25, "Distributor": 8, "Supervisor": 8, "Admin": 4}
BENGALI_SCRIPT_SHARE = 0.12  # full names written in Bengali script
NO_EMAIL_SHARE = 0.15
CREATED_IN_2022_SHARE = 0.7
DELETED_SHARE = 0.07
NO_HISTORY_SHARE = 0.04  # of users created before 2023: migrated without status history
CURRENT_ACTIVE_SHARE = 0.85  # users.status of the users without history
TOGGLE_WEIGHTS = (70, 15, 10, 5)  # 0, 1, 2 or 3 status changes in 2023
TIE_SHARE = 0.03  # a change written twice in the same second, the later row deciding
# Login habits: (share of users, chance of using the app in a month, how much they use it then):
# heavy, light, occasional and dormant users.
LOGIN_HABITS = ((0.55, 1.0, 1.3), (0.15, 1.0, 0.5), (0.20, 0.5, 1.0), (0.10, 0.0, 0.0))
WORKDAY_START, WORKDAY_SECONDS = 7 * 3600, 16 * 3600  # logins between 07:00 and 23:00 local
APP_SHARE = 0.8  # logins from the app; the rest from the web
CREATED_BY = "system"


@dataclass(frozen=True)
class DemoClient:
    id: int
    code: str
    name: str
    domain: str
    timezone: str
    account_manager_email: str
    created_at: datetime

    @property
    def admin(self) -> str:
        """Who changes this client's users' status."""
        return f"{self.code.lower()}.admin"

    def row(self) -> tuple:
        return (self.id, self.code, self.name, f"billing@{self.domain}", self.account_manager_email,
                self.timezone, self.created_at)


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


@dataclass(frozen=True)
class DemoUser:
    id: int
    client: DemoClient
    username: str
    full_name: str
    email: str | None
    phone: str
    role: str
    life: Lifecycle


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


def first_user_id(client_id: int, users_per_client: int) -> int:
    return (client_id - 1) * users_per_client + 1


def planted_user_id(client_id: int, case: str, users_per_client: int = DEFAULT_USERS_PER_CLIENT) -> int:
    """The id of the user holding planted ``case`` in client ``client_id``."""
    return first_user_id(client_id, users_per_client) + PLANTED_CASES.index(case)


def slug(text: str, sep: str = "-") -> str:
    return re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)


def _instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole second in ``[start, end)``."""
    return start + timedelta(seconds=int(rng.random() * (end - start).total_seconds()))


def _other(status: str) -> str:
    return INACTIVE if status == ACTIVE else ACTIVE


def demo_clients(seed: int, clients: int) -> list[DemoClient]:
    rng = random.Random(f"{seed}:clients")
    return [_demo_client(rng, number) for number in range(1, clients + 1)]


def _demo_client(rng: random.Random, number: int) -> DemoClient:
    if number <= len(NAMED_CLIENTS):
        code, name, domain, tz = NAMED_CLIENTS[number - 1]
    else:
        code, name = f"C{number:03d}", f"{rng.choice(EXTRA_CLIENT_PLACES)} {rng.choice(EXTRA_CLIENT_KINDS)}"
        domain, tz = f"{slug(name)}-{number:03d}.example", EXTRA_CLIENT_TIMEZONES.get(number, "Asia/Dhaka")
    created = _instant(rng, datetime(2021, 1, 1), datetime(2021, 12, 1))
    manager = ACCOUNT_MANAGERS[number % len(ACCOUNT_MANAGERS)]
    return DemoClient(number, code, name, domain, tz, manager, created)


def random_history(rng: random.Random, created: datetime, until: datetime) -> History:
    """Active from creation, then a few toggles in 2023 before ``until``; sometimes a same-second tie."""
    history = [(ACTIVE, created)]
    start = max(created, YEAR_2023)
    toggles = rng.choices(range(len(TOGGLE_WEIGHTS)), TOGGLE_WEIGHTS)[0] if start < until else 0
    status = ACTIVE
    for changed_at in sorted(_instant(rng, start, until) for _ in range(toggles)):
        status = _other(status)
        if rng.random() < TIE_SHARE:
            history.append((_other(status), changed_at))  # same second, lower id: overridden
        history.append((status, changed_at))
    return tuple(history)


def random_lifecycle(rng: random.Random) -> Lifecycle:
    in_2022 = rng.random() < CREATED_IN_2022_SHARE
    created = _instant(rng, USERS_FROM, YEAR_2023) if in_2022 else _instant(rng, YEAR_2023, DATA_END)
    deleted = None
    if rng.random() < DELETED_SHARE and created + DAY < DATA_END:
        deleted = _instant(rng, created + DAY, DATA_END)
    migrated = created < YEAR_2023 and rng.random() < NO_HISTORY_SHARE
    history = () if migrated else random_history(rng, created, deleted or DATA_END)
    _, chance, factor = rng.choices(LOGIN_HABITS, [habit[0] for habit in LOGIN_HABITS])[0]
    current = ACTIVE if rng.random() < CURRENT_ACTIVE_SHARE else INACTIVE
    return Lifecycle(created, history, deleted, current, login_chance=chance, login_factor=factor)


def _fakers() -> tuple[Faker, Faker]:
    """Latin-script (en_IN) and Bengali-script (bn_BD) name generators."""
    return Faker("en_IN"), Faker("bn_BD")


def demo_user(
    rng: random.Random, fakers: tuple[Faker, Faker], client: DemoClient, user_id: int, life: Lifecycle
) -> DemoUser:
    """A plausible identity; the username is unique per client through its id suffix."""
    latin, bengali = fakers
    role = rng.choices(list(ROLE_WEIGHTS), list(ROLE_WEIGHTS.values()))[0]
    if rng.random() < BENGALI_SCRIPT_SHARE:
        full_name, handle = bengali.name(), slug(role, ".")
    else:
        full_name = f"{latin.first_name()} {latin.last_name()}"
        handle = slug(full_name, ".")
    username = f"{handle}.{user_id}"
    email = None if rng.random() < NO_EMAIL_SHARE else f"{username}@{client.domain}"
    prefix, operators = PHONE_FORMATS.get(client.timezone, BANGLADESH_PHONE)
    phone = f"{prefix}{rng.choice(operators)}{rng.randrange(10**8):08d}"
    return DemoUser(user_id, client, username, full_name, email, phone, role, life)


def client_users(
    seed: int, client: DemoClient, users_per_client: int, fakers: tuple[Faker, Faker]
) -> list[DemoUser]:
    """The client's users: the planted cases first, then random ones."""
    rng = random.Random(f"{seed}:{client.code}:users")
    for fake in fakers:
        fake.seed_instance(f"{seed}:{client.code}")
    lives = [*planted_lifecycles(client.timezone).values()]
    lives += [random_lifecycle(rng) for _ in range(users_per_client - len(lives))]
    first = first_user_id(client.id, users_per_client)
    return [demo_user(rng, fakers, client, first + i, life) for i, life in enumerate(lives)]


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


def user_rows(users: Iterable[DemoUser]) -> Iterator[tuple]:
    for u in users:
        yield (u.id, u.client.id, u.username, u.full_name, u.email, u.phone, u.role, u.life.status,
               u.life.created_at, u.life.deleted_at)


def status_change_rows(users: Iterable[DemoUser]) -> Iterator[tuple]:
    """``user_status_changes`` rows without id: the first at creation, by the system."""
    for user in users:
        for i, (status, changed_at) in enumerate(user.life.history):
            yield (user.id, status, changed_at, CREATED_BY if i == 0 else user.client.admin)


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


def _numbered(rows: Iterable[tuple], ids: Iterator[int]) -> Iterator[tuple]:
    """Prefix each row with the next id of a sequence shared across clients."""
    return ((next(ids), *row) for row in rows)


def _make_sqlite_dir(url: sa.URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def generate(
    url: str | sa.URL,
    *,
    seed: int = 42,
    clients: int = 5,
    users_per_client: int = DEFAULT_USERS_PER_CLIENT,
    logins_per_user_month: float = 12,
    months: Sequence[BillingMonth] = DEFAULT_MONTHS,
    month_logins: Mapping[BillingMonth, float] | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """(Re)create the demo DMS at ``url``; returns the rows written per table.

    ``months`` are the months with generated login traffic (the planted cases' logins are
    always written). ``logins_per_user_month`` times the number of users is about the logins
    of a month: the users who can log in that month make up for those who cannot.
    ``month_logins`` (month -> logins per user) replaces both, for months of different traffic.
    Indexes are built after the load.
    """
    if users_per_client < len(PLANTED_CASES):
        raise ValueError(f"users_per_client must be at least {len(PLANTED_CASES)} (the planted cases)")
    engine_url = sa.make_url(url)
    _make_sqlite_dir(engine_url)
    engine = sa.create_engine(engine_url)
    try:
        means = dict(month_logins) if month_logins is not None else dict.fromkeys(months, logins_per_user_month)
        create_source_schema(engine, indexes=False)
        all_clients = demo_clients(seed, clients)
        counts = dict.fromkeys(SOURCE_COLUMNS, 0)
        client_rows = [client.row() for client in all_clients]
        counts["clients"] = bulk_load(engine, "clients", SOURCE_COLUMNS["clients"], client_rows)
        change_ids, login_ids, fakers = count(1), count(1), _fakers()
        for client in tqdm(all_clients, desc="clients", unit="client", disable=not progress):
            users = client_users(seed, client, users_per_client, fakers)
            logins_rng = random.Random(f"{seed}:{client.code}:logins")
            for table, rows in (
                ("users", user_rows(users)),
                ("user_status_changes", _numbered(status_change_rows(users), change_ids)),
                ("user_logins",
                 _numbered(login_rows(logins_rng, users, means), login_ids)),
            ):
                counts[table] += bulk_load(engine, table, SOURCE_COLUMNS[table], rows)
        create_source_indexes(engine)
        return counts
    finally:
        engine.dispose()


def parse_months(text: str) -> tuple[BillingMonth, ...]:
    """``YYYY-MM`` or ``YYYY-MM..YYYY-MM`` (inclusive)."""
    first, _, last = text.partition("..")
    month, stop = BillingMonth.parse(first), BillingMonth.parse(last or first)
    months = []
    while month <= stop:
        months.append(month)
        month = month.next()
    return tuple(months)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="SQLAlchemy URL (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--users-per-client", type=int, default=DEFAULT_USERS_PER_CLIENT)
    parser.add_argument("--logins-per-user-month", type=float, default=12,
                        help="a month's logins are about this times the number of users")
    parser.add_argument("--months", type=parse_months, default=DEFAULT_MONTHS,
                        help="months with login traffic: YYYY-MM or FROM..TO (default 2023-03..2023-12)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = generate(
        args.url, seed=args.seed, clients=args.clients, users_per_client=args.users_per_client,
        logins_per_user_month=args.logins_per_user_month, months=args.months, progress=True,
    )
    print(f"Demo DMS written to {sa.make_url(args.url).render_as_string(hide_password=True)} "
          f"in {time.perf_counter() - started:.1f}s")
    for table, rows in counts.items():
        print(f"  {table:<20} {rows:>12,}")


if __name__ == "__main__":
    main()
