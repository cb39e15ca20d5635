"""The demo clients and users: named distributors and further clients, plausible identities,
and their ``clients``, ``users`` and ``user_status_changes`` rows.

Client ``n`` owns user ids ``(n - 1) * users_per_client + 1`` onwards, its planted cases first
(``planted_user_id``); with clients of different sizes, each client's ids follow the previous one's.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from faker import Faker

from include.dms_billing.demo.lifecycles import (
    PLANTED_CASES,
    Lifecycle,
    planted_lifecycles,
    random_instant,
    random_lifecycle,
)

DEFAULT_USERS_PER_CLIENT = 800

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
class DemoUser:
    id: int
    client: DemoClient
    username: str
    full_name: str
    email: str | None
    phone: str
    role: str
    life: Lifecycle


def first_user_id(client_id: int, users_per_client: int) -> int:
    return (client_id - 1) * users_per_client + 1


def planted_user_id(client_id: int, case: str, users_per_client: int = DEFAULT_USERS_PER_CLIENT) -> int:
    """The id of the user holding planted ``case`` in client ``client_id``."""
    return first_user_id(client_id, users_per_client) + PLANTED_CASES.index(case)


def slug(text: str, sep: str = "-") -> str:
    return re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)


def demo_clients(seed: int, clients: int) -> list[DemoClient]:
    rng = random.Random(f"{seed}:clients")
    return [_demo_client(rng, number) for number in range(1, clients + 1)]


def _demo_client(rng: random.Random, number: int) -> DemoClient:
    if number <= len(NAMED_CLIENTS):
        code, name, domain, tz = NAMED_CLIENTS[number - 1]
    else:
        code, name = f"C{number:03d}", f"{rng.choice(EXTRA_CLIENT_PLACES)} {rng.choice(EXTRA_CLIENT_KINDS)}"
        domain, tz = f"{slug(name)}-{number:03d}.example", EXTRA_CLIENT_TIMEZONES.get(number, "Asia/Dhaka")
    created = random_instant(rng, datetime(2021, 1, 1), datetime(2021, 12, 1))
    manager = ACCOUNT_MANAGERS[number % len(ACCOUNT_MANAGERS)]
    return DemoClient(number, code, name, domain, tz, manager, created)


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
    seed: int, client: DemoClient, size: int, first: int, fakers: tuple[Faker, Faker]
) -> list[DemoUser]:
    """The client's ``size`` users, ids from ``first``: the planted cases first, then random ones."""
    rng = random.Random(f"{seed}:{client.code}:users")
    for fake in fakers:
        fake.seed_instance(f"{seed}:{client.code}")
    lives = [*planted_lifecycles(client.timezone).values()]
    lives += [random_lifecycle(rng) for _ in range(size - len(lives))]
    return [demo_user(rng, fakers, client, first + i, life) for i, life in enumerate(lives)]


def user_rows(users: Iterable[DemoUser]) -> Iterator[tuple]:
    for u in users:
        yield (u.id, u.client.id, u.username, u.full_name, u.email, u.phone, u.role, u.life.status,
               u.life.created_at, u.life.deleted_at)


def status_change_rows(users: Iterable[DemoUser]) -> Iterator[tuple]:
    """``user_status_changes`` rows without id: the first at creation, by the system."""
    for user in users:
        for i, (status, changed_at) in enumerate(user.life.history):
            yield (user.id, status, changed_at, CREATED_BY if i == 0 else user.client.admin)
